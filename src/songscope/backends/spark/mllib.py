"""Spark MLlib's clustering algorithms (kmeans, bisecting-kmeans, gmm) and their fitted models.

Spark's camelCase stays inside this module. Two ways in: `fit(X)` clusters a matrix already in
memory (shipped to Spark through Arrow), and `fit_parquet(uris, space)` lets Spark read the
catalogue's Parquet files itself (`backends.spark.catalogue`) and apply the shared feature space
as SQL expressions. The whole clustering stage on Spark, with the driver's memory bounded, is
`backends.spark.cluster`; this module holds the estimators.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from songscope.backends.spark.session import spark_session
from songscope.cluster.base import ClusterResult, nearest_centre_predictor, relabel_by_size
from songscope.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from songscope.features import FeatureSpace

ALGORITHMS = ("kmeans", "bisecting-kmeans", "gmm")


@dataclass
class MLlibAlgorithm:
    """Clusters with Spark MLlib.

    Parameters mirror the local engine's (``n_clusters``, ``random_state``, ``max_iter``); the
    result's centres live in the same shared space, and its metrics are computed by songscope,
    never taken from Spark's own summary.
    """

    algorithm: str = "kmeans"
    n_clusters: int = 8
    random_state: int = 0
    max_iter: int = 300
    master: str = "local[*]"
    params: dict[str, Any] = field(default_factory=dict)
    name: str = "spark"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise UserError(f"unknown algorithm {self.algorithm!r} on the Spark backend; choose one of {', '.join(ALGORITHMS)}")

    def estimator(self):
        from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans

        common = {"k": self.n_clusters, "seed": self.random_state, "featuresCol": "features"}
        if self.algorithm == "kmeans":
            return KMeans(initMode="k-means||", tol=float(self.params.get("tol", 1e-4)), maxIter=self.max_iter, **common)
        # maxIter is per bisection here, and each step is a Spark job: Spark's own default (20)
        # keeps a k=8 run at seconds, not minutes.
        if self.algorithm == "bisecting-kmeans":
            return BisectingKMeans(maxIter=min(self.max_iter, 20), **common)
        return GaussianMixture(tol=float(self.params.get("tol", 0.01)), maxIter=min(self.max_iter, 100), **common)

    def fit(self, X: np.ndarray) -> ClusterResult:
        """Cluster a matrix in memory: rows go to Spark through Arrow, labels come back in order."""
        import pandas as pd

        spark = spark_session(self.master)
        started = time.perf_counter()
        X = np.asarray(X, dtype=np.float64)
        names = [f"x{i}" for i in range(X.shape[1])]
        frame = pd.DataFrame(X, columns=names)
        frame.insert(0, "row", np.arange(len(X), dtype=np.int64))
        df = spark.createDataFrame(frame)
        load_s = time.perf_counter() - started
        result = self._fit_frame(df, names, "row", len(X))
        result.timings["load_s"] = load_s
        return result

    def fit_parquet(self, uris: list[str], space: FeatureSpace, *, s3_endpoint: str | None = None, id_column: str = "track_id") -> tuple[ClusterResult, np.ndarray]:
        """Cluster the catalogue's Parquet files at `uris`, transformed by `space` inside Spark.

        Returns the result (labels in the order of the returned ids) and the track ids.
        """
        if isinstance(uris, str):
            uris = [uris]
        from songscope.backends.spark.catalogue import read_catalogue

        spark = spark_session(self.master)
        started = time.perf_counter()
        df = read_catalogue(spark, uris, [], s3_endpoint)
        names = [f"x{i}" for i in range(len(space.output_names))]
        projected = df.selectExpr(id_column, *[f"{expr} AS {name}" for expr, name in zip(space.sql_expressions(), names)])
        n = projected.count()
        load_s = time.perf_counter() - started
        result = self._fit_frame(projected, names, id_column, n)
        result.timings["load_s"] = load_s
        ids = result.params.pop("_ids")
        return result, ids

    def _fit_frame(self, df: DataFrame, names: list[str], order_column: str, n: int) -> ClusterResult:
        from pyspark.ml.feature import VectorAssembler

        started = time.perf_counter()
        vectors = VectorAssembler(inputCols=names, outputCol="features").transform(df).select(order_column, "features").cache()
        vectors.count()
        model = self.estimator().fit(vectors)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        predictions = model.transform(vectors).select(order_column, "prediction").toPandas()
        vectors.unpersist()
        predictions = predictions.sort_values(order_column, kind="stable")
        labels = predictions["prediction"].to_numpy(dtype=np.int64)
        original_centres, fitted = model_centres(model, self.algorithm)
        labels, centres = relabel_by_size(labels, original_centres)
        order = [int(np.flatnonzero((original_centres == c).all(axis=1))[0]) for c in centres]
        predictor = model_predictor(model, self.algorithm, original_centres, fitted, names, order)
        n_iter = fitted.get("n_iter")
        params: dict[str, Any] = {"n_clusters": int(len(centres)), "random_state": self.random_state, "max_iter": self.max_iter, "master": self.master}
        if order_column != "row":
            params["_ids"] = predictions[order_column].to_numpy()
        return ClusterResult(
            labels=labels,
            centres=centres,
            backend=self.name,
            algorithm=self.algorithm,
            params=params,
            timings={"fit_s": fit_s, "collect_s": time.perf_counter() - started},
            n_iter=n_iter,
            predictor=predictor,
        )


def model_centres(model, algorithm: str) -> tuple[np.ndarray, dict[str, Any]]:
    """A fitted MLlib model's centres (a mixture's means), in Spark's numbering, and what else
    its predictor needs (a mixture's weights and covariances; the iterations run)."""
    if algorithm == "gmm":
        gaussians = model.gaussiansDF.toPandas()
        centres = np.array([np.asarray(m) for m in gaussians["mean"]])
        covariances = np.array([np.asarray(c.toArray()) for c in gaussians["cov"]])
        return centres, {"weights": np.asarray(model.weights), "covariances": covariances, "n_iter": None}
    centres = np.array([np.asarray(c) for c in model.clusterCenters()])
    return centres, {"n_iter": int(model.summary.numIter) if hasattr(model.summary, "numIter") else None}


def model_predictor(model, algorithm: str, centres: np.ndarray, fitted: dict[str, Any], names: list[str], order: list[int]):
    """Assigns new points as the model does, with clusters renumbered by `order` (``order[new]``
    is Spark's number); `centres` and `fitted` as `model_centres` gives them."""
    if algorithm == "gmm":
        return gaussian_predictor(fitted["weights"][order], centres[order], fitted["covariances"][order])
    if algorithm == "bisecting-kmeans":
        return _spark_predictor(model, names, np.argsort(order))
    return nearest_centre_predictor(centres[order])


def _spark_predictor(model, names: list[str], new_number: np.ndarray):
    """Predict with the fitted Spark model itself (bisecting k-means descends its tree of splits)."""

    def predict(points: np.ndarray) -> np.ndarray:
        import pandas as pd
        from pyspark.ml.feature import VectorAssembler
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        frame = pd.DataFrame(np.asarray(points, dtype=np.float64), columns=names)
        frame.insert(0, "row", np.arange(len(frame)))
        vectors = VectorAssembler(inputCols=names, outputCol="features").transform(spark.createDataFrame(frame))
        out = model.transform(vectors).select("row", "prediction").toPandas().sort_values("row")
        return new_number[out["prediction"].to_numpy(dtype=np.int64)]

    return predict


def gaussian_predictor(weights: np.ndarray, means: np.ndarray, covariances: np.ndarray):
    """Most probable component of a Gaussian mixture, as Spark's GaussianMixtureModel predicts."""
    from scipy.stats import multivariate_normal

    def predict(points: np.ndarray) -> np.ndarray:
        scores = np.column_stack([
            np.log(w) + multivariate_normal(mean=m, cov=c, allow_singular=True).logpdf(points)
            for w, m, c in zip(weights, means, covariances)
        ])
        return scores.argmax(axis=1)

    return predict
