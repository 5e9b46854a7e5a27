"""The profile and clustering stages on both backends: the Spark backend's aggregates equal the
local backend's computations on the same catalogue, and its sample is what it says it is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from songscope.config import Settings
from tests.conftest import ingest, load_catalogue

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def seed_on_spark(tmp_path_factory, seed_files, spark_local):
    """The seed ingested, and its catalogue as a Spark DataFrame read from the lake."""
    from songscope.backends.spark.catalogue import read_catalogue
    from songscope.backends.spark.session import spark_session
    from songscope.store.catalogue import file_uris, label_columns
    from songscope.store.store import Store

    folder = tmp_path_factory.mktemp("seed-spark")
    settings = Settings(db_url=f"sqlite:///{folder / 's.db'}", lake_url=str(folder / "lake"), spark_master=spark_local)
    ingest(seed_files, settings)
    with Store(settings) as store:
        tracks = read_catalogue(spark_session(spark_local), file_uris(store), label_columns(store))
    return settings, tracks, load_catalogue(settings)


@pytest.mark.parametrize("options", [{}, {"scaling": "robust"}, {"pca": 0.9}, {"pca": 3, "key": "circle", "mode": True}, {"key": "onehot"}],
                         ids=["standard", "robust", "pca-share", "pca-count-circle-mode", "onehot"])
def test_feature_space_from_aggregates_equals_the_fitted_one(seed_on_spark, options):
    from songscope.backends.spark.cluster import fit_space
    from songscope.features import FeatureSpace

    _, tracks, catalogue = seed_on_spark
    local = FeatureSpace(**options).fit(catalogue)
    spark = fit_space(tracks, FeatureSpace(**options))
    np.testing.assert_allclose(spark.centre_, local.centre_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(spark.scale_, local.scale_, rtol=1e-9)
    if local.pca_components_ is not None:
        assert spark.pca_components_.shape == local.pca_components_.shape
        np.testing.assert_allclose(spark.pca_components_, local.pca_components_, atol=1e-6)
        np.testing.assert_allclose(spark.explained_variance_ratio_, local.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(spark.transform(catalogue), local.transform(catalogue), atol=1e-6)


@pytest.mark.parametrize("algorithm", ["kmeans", "bisecting-kmeans"])
def test_exact_indices_equal_the_local_definitions(seed_on_spark, tmp_path, algorithm):
    from songscope.backends.spark.cluster import cluster_on_spark, fit_space
    from songscope.backends.spark.mllib import MLlibAlgorithm
    from songscope.evaluate.internal import internal_indices
    from songscope.features import FeatureSpace

    settings, tracks, catalogue = seed_on_spark
    space = fit_space(tracks, FeatureSpace())
    engine = MLlibAlgorithm(algorithm, n_clusters=6, random_state=1, max_iter=20, master=settings.spark_master)
    clustered = cluster_on_spark(tracks, space, engine, seed=0, staging=str(tmp_path / "staged"))
    # The whole seed fits in the sample: the local definitions on it must agree with the aggregates.
    assert clustered.songs == len(clustered.sample) == len(catalogue) == 15_626
    X = space.transform(clustered.sample)
    local = internal_indices(X, clustered.result.labels)
    for name in ("sse", "calinski_harabasz", "davies_bouldin"):
        assert clustered.metrics[name] == pytest.approx(local[name], rel=1e-9), name
    assert clustered.sizes.tolist() == np.bincount(clustered.result.labels).tolist()
    assert (np.diff(clustered.sizes) <= 0).all()  # numbered largest first, as every engine numbers them
    # The executors' assignments are the sample's labels, song for song.
    staged = pd.concat([pd.read_parquet(uri) for uri, _ in clustered.assignment_files])
    assert sum(rows for _, rows in clustered.assignment_files) == len(staged) == 15_626
    by_id = staged.set_index("track_id")["cluster"]
    assert (by_id.loc[clustered.sample["track_id"]].to_numpy() == clustered.result.labels).all()
    # The predictor assigns a song as the model did.
    assert (clustered.result.predict(X) == clustered.result.labels).mean() > 0.99


def test_the_sample_is_fixed_by_the_seed_and_its_size_reported(seed_on_spark, tmp_path):
    from songscope.backends.spark.cluster import cluster_on_spark, fit_space
    from songscope.backends.spark.mllib import MLlibAlgorithm
    from songscope.features import FeatureSpace

    settings, tracks, _ = seed_on_spark
    space = fit_space(tracks, FeatureSpace())
    engine = MLlibAlgorithm("kmeans", n_clusters=4, random_state=0, max_iter=10, master=settings.spark_master)
    first = cluster_on_spark(tracks, space, engine, seed=7, staging=str(tmp_path / "a"), sample_rows=3_000)
    again = cluster_on_spark(tracks.repartition(5), space, engine, seed=7, staging=str(tmp_path / "b"), sample_rows=3_000)
    other = cluster_on_spark(tracks, space, engine, seed=8, staging=str(tmp_path / "c"), sample_rows=3_000)
    assert 2_500 < len(first.sample) < 3_500
    assert first.result.params["sample_n"] == len(first.sample)
    assert first.sample["track_id"].tolist() == again.sample["track_id"].tolist()  # whatever the partitioning
    assert first.sample["track_id"].tolist() != other.sample["track_id"].tolist()
    assert first.songs == 15_626 and first.sizes.sum() == 15_626  # sizes are exact, not the sample's


def test_profile_from_aggregates_equals_the_local_profile(seed_on_spark):
    from songscope.backends.spark.profile import profile_on_spark
    from songscope.profile import profile

    _, tracks, catalogue = seed_on_spark
    local, spark = profile(catalogue, figures=False), profile_on_spark(tracks)
    assert spark.rows == local.rows == 15_626
    assert spark.notes == []  # exact at this size
    pd.testing.assert_frame_equal(spark.describe[local.describe.columns], local.describe, check_dtype=False, rtol=1e-9)
    assert spark.artist_count == local.artist_count
    assert spark.top10_share == pytest.approx(local.top10_share)
    assert spark.popularity_zero_share == pytest.approx(local.popularity_zero_share)
    assert spark.top_artists["tracks"].tolist() == local.top_artists["tracks"].tolist()
    # Ties may be broken differently (Spark by name, pandas by first appearance), but every artist
    # listed has the count listed.
    true_counts = catalogue["artist_name"].value_counts()
    assert spark.top_artists["tracks"].tolist() == true_counts.loc[spark.top_artists["artist_name"]].tolist()
    pd.testing.assert_frame_equal(spark.outliers, local.outliers, check_dtype=False)
    pd.testing.assert_frame_equal(spark.correlations, local.correlations, rtol=1e-9)
