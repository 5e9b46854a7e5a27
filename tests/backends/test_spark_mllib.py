"""Spark MLlib's algorithms under the clustering contract, on local[2] and a real Spark cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from songscope.cluster.base import Algorithm
from songscope.cluster.local import LocalAlgorithm
from songscope.evaluate.internal import within_sse
from songscope.features import FeatureSpace
from tests.cluster.contract import AlgorithmContract


@pytest.mark.spark
@pytest.mark.parametrize("algorithm", ["kmeans", "bisecting-kmeans", "gmm"])
class TestMLlibAlgorithm(AlgorithmContract):
    @pytest.fixture(autouse=True)
    def _algorithm(self, algorithm, spark_local):
        self.algorithm, self.master = algorithm, spark_local

    def make(self, seed: int = 0) -> Algorithm:
        from songscope.backends.spark.mllib import MLlibAlgorithm

        return MLlibAlgorithm(self.algorithm, n_clusters=self.k, random_state=seed, master=self.master, max_iter=50)


@pytest.mark.spark
def test_spark_reads_the_lake_parquet_and_agrees_with_local(seed_catalogue, spark_local):
    """Spark applies the shared space itself (SQL over the lake's Parquet); the result agrees
    closely with the local engine at the same k."""
    from songscope.backends.spark.mllib import MLlibAlgorithm
    from songscope.store.catalogue import file_uris
    from songscope.store.store import Store
    from tests.conftest import load_catalogue

    catalogue = load_catalogue(seed_catalogue)
    space = FeatureSpace().fit(catalogue)
    X = space.transform(catalogue)
    with Store(seed_catalogue) as store:
        uris = file_uris(store)
    result, ids = MLlibAlgorithm("kmeans", n_clusters=4, random_state=0, master=spark_local).fit_parquet(uris, space)
    assert len(ids) == len(catalogue)
    order = pd.Series(np.arange(len(ids)), index=ids).loc[catalogue["track_id"]].to_numpy()
    spark_labels = result.labels[order]
    # The SQL transform equals the numpy one: the centres sit where the members' mean is.
    for cluster in range(4):
        assert np.linalg.norm(X[spark_labels == cluster].mean(axis=0) - result.centres[cluster]) < 1e-3
    # Agreement is measured, not assumed: on song features near-equal SSE can come from different
    # partitions, so the objective is what must agree; the ARI is reported by `songscope compare`.
    local = LocalAlgorithm("kmeans", n_clusters=4, random_state=0).fit(X)
    assert within_sse(X, spark_labels) < within_sse(X, local.labels) * 1.03
    assert adjusted_rand_score(local.labels, spark_labels) > 0.3


@pytest.mark.spark
@pytest.mark.slow
def test_kmeans_on_a_real_standalone_spark_cluster(space_and_matrix, spark_standalone):
    from songscope.backends.spark.mllib import MLlibAlgorithm

    _, X, _ = space_and_matrix
    from songscope.backends.spark.session import spark_session

    result = MLlibAlgorithm("kmeans", n_clusters=4, random_state=0, master=spark_standalone, max_iter=50).fit(X)
    assert result.params["master"].startswith("spark://127.0.0.1:")
    assert spark_session(spark_standalone).sparkContext.master == spark_standalone  # the cluster did the work
    assert result.sizes.sum() == len(X) and result.n_clusters == 4
    local = LocalAlgorithm("kmeans", n_clusters=4, random_state=0).fit(X)
    assert within_sse(X, result.labels) < within_sse(X, local.labels) * 1.05


@pytest.mark.spark
@pytest.mark.s3
def test_spark_clusters_an_s3_lake_reading_it_in_its_executors(s3_server, s3_lake_url, settings_factory, seed_files, tmp_path):
    """`cluster --engine spark` over an S3 lake, as a user runs it (its own process, so its
    executors start with the AWS variables): the executors read the catalogue's files, and the
    run agrees with the local engine's on the same songs."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import ingest

    settings = settings_factory(lake_url=s3_lake_url, s3_endpoint=s3_server.endpoint)
    ingest(seed_files, settings)
    common = ["--db", settings.db_url, "--lake", settings.lake_url, "--s3-endpoint", s3_server.endpoint,
              "--k", "4", "--resamples", "0", "--json"]
    script = str(Path(sys.executable).parent / "songscope")
    done = subprocess.run([script, "cluster", "--engine", "spark", "--spark-master", "local[2]", *common],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    spark = json.loads(done.stdout)
    assert spark["engine"] == "spark" and spark["songs"] == 15_626
    local = json.loads(subprocess.run([script, "cluster", *common], capture_output=True, text=True, check=True, timeout=600).stdout)
    from tests.conftest import load_run

    a, b = load_run(settings, local["run_id"]), load_run(settings, spark["run_id"])
    from sklearn.metrics import adjusted_rand_score

    merged = a.assignments.merge(b.assignments, on="track_id")
    assert len(merged) == 15_626
    assert adjusted_rand_score(merged["cluster_x"], merged["cluster_y"]) > 0.5
