"""The near-duplicate key: the same whether the names are Arrow strings or Python strings, and
whether the durations are a numeric column or Python objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from songscope.identity import near_keys

_TEXT = st.one_of(st.none(), st.sampled_from(["", "Nina Simone", "Feeling Good", "Ólafur", "日本語", "a\x1fb"]), st.text(max_size=8))


@given(st.lists(st.tuples(_TEXT, _TEXT, st.one_of(st.none(), st.integers(1, 10**7))), max_size=25))
def test_arrow_text_keys_as_python_text_does(rows):
    artists = [r[0] for r in rows]
    titles = [r[1] for r in rows]
    durations = pd.Series([r[2] for r in rows], dtype=object)
    python = near_keys(pd.Series(artists, dtype=object), pd.Series(titles, dtype=object), durations)
    arrow = near_keys(pd.Series(artists, dtype="string[pyarrow]"), pd.Series(titles, dtype="string[pyarrow]"), durations)
    assert python.tolist() == arrow.tolist()


@given(st.lists(st.one_of(st.none(), st.integers(0, 2**53), st.floats(0, 1e9, allow_nan=False)), max_size=25))
def test_durations_key_alike_however_they_are_held(durations):
    """Stored keys pin the durations' hashing: a numeric column (read directly) keys as its
    values as Python objects do (read one by one), missing values included."""
    names = pd.Series(["A"] * len(durations), dtype=object)
    as_objects = near_keys(names, names, pd.Series(durations, dtype=object))
    floats = pd.Series([np.nan if d is None else float(d) for d in durations], dtype=float)
    assert near_keys(names, names, floats).tolist() == as_objects.tolist()
    assert near_keys(names, names, floats.to_numpy()).tolist() == as_objects.tolist()
    if all(d is None or float(d).is_integer() for d in durations):
        whole = pd.Series([None if d is None else int(d) for d in durations], dtype="Int64")
        assert near_keys(names, names, whole).tolist() == as_objects.tolist()
        assert near_keys(names, names, whole.array).tolist() == as_objects.tolist()
