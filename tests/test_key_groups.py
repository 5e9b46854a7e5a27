"""The kernels of cleaning's rules: groups found by sorting, as a hash table finds them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope import key_groups
from songscope.key_groups import is_repeated, keep_among, merged_per_group, preference_order, repeated_values


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.integers(-3, 3) | st.integers(-(2**63), 2**63 - 1), max_size=60), data=st.data())
def test_groups_are_found_by_sorting_as_a_hash_table_finds_them(keys, data):
    """`is_repeated` and `merged_per_group` (which groups and ranks only the rows whose key repeats)
    agree with counting every key in a hash table, and grouping every row by its rank among all
    rows read (popularity with ties, rows a subset of those read, or all of them)."""
    values = np.array(keys, dtype=np.int64)
    codes, _ = pd.factorize(values)
    np.testing.assert_array_equal(is_repeated(values), np.bincount(codes, minlength=1)[codes] > 1 if len(values) else np.zeros(0, bool))
    np.testing.assert_array_equal(is_repeated(values.view(np.uint64)), is_repeated(values))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(key_groups, "LOOKUP_SLICE", 7)
        np.testing.assert_array_equal(is_repeated(values), np.bincount(codes, minlength=1)[codes] > 1 if len(values) else np.zeros(0, bool))
    gaps = data.draw(st.lists(st.integers(1, 3), min_size=len(values), max_size=len(values)), label="gaps")
    rows = np.cumsum(np.array(gaps, dtype=np.int64)) if len(values) else np.empty(0, dtype=np.int64)
    popularity = np.array(data.draw(st.lists(st.sampled_from([-1.0, 0.0, 5.0, 50.0]), min_size=int(rows.max(initial=0)) + 1,
                                             max_size=int(rows.max(initial=0)) + 1), label="popularity"))
    for read, these in ((rows, values), (np.arange(len(popularity)), np.resize(values, len(popularity)))):
        kept = keep_among(these, preference_order(popularity)[read], read)
        dropped, kept_for = merged_per_group(these, popularity, None if read is not rows else rows)
        np.testing.assert_array_equal(dropped, read[kept != read])
        np.testing.assert_array_equal(kept_for, kept[kept != read])
    np.testing.assert_array_equal(repeated_values(values), np.unique(values[np.bincount(codes, minlength=1)[codes] > 1]) if len(values) else [])
