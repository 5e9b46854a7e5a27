"""The contract every clustering algorithm meets, on either backend (tests/cluster/test_local.py, tests/backends/test_spark_mllib.py)."""

from __future__ import annotations

import numpy as np

from songscope.cluster.base import Algorithm, ClusterResult


class AlgorithmContract:
    """The behaviour every engine and algorithm must keep."""

    k = 5

    def make(self, seed: int = 0) -> Algorithm:
        raise NotImplementedError

    def test_is_an_algorithm(self):
        assert isinstance(self.make(), Algorithm)

    def test_contract(self, space_and_matrix):
        _, X, _ = space_and_matrix
        first = self.make(seed=3).fit(X)
        assert isinstance(first, ClusterResult)
        assert first.labels.shape == (len(X),)
        assert first.sizes.sum() + int((first.labels < 0).sum()) == len(X)  # sizes sum to n
        assert first.centres.shape[1] == X.shape[1]  # centres live in the shared space
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
            assert np.linalg.norm(members.mean(axis=0) - result.centres[cluster]) < 0.5
