"""One contract, every engine: the local engine's algorithms and Spark's, plus a real Spark cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from songscope.engines.base import Engine
from songscope.engines.local import LocalEngine
from songscope.evaluate.internal import within_sse
from songscope.features import FeatureSpace
from tests.engines.contract import EngineContract


@pytest.mark.spark
@pytest.mark.parametrize("algorithm", ["kmeans", "bisecting-kmeans", "gmm"])
class TestSparkEngine(EngineContract):
    @pytest.fixture(autouse=True)
    def _algorithm(self, algorithm, spark_local):
        self.algorithm, self.master = algorithm, spark_local

    def make(self, seed: int = 0) -> Engine:
        from songscope.engines.spark import SparkEngine

        return SparkEngine(self.algorithm, n_clusters=self.k, random_state=seed, master=self.master, max_iter=50)


@pytest.mark.spark
def test_spark_reads_the_lake_parquet_and_agrees_with_local(seed_catalogue, spark_local):
    """Spark applies the shared space itself (SQL over the lake's Parquet); the result agrees
    closely with the local engine at the same k."""
    from songscope.engines.spark import SparkEngine
    from songscope.store.catalogue import file_uris
    from songscope.store.store import Store
    from tests.conftest import load_catalogue

    catalogue = load_catalogue(seed_catalogue)
    space = FeatureSpace().fit(catalogue)
    X = space.transform(catalogue)
    with Store(seed_catalogue) as store:
        uris = file_uris(store)
    result, ids = SparkEngine("kmeans", n_clusters=4, random_state=0, master=spark_local).fit_parquet(uris, space)
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
