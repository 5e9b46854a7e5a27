"""The name model: what it places where, that its projection equals scikit-learn's, and that
a stored model places names as the fitted one does."""

import numpy as np
import pyarrow as pa
import pytest

from songscope.recommend.names import NameModel, name_coordinates

SCRIPTS = ["ana carolina - saudade de você", "marília mendonça - coração", "jorge - não sei", "bts - 봄날", "iu - 좋은 날", "blackpink - 뚜두뚜두",
           "queen - bohemian rhapsody", "the beatles - let it be", "oasis - wonderwall", "ed sheeran - perfect", "адель - песня", "кино - группа крови"]


def test_names_place_songs_by_script_and_language():
    names = SCRIPTS
    X = name_coordinates(names * 3, dimensions=4)[: len(names)]
    assert X.shape == (12, 4) and X.dtype == np.float32 and np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    script = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3])
    distances = np.linalg.norm(X[:, None] - X[None], axis=2)
    same = distances[(script[:, None] == script[None]) & ~np.eye(12, dtype=bool)].mean()
    other = distances[script[:, None] != script[None]].mean()
    assert same < 0.6 * other, (same, other)
    assert name_coordinates([], 3).shape == (0, 3) and name_coordinates(["a"], 3).tolist() == [[0.0, 0.0, 0.0]]


def test_the_projection_equals_scikit_learns_transform(catalogue):
    """The stored numbers applied by hand give what scikit-learn's fitted TF-IDF and (exact,
    ARPACK) SVD give: the fit is scikit-learn's without its import (`_name_fit`)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    names = (catalogue["artist_name"] + " - " + catalogue["track_name"]).str.lower().tolist()[:3_000]
    model = NameModel.fit(names, dimensions=6)
    counts = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), vocabulary={g: i for i, g in enumerate(model.grams)}).transform(names).astype(np.float32)
    weighting = TfidfTransformer(sublinear_tf=True).fit(counts)
    assert np.allclose(weighting.idf_, model.idf)
    svd = TruncatedSVD(6, algorithm="arpack", random_state=0).fit(weighting.transform(counts))
    expected = svd.transform(weighting.transform(counts))
    expected /= np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-12)
    found = model.project(names)
    assert np.allclose(found, expected, atol=1e-5)
    # Arrow strings, as the catalogue's files hold them, are placed exactly as Python's are.
    assert np.array_equal(model.project(pa.array(names)), found) and model.project(pa.array([], pa.string())).shape == (0, 6)


def test_a_stored_model_places_names_as_the_fitted_one(tmp_path):
    model = NameModel.fit(SCRIPTS * 3, dimensions=4)
    again = NameModel.from_bytes(model.to_bytes())
    assert again.grams == model.grams and again.fitted_on == 36 and again.version == model.version
    unseen = ["caetano veloso - sozinho", "twice - 우아하게", "ghost - cirice"]
    assert np.array_equal(again.project(unseen), model.project(unseen))
    # Refitted on other names, a model is another version.
    assert NameModel.fit(SCRIPTS[:6] * 3, dimensions=4).version != model.version
    assert NameModel.fit([], 3).project(["a b"]).tolist() == [[0.0, 0.0, 0.0]]


def test_a_larger_catalogue_is_fitted_on_a_sample(monkeypatch):
    from songscope.recommend import names as module

    monkeypatch.setattr(module, "NAME_FIT_SAMPLE", 20)
    model = NameModel.fit([f"artist {i} - song {i % 7}" for i in range(200)], dimensions=3)
    assert model.fitted_on == 200 and model.project(["artist 5 - song 5"]).shape == (1, 3)
    with pytest.raises(ValueError):
        NameModel.from_bytes(b"not a model")
