"""The `--where` language: what it accepts, what it refuses (naming the token), never Python."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.recommend.where import MAX_COMPARISONS, WhereError, parse_where

FEATURES = ["energy", "tempo", "mode", "loudness", "duration_ms"]
VALUES = {"energy": np.array([0.1, 0.5, 0.9, np.nan]), "tempo": np.array([90.0, 130.0, 170.0, 120.0]),
          "mode": np.array([0.0, 1.0, 1.0, 0.0]), "loudness": np.array([-20.0, -8.0, -3.0, -5.0]),
          "duration_ms": np.array([200_000.0, 500_000.0, 180_000.0, 240_000.0])}


@pytest.mark.parametrize("text, expected", [
    ("energy > 0.4", [False, True, True, False]),
    ("0.3 <= energy <= 0.8", [False, True, False, False]),
    ("energy < 0.5 or tempo > 150", [True, False, True, False]),
    ("not (mode == 1) and loudness < -4", [True, False, False, True]),
    ("duration_ms < 420000 and loudness >= -10", [False, False, True, True]),
    ("loudness > -5.5", [False, False, True, True]),
    ("mode != 1", [True, False, False, True]),
    ("energy != 0.5", [True, False, True, False]),  # a missing value passes no comparison
    ("not energy > 0.4", [True, False, False, True]),  # ... and so passes `not` of one
    ("tempo > 1e2 AND_NOT", None),
])
def test_expressions_select_as_written(text, expected):
    if expected is None:
        with pytest.raises(WhereError):
            parse_where(text, FEATURES)
        return
    assert parse_where(text, FEATURES).mask(VALUES).tolist() == expected


@pytest.mark.parametrize("text, says", [
    ("energyy < 0.5", "unknown feature 'energyy' at column 1; the features are"),
    ("energy < 0.5 and", "column 17"),
    ("energy <", "it ends after '<', at column 9"),
    ("energy < < 1", "cannot read it at column"),
    ("__import__('os').system('true')", "a call is not allowed, at column 1"),
    ("energy.real > 1", "an attribute is not allowed"),
    ("energy * 2 > 1", "arithmetic is not allowed, at column 1 ('energy * 2')"),
    ("energy > 'a'", "this is not allowed, at column 10 (\"'a'\")"),
    ("energy", "a value on its own"),
    ("0.5 < 0.7", "a comparison without a feature"),
    ("energy in (1, 2)", "the operator 'In'"),
    ("energy is None", "the operator 'Is'"),
    ("energy > True", "this is not allowed"),
    ("(lambda: 1)() > energy", "a call is not allowed"),
    ("", "empty"),
    ("(" * 201 + "energy > 1" + ")" * 201, "cannot read it"),
    ("energy > 1 and " * 40 + "energy > 1", "characters"),
    (" or ".join(["energy > 1"] * (MAX_COMPARISONS + 1)), "comparisons; at most"),
])
def test_what_is_not_in_the_language_is_refused_with_its_place(text, says):
    with pytest.raises(WhereError) as caught:
        parse_where(text, FEATURES)
    assert says in str(caught.value), str(caught.value)


def test_nothing_is_evaluated_as_python(monkeypatch):
    import builtins

    called = []
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: called.append(a))
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: called.append(a))
    parse_where("energy > 0.5", FEATURES).mask(VALUES)
    assert called == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_cleanly(text):
    try:
        where = parse_where(text, FEATURES)
    except WhereError as exc:
        assert str(exc).startswith("--where ")
        return
    assert where.mask(VALUES).shape == (4,)
