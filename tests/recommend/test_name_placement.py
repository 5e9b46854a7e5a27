"""`songscope.recommend._name_placement`, the compiled projection of names by a fitted model,
against scikit-learn: ``CountVectorizer(analyzer="char_wb")``, ``TfidfTransformer(sublinear_tf=True)``
and the SVD's components, rows scaled to unit length; on real names and on any text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

from songscope.recommend import names as names_module
from songscope.recommend.names import NameModel
from tests.conftest import TIDYTUESDAY
from tests.recommend.test_ngrams import _TEXT


def scikit_learns_places(model: NameModel, texts: list[str]) -> np.ndarray:
    """What scikit-learn's fitted steps give for `texts` under `model`'s numbers."""
    counts = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), vocabulary={g: i for i, g in enumerate(model.grams)}).transform(texts)
    weighting = TfidfTransformer(sublinear_tf=True)
    weighting.idf_ = model.idf
    places = np.zeros((len(texts), model.dimensions))
    places[:, : len(model.components)] = weighting.transform(counts.astype(np.float64)) @ model.components.T
    length = np.linalg.norm(places, axis=1, keepdims=True)
    return np.divide(places, length, out=np.zeros_like(places), where=length > 0)


@pytest.fixture(scope="module")
def real_names() -> list[str]:
    songs = pd.read_csv(TIDYTUESDAY, usecols=["track_artist", "track_name", "track_album_name"], keep_default_na=False)
    return (songs.track_artist.astype(str) + " - " + songs.track_name.astype(str) + " - " + songs.track_album_name.astype(str)).tolist()


def test_real_names_are_placed_as_scikit_learn_places_them(real_names):
    model = NameModel.fit(real_names[:8000], dimensions=8)
    found = model.project(pa.array(real_names))
    assert found.dtype == np.float32 and found.shape == (len(real_names), 8)
    assert np.abs(found - scikit_learns_places(model, real_names)).max() < 1e-5
    placed = np.linalg.norm(found, axis=1)
    assert np.allclose(placed[placed > 0], 1.0, atol=1e-5) and (placed > 0).mean() > 0.99


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=12))
def test_any_text_is_placed_as_scikit_learn_places_it(texts):
    """Every kind of white space, combining marks, wide, astral and upper-case letters that
    lower to several, lone surrogates, NUL; texts with nothing the vocabulary knows are zero."""
    model = NameModel.fit([*texts, "ǅemal - İstanbul ßtraße", "iu - 좋은 날", "a b\u3000c"] * 2, dimensions=4)
    found = model.project(texts)
    assert np.abs(found - scikit_learns_places(model, texts)).max() < 1e-5
    unseen = model.project([text + " \U0001f600zq" for text in texts])
    assert np.abs(unseen - scikit_learns_places(model, [text + " \U0001f600zq" for text in texts])).max() < 1e-5


def test_arrow_and_python_strings_are_placed_alike_and_a_missing_name_is_zero(real_names):
    model = NameModel.fit(real_names[:3000], dimensions=5)
    texts = real_names[:5000]
    assert np.array_equal(model.project(pa.array(texts, pa.string())), model.project(texts))
    assert np.array_equal(model.project(pa.chunked_array([texts[:10], texts[10:20]])), model.project(texts[:20]))
    with_missing = model.project(pa.array([texts[0], None, ""]))
    assert np.array_equal(with_missing[0], model.project(texts[:1])[0]) and not with_missing[1:].any()


def test_names_placed_in_many_blocks_on_several_threads_are_placed_as_in_one(real_names, monkeypatch):
    model = NameModel.fit(real_names[:3000], dimensions=8)
    whole = model.project(real_names[:4000])
    monkeypatch.setattr(names_module, "_NAME_CHUNK", 37)
    assert np.array_equal(model.project(real_names[:4000]), whole)
