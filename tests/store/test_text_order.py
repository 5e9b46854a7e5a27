"""`store.text_order.sort_indices` gives Arrow's order of texts: binary, equal texts in the order given."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.store import text_order
from songscope.store.text_order import sort_indices

# Texts that tie on their first eight bytes, end inside them, hold a zero byte or are not ASCII.
_TEXTS = st.lists(st.sampled_from(["", "\x00", "a", "a\x00", "ab", "abcdefgh", "abcdefghi", "abcdefgh\x00", "abcdefgg\xff",
                                   "zz", "é", "éé", "\U0001f3b5", "abcdefghij"]) | st.text(max_size=12), max_size=40)


@settings(max_examples=300, deadline=None)
@given(texts=_TEXTS, large=st.booleans(), skip=st.integers(0, 3), leave_to_arrow=st.booleans())
def test_texts_are_ordered_as_arrow_orders_them(texts, large, skip, leave_to_arrow):
    """By their words and Arrow's sort of the ties (`MOST_TIED` = 1: never all left to Arrow),
    or left to Arrow where most tie."""
    array = pa.array(["x"] * skip + texts, type=pa.large_string() if large else pa.string()).slice(skip)  # an offset into the buffers
    expected = pc.sort_indices(array).to_numpy()
    with pytest.MonkeyPatch.context() as patch:
        if not leave_to_arrow:
            patch.setattr(text_order, "MOST_TIED", 1.0)
        np.testing.assert_array_equal(text_order.sort_indices(array), expected)


def test_ids_that_tie_on_their_first_bytes_are_ordered_by_the_rest(monkeypatch):
    ids = pa.array([f"spotify:track:{n:06d}" for n in np.random.default_rng(0).permutation(5_000)])  # all tie on 8 bytes
    assert ids.take(pa.array(sort_indices(ids))).to_pylist() == sorted(ids.to_pylist())  # left to Arrow
    monkeypatch.setattr(text_order, "MOST_TIED", 1.0)
    assert ids.take(pa.array(sort_indices(ids))).to_pylist() == sorted(ids.to_pylist())  # every run of ties sorted by Arrow


def test_missing_values_and_other_types_are_ordered_by_arrow():
    for values in (pa.array(["b", None, "a", None]), pa.array([3, 1, 2]), pa.array(["b", "a"], type=pa.binary())):
        np.testing.assert_array_equal(sort_indices(values), pc.sort_indices(values).to_numpy())
