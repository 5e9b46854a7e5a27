"""The validator's reading of spelled-out values (`ingest.validate._read_spelled`), in Arrow's
kernels, against a plain Python reading of each value by the documented rules."""

from __future__ import annotations

import re

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope import schema
from songscope.ingest.validate import _read_spelled

_BEATS = re.compile(r"^([0-9]{1,2})\s*(?:/\s*4|-apr)$")


def reference(name: str, value: str | None) -> str | None:
    """The code a spelled value stands for, as text; None where it spells nothing."""
    if value is None:
        return None
    spelled = value.strip().lower().replace("\u266f", "#").replace("\u266d", "b")
    if name == "time_signature":
        match = _BEATS.match(spelled)
        return str(int(match.group(1))) if match else None
    code = (schema.NOTE_NAMES if name == "key" else schema.MODE_NAMES).get(spelled)
    return None if code is None else str(code)


SPELLINGS = {
    "key": ["C", "c#", "Db", "B\u266d", "F\u266f", " e ", "H", "Cb", "E#", "11", "3", "", "do"],
    "mode": ["Major", "minor", " MAJOR", "Minor ", "1", "0", "maj", ""],
    "time_signature": ["4/4", "3 / 4", "4-Apr", "04-Apr", "12/4", "123/4", "4/8", "5", "4-May", " 7/4 ", ""],
}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(SPELLINGS)))
def test_spelled_values_read_as_their_codes_and_the_rest_as_written(data, name):
    cells = data.draw(st.lists(st.one_of(st.none(), st.sampled_from(SPELLINGS[name]), st.text(max_size=6)), max_size=40))
    chunks = data.draw(st.integers(1, 3))
    cut = [cells[i * len(cells) // chunks:(i + 1) * len(cells) // chunks] for i in range(chunks)]
    column = pa.chunked_array([pa.array(part, pa.string()) for part in cut], type=pa.string())
    read, spelled = _read_spelled(name, column)
    expected = [reference(name, cell) for cell in cells]
    assert spelled.tolist() == [code is not None for code in expected]
    assert read.to_pylist() == [cell if code is None else code for cell, code in zip(cells, expected)]


def test_a_numeric_column_or_one_without_spellings_is_left_as_it_is():
    numbers = pa.chunked_array([pa.array([4, 3, None])])
    read, spelled = _read_spelled("time_signature", numbers)
    assert read is numbers and not spelled.any()
    text = pa.chunked_array([pa.array(["120.5", "x"])])
    read, spelled = _read_spelled("tempo", text)
    assert read is text and not spelled.any()
