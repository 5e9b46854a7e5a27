"""One contract, every clustering algorithm: the local backend's (Spark MLlib's: tests/backends/test_spark_mllib.py)."""

from __future__ import annotations

import numpy as np
import pytest

from songscope.cluster.base import Algorithm
from songscope.cluster.local import AGGLOMERATIVE_MAX_ROWS, LocalAlgorithm
from songscope.errors import UserError
from tests.cluster.contract import AlgorithmContract


@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch-kmeans", "bisecting-kmeans", "gmm", "agglomerative"])
class TestLocalAlgorithm(AlgorithmContract):
    @pytest.fixture(autouse=True)
    def _algorithm(self, algorithm):
        self.algorithm = algorithm

    def make(self, seed: int = 0) -> Algorithm:
        return LocalAlgorithm(self.algorithm, n_clusters=self.k, random_state=seed)


@pytest.mark.parametrize("algorithm,params", [("hdbscan", {"min_cluster_size": 30}), ("dbscan", {"eps": 0.9, "min_samples": 10})])
class TestLocalDensityEngine(AlgorithmContract):
    @pytest.fixture(autouse=True)
    def _algorithm(self, algorithm, params):
        self.algorithm, self.params = algorithm, params

    def make(self, seed: int = 0) -> Algorithm:
        return LocalAlgorithm(self.algorithm, random_state=seed, params=self.params)


def test_unknown_algorithm_and_too_many_rows_are_clear_errors():
    with pytest.raises(UserError, match="choose one of"):
        LocalAlgorithm("spectral")
    with pytest.raises(UserError, match="refused|more than"):
        LocalAlgorithm("agglomerative", n_clusters=3).fit(np.zeros((AGGLOMERATIVE_MAX_ROWS + 1, 2)))
    with pytest.raises(UserError, match="cannot form"):
        LocalAlgorithm("kmeans", n_clusters=10).fit(np.zeros((5, 2)))
    result = LocalAlgorithm("agglomerative", n_clusters=2).fit(np.array([[0.0], [0.1], [5.0], [5.1]]))
    with pytest.raises(NotImplementedError, match="cannot assign new songs"):
        result.predict(np.array([[0.0]]))
