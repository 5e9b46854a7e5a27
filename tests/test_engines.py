"""One contract, every engine: the local engine's algorithms and Spark's, plus a real Spark cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from songscope.engines._lloyd import lloyd
from songscope.engines.base import ClusterResult, Engine
from songscope.engines.local import AGGLOMERATIVE_MAX_ROWS, LocalEngine, kmeans_plus_plus
from songscope.evaluate.internal import within_sse
from songscope.features import FeatureSpace


@pytest.fixture(scope="module")
def space_and_matrix(seed_catalogue):
    from tests.conftest import load_catalogue

    catalogue = load_catalogue(seed_catalogue).sample(3_000, random_state=1).reset_index(drop=True)
    space = FeatureSpace().fit(catalogue)
    return space, space.transform(catalogue), catalogue


class EngineContract:
    """The behaviour every engine and algorithm must keep."""

    k = 5

    def make(self, seed: int = 0) -> Engine:
        raise NotImplementedError

    def test_is_an_engine(self):
        assert isinstance(self.make(), Engine)

    def test_contract(self, space_and_matrix):
        _, X, _ = space_and_matrix
        first = self.make(seed=3).fit(X)
        assert isinstance(first, ClusterResult)
        assert first.labels.shape == (len(X),)
        assert first.sizes.sum() + int((first.labels < 0).sum()) == len(X)  # sizes sum to n
        assert first.centers.shape[1] == X.shape[1]  # centres live in the shared space
        # Clusters are numbered largest first.
        assert (np.diff(first.sizes) <= 0).all()
        # The same seed gives the same labels.
        again = self.make(seed=3).fit(X)
        np.testing.assert_array_equal(first.labels, again.labels)
        # A training song predicts its own cluster (where the algorithm can predict).
        if first.predictor is not None:
            assert (first.predict(X) == first.labels).mean() > 0.99

    def test_centres_are_near_their_members(self, space_and_matrix):
        _, X, _ = space_and_matrix
        result = self.make().fit(X)
        if result.algorithm in ("gmm", "hdbscan", "dbscan"):
            return
        for cluster in range(result.n_clusters):
            members = X[result.labels == cluster]
            assert np.linalg.norm(members.mean(axis=0) - result.centers[cluster]) < 0.5


@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch-kmeans", "bisecting-kmeans", "gmm", "agglomerative"])
class TestLocalEngine(EngineContract):
    @pytest.fixture(autouse=True)
    def _algorithm(self, algorithm):
        self.algorithm = algorithm

    def make(self, seed: int = 0) -> Engine:
        return LocalEngine(self.algorithm, n_clusters=self.k, random_state=seed)


@pytest.mark.parametrize("algorithm,params", [("hdbscan", {"min_cluster_size": 30}), ("dbscan", {"eps": 0.9, "min_samples": 10})])
class TestLocalDensityEngine(EngineContract):
    @pytest.fixture(autouse=True)
    def _algorithm(self, algorithm, params):
        self.algorithm, self.params = algorithm, params

    def make(self, seed: int = 0) -> Engine:
        return LocalEngine(self.algorithm, random_state=seed, params=self.params)


@pytest.mark.spark
@pytest.mark.parametrize("algorithm", ["kmeans", "bisecting-kmeans", "gmm"])
class TestSparkEngine(EngineContract):
    @pytest.fixture(autouse=True)
    def _algorithm(self, algorithm, spark_local):
        self.algorithm, self.master = algorithm, spark_local

    def make(self, seed: int = 0) -> Engine:
        from songscope.engines.spark import SparkEngine

        return SparkEngine(self.algorithm, n_clusters=self.k, random_state=seed, master=self.master, max_iter=50)


@pytest.mark.parametrize(
    ("dims", "rows", "k"),
    [(6, 2_400, 6), (13, 5_000, 7), (16, 3_001, 5), (23, 2_400, 6)],
    ids=["6 features", "13 features, odd k", "16 features, ragged last block", "23 features (matrix-product path)"],
)
def test_own_kmeans_kernel_matches_scikit_learn(dims, rows, k):
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(dims)
    X = rng.normal(0, 1.0, (rows, dims)) + rng.normal(0, 3.0, (k, dims))[rng.integers(0, k, rows)]
    init = kmeans_plus_plus(X, k, 0)
    labels, centers, inertia, n_iter = lloyd(X, init, max_iter=30, tol=0)
    reference = KMeans(k, init=init, n_init=1, max_iter=30, tol=0, algorithm="lloyd").fit(X)
    assert n_iter == reference.n_iter_
    assert abs(inertia / reference.inertia_ - 1) < 1e-4
    assert adjusted_rand_score(labels, reference.labels_) > 0.999
    np.testing.assert_allclose(centers, reference.cluster_centers_, atol=1e-3)


def test_kmeans_plus_plus_is_scikit_learns_on_a_bounded_sample(monkeypatch):
    from sklearn.cluster import kmeans_plusplus

    from songscope.engines import local

    rng = np.random.default_rng(5)
    X = rng.normal(0, 1.0, (3_000, 13)) + rng.normal(0, 3.0, (12, 13))[rng.integers(0, 12, 3_000)]
    np.testing.assert_array_equal(kmeans_plus_plus(X, 12, 3), kmeans_plusplus(X, 12, random_state=3)[0])
    assert not np.array_equal(kmeans_plus_plus(X, 12, 3), kmeans_plus_plus(X, 12, 4))
    # Above the bound the seeds come from a fixed-seed sample of rows: still rows of the data, the same every time.
    monkeypatch.setattr(local, "SEEDING_MAX_ROWS", 500)
    sampled = kmeans_plus_plus(X, 12, 3)
    assert np.isin(sampled, X).all(axis=1).all() and len({tuple(c) for c in sampled}) == 12
    np.testing.assert_array_equal(sampled, kmeans_plus_plus(X, 12, 3))
    assert len(kmeans_plus_plus(X, 1, 0)) == 1
    with pytest.raises(ValueError, match="k-means"):
        kmeans_plus_plus(X[:5], 6, 0)


def test_kmeans_kernel_stops_when_no_song_changes_cluster():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    labels, centers, inertia, n_iter = lloyd(X, X[[0, 2]], max_iter=50, tol=0)
    assert n_iter == 2  # the second pass changes nothing
    assert labels.tolist() in ([0, 0, 1, 1],)
    assert inertia == pytest.approx(0.01)


def test_unknown_algorithm_and_too_many_rows_are_clear_errors():
    with pytest.raises(ValueError, match="choose one of"):
        LocalEngine("spectral")
    with pytest.raises(ValueError, match="refused|more than"):
        LocalEngine("agglomerative", n_clusters=3).fit(np.zeros((AGGLOMERATIVE_MAX_ROWS + 1, 2)))
    with pytest.raises(ValueError, match="cannot form"):
        LocalEngine("kmeans", n_clusters=10).fit(np.zeros((5, 2)))
    result = LocalEngine("agglomerative", n_clusters=2).fit(np.array([[0.0], [0.1], [5.0], [5.1]]))
    with pytest.raises(NotImplementedError, match="cannot assign new songs"):
        result.predict(np.array([[0.0]]))


@pytest.mark.spark
def test_spark_reads_the_lake_parquet_and_agrees_with_local(seed_catalogue, spark_local):
    """Spark applies the shared space itself (SQL over the lake's Parquet); the result agrees
    closely with the local engine at the same k."""
    from songscope.engines.spark import SparkEngine
    from songscope.store.keys import CATALOGUE as CATALOGUE_KEY
    from songscope.store.lake import Lake
    from tests.conftest import load_catalogue

    catalogue = load_catalogue(seed_catalogue)
    space = FeatureSpace().fit(catalogue)
    X = space.transform(catalogue)
    uri = Lake(seed_catalogue.lake_url).uri(CATALOGUE_KEY)
    result, ids = SparkEngine("kmeans", n_clusters=4, random_state=0, master=spark_local).fit_parquet(uri, space)
    assert len(ids) == len(catalogue)
    order = pd.Series(np.arange(len(ids)), index=ids).loc[catalogue["track_id"]].to_numpy()
    spark_labels = result.labels[order]
    # The SQL transform equals the numpy one: the centres sit where the members' mean is.
    for cluster in range(4):
        assert np.linalg.norm(X[spark_labels == cluster].mean(axis=0) - result.centers[cluster]) < 1e-3
    # Agreement is measured, not assumed: on song features near-equal SSE can come from different
    # partitions, so the objective is what must agree; the ARI is reported by `songscope compare`.
    local = LocalEngine("kmeans", n_clusters=4, random_state=0).fit(X)
    assert within_sse(X, spark_labels) < within_sse(X, local.labels) * 1.03
    assert adjusted_rand_score(local.labels, spark_labels) > 0.3


@pytest.mark.spark
@pytest.mark.slow
def test_kmeans_on_a_real_standalone_spark_cluster(space_and_matrix, spark_standalone):
    from songscope.engines.spark import SparkEngine

    _, X, _ = space_and_matrix
    result = SparkEngine("kmeans", n_clusters=4, random_state=0, master=spark_standalone, max_iter=50).fit(X)
    assert result.params["master"].startswith("spark://127.0.0.1:")
    assert result.sizes.sum() == len(X) and result.n_clusters == 4
    local = LocalEngine("kmeans", n_clusters=4, random_state=0).fit(X)
    assert within_sse(X, result.labels) < within_sse(X, local.labels) * 1.05
