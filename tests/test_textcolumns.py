"""Arrow-backed text: a column in chunks given as one array, and its UTF-8 buffers as arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.textcolumns import TEXT, arrow_strings, utf8_buffers, words_at

_TEXTS = st.lists(st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)), max_size=10)


def test_a_column_in_chunks_is_given_as_one_array():
    column = pd.concat([pd.Series(["a", None], dtype=TEXT), pd.Series(["é"], dtype=TEXT)], ignore_index=True)
    assert column.array._pa_array.num_chunks == 2
    found = arrow_strings(column)
    assert isinstance(found, pa.Array) and found.to_pylist() == ["a", None, "é"]
    array = pa.array(["x"])
    assert arrow_strings(array) is array


@settings(max_examples=200, deadline=None)
@given(_TEXTS, _TEXTS, st.integers(0, 3))
def test_utf8_buffers_hold_each_string_s_bytes_where_its_offsets_say(first, second, skip):
    """In chunks, sliced, as `string` or `large_string`: each string's bytes between its offsets
    (a missing one empty), the offsets from 0."""
    values = pa.chunked_array([pa.array(first, pa.string()), pa.array(second, pa.string())])[skip:]
    for given_as in (values, values.cast(pa.large_string()), pd.Series(values.to_pylist(), dtype=TEXT)):
        data, offsets = utf8_buffers(given_as)
        assert offsets[0] == 0 and len(offsets) == len(values) + 1 and len(data) == offsets[-1]
        found = [data[offsets[i] : offsets[i + 1]].tobytes().decode() for i in range(len(values))]
        assert found == ["" if v is None else v for v in values.to_pylist()]


def test_words_at_reads_eight_bytes_from_every_position_in_either_order():
    data = np.frombuffer(b"abcdefghij", dtype=np.uint8)
    assert words_at(data, ">")[0] == int.from_bytes(b"abcdefgh", "big")
    assert words_at(data, "<")[2] == int.from_bytes(b"cdefghij", "little")
    assert words_at(data, ">")[7] == int.from_bytes(b"hij\0\0\0\0\0", "big")  # zeros past the end
    assert len(words_at(data, "<")) == len(data) + 1 and words_at(data, "<")[len(data)] == 0
