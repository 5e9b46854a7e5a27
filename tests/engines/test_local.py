"""One contract, every engine: the local engine's algorithms and Spark's, plus a real Spark cluster."""

from __future__ import annotations

import numpy as np
import pytest

from songscope.engines.base import Engine
from songscope.engines.local import AGGLOMERATIVE_MAX_ROWS, LocalEngine, kmeans_plus_plus
from tests.engines.contract import EngineContract


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
