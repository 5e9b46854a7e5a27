"""Feature space and the statistical evaluation, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from songscope.errors import UserError
from songscope.features import FeatureSpace
from songscope.schema import CONTINUOUS_FEATURES


def test_default_space_is_standardised_with_log_duration(catalogue):
    space = FeatureSpace().fit(catalogue)
    X = space.transform(catalogue)
    assert X.shape == (len(catalogue), len(CONTINUOUS_FEATURES))
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(X.std(axis=0), 1, atol=1e-9)
    assert space.output_names[-1] == "log_duration_ms"


@pytest.mark.parametrize("options", [{"key": "circle", "mode": True}, {"key": "onehot", "scaling": "robust"}, {"pca": 0.9}, {"pca": 4, "key": "circle"}])
def test_space_round_trips_through_json_and_sql(catalogue, options):
    space = FeatureSpace(**options).fit(catalogue)
    X = space.transform(catalogue)
    again = FeatureSpace.from_json(space.to_json())
    np.testing.assert_allclose(again.transform(catalogue), X)
    # The SQL expressions Spark runs compute the same numbers (checked here with SQLite).
    import sqlite3

    sample = catalogue.head(50)
    conn = sqlite3.connect(":memory:")
    conn.create_function("ln", 1, np.log)
    conn.create_function("greatest", 2, max)
    conn.create_function("sin", 1, np.sin)
    conn.create_function("cos", 1, np.cos)
    sample[["track_id", *space.columns, "key", "mode"]].to_sql("t", conn)
    rows = conn.execute(f"select {', '.join(space.sql_expressions())} from t").fetchall()
    np.testing.assert_allclose(np.array(rows, dtype=float), space.transform(sample), rtol=1e-9, atol=1e-9)
    if options.get("pca") == 0.9:
        assert space.explained_variance_ratio_.sum() >= 0.9


def test_space_rejects_missing_values_and_unfitted_use(catalogue):
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureSpace().transform(catalogue)
    broken = catalogue.head(10).copy()
    broken.loc[3, "energy"] = np.nan
    with pytest.raises(UserError, match="missing feature values"):
        FeatureSpace().fit(broken)




def test_a_second_feature_set_drives_the_space_and_the_clusters_words(monkeypatch):
    """Feature sets are data (`schema.FeatureSet`): a made-up set of five features, one circular
    and one binary, is transformed, saved, applied as SQL and described by its own declaration."""
    import json

    import numpy as np
    import pandas as pd

    from songscope import schema
    from songscope.errors import UserError
    from songscope.evaluate.cluster_profiles import describe_clusters
    from songscope.schema import FeatureColumn, FeatureSet

    made_up = FeatureSet("made-up", (
        FeatureColumn("brightness", "scaled", "bright", "dark", "Hz"),
        FeatureColumn("roughness", "scaled", "rough", "smooth", "asper"),
        FeatureColumn("length_s", "log", "long", "short", "s"),
        FeatureColumn("chroma", "circular", unit="pitch class", period=12),
        FeatureColumn("major", "binary", unit="1 major"),
    ))
    monkeypatch.setitem(schema.FEATURE_SETS, made_up.name, made_up)
    rng = np.random.default_rng(0)
    group = np.repeat([0, 2, 2, 1], 100)  # dark, middling, bright songs
    frame = pd.DataFrame({"brightness": np.array([1000.0, 3000.0, 2000.0])[group] + rng.normal(0, 50, 400), "roughness": rng.uniform(0, 1, 400), "length_s": rng.lognormal(5, 0.4, 400),
                          "chroma": rng.integers(-1, 12, 400), "major": rng.integers(0, 2, 400), "artist_name": "A", "track_name": "t"})
    space = FeatureSpace(features="made-up", key="circle", mode=True).fit(frame)
    assert space.columns == ("brightness", "roughness", "length_s")
    assert space.output_names == ["brightness", "roughness", "log_length_s", "chroma_sin", "chroma_cos", "major"]
    X = space.transform(frame)
    logged = np.log(frame["length_s"].to_numpy())
    np.testing.assert_allclose(X[:, 2], (logged - logged.mean()) / logged.std(), atol=1e-9)
    np.testing.assert_allclose(X[frame["chroma"].to_numpy() == 3, 3], (1.0 - space.centre_[3]) / space.scale_[3])  # sin(2 pi 3/12) = 1
    restored = FeatureSpace.from_dict(json.loads(space.to_json()))
    assert restored.features == "made-up"
    np.testing.assert_allclose(restored.transform(frame), X)
    sql = " ".join(space.encoded_sql())
    assert "ln(greatest(cast(length_s as double), 1.0))" in sql and "chroma / 12" in sql and "cast(major as double)" in sql
    described = describe_clusters(frame, group, ["brightness"], feature_set=made_up).set_index("cluster")["description"]
    assert described[1] == "bright" and described[0] == "dark" and described[2] == "close to the catalogue's middle"
    with pytest.raises(UserError, match="no feature 'energy'"):
        FeatureSpace(features="made-up", columns=("energy",))
    with pytest.raises(UserError, match="unknown feature set"):
        FeatureSpace(features="nothing-like-it")


def test_spotifys_set_is_the_one_declaration_of_its_features():
    """The constants every stage used are the Spotify set's, and a run saved before feature sets reads as Spotify's."""
    from songscope import schema

    assert schema.CONTINUOUS_FEATURES == schema.SPOTIFY.continuous == ("danceability", "energy", "loudness", "speechiness", "acousticness",
                                                                       "instrumentalness", "liveness", "valence", "tempo", "duration_ms")
    assert schema.SPOTIFY.of_transform("circular").name == "key" and schema.SPOTIFY.of_transform("binary").name == "mode"
    assert schema.SPOTIFY.words()["valence"] == ("happy", "sad")
    saved = FeatureSpace(key="circle").to_dict()
    del saved["features"]
    assert FeatureSpace.from_dict(saved).feature_set is schema.SPOTIFY
    with pytest.raises(ValueError, match="period"):
        schema.FeatureColumn("key", "circular")


def test_a_space_saved_before_centre_was_spelled_so_still_loads(catalogue):
    """Runs saved before revision 0012 wrote the space's centring as ``center``."""
    space = FeatureSpace().fit(catalogue)
    saved = space.to_dict()
    saved["center"] = saved.pop("centre")
    np.testing.assert_array_equal(FeatureSpace.from_dict(saved).transform(catalogue), space.transform(catalogue))
