"""The near-duplicate key: the same whether the names are Arrow strings or Python strings."""

from __future__ import annotations

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
