"""Clustering on Spark with the driver's memory bounded: fit, assign, measure, sample.

- The feature space is fitted from statistics the executors aggregate over the encoded columns
  (`FeatureSpace.fit_statistics`): mean and standard deviation, or median and IQR, and for PCA
  the covariance.
- MLlib fits the model; the executors assign every song and write the assignments as Parquet
  files; the driver streams them into the stores in bounded chunks.
- The internal indices that are sums over songs are computed exactly, by aggregation in the
  shared space: SSE, Calinski-Harabasz and Davies-Bouldin (their definitions as scikit-learn's,
  which the local backend uses; a contract test checks they agree).
- A fixed-seed sample of at most `SAMPLE_ROWS` songs (chosen by a hash of the track id, so the
  same songs whatever the partitioning) comes to the driver for what needs songs side by side:
  the silhouette, the Kruskal-Wallis tests, cluster descriptions, bootstrap stability, the null
  model and the report. Its size is reported with every figure computed on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from songscope.backends.base import SAMPLE_ROWS
from songscope.cluster.base import ClusterResult, size_order

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from songscope.features import FeatureSpace

_HASH_RANGE = 1_000_000_007


def fit_space(tracks: DataFrame, space: FeatureSpace, *, exact_max_rows: int = 1_000_000) -> FeatureSpace:
    """Fit `space` from aggregates over `tracks` (see the module)."""
    from pyspark.sql import functions as F

    encoded = tracks.selectExpr(*[f"{expr} AS e{i}" for i, expr in enumerate(space.encoded_sql())])
    names = encoded.columns
    if space.scaling == "robust":
        n = encoded.count()
        quantile = (lambda c: F.expr(f"percentile({c}, array(0.25, 0.5, 0.75))")) if n <= exact_max_rows else (
            lambda c: F.percentile_approx(c, [0.25, 0.5, 0.75], 10_000))
        row = encoded.agg(*[quantile(c).alias(c) for c in names], *[F.stddev_pop(c).alias(f"sd_{c}") for c in names]).first()
        q = np.array([row[c] for c in names], dtype=np.float64)
        centre, scale = q[:, 1], q[:, 2] - q[:, 0]
        scale = np.where(scale > 0, scale, np.array([row[f"sd_{c}"] for c in names], dtype=np.float64))
    else:
        row = encoded.agg(*[F.mean(c).alias(f"m_{c}") for c in names], *[F.stddev_pop(c).alias(f"sd_{c}") for c in names]).first()
        centre = np.array([row[f"m_{c}"] for c in names], dtype=np.float64)
        scale = np.array([row[f"sd_{c}"] for c in names], dtype=np.float64)
    if space.pca is None:
        return space.fit_statistics(centre, scale)
    products = [F.mean(F.col(a) * F.col(b)).alias(f"p_{i}_{j}") for i, a in enumerate(names) for j, b in enumerate(names) if j >= i]
    row = encoded.agg(*[F.mean(c).alias(f"m_{c}") for c in names], *products).first()
    mean = np.array([row[f"m_{c}"] for c in names], dtype=np.float64)
    covariance = np.empty((len(names), len(names)))
    for i in range(len(names)):
        for j in range(i, len(names)):
            covariance[i, j] = covariance[j, i] = row[f"p_{i}_{j}"] - mean[i] * mean[j]
    return space.fit_statistics(centre, scale, encoded_mean=mean, encoded_covariance=covariance)


def hash_sample(frame: DataFrame, rows: int, songs: int, seed: int) -> DataFrame:
    """About `rows` of `frame`'s `songs` rows, chosen by a hash of the track id and `seed`: the
    same songs whatever the partitioning or the order of the files (all of them when `songs` <= `rows`)."""
    from pyspark.sql import functions as F

    if songs <= rows:
        return frame
    threshold = int(rows / songs * _HASH_RANGE)
    return frame.where(F.pmod(F.xxhash64(F.col("track_id"), F.lit(seed)), F.lit(_HASH_RANGE)) < threshold)


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """Songs from Spark as the local backend types them (whole-number columns as Int64)."""
    from songscope import schema
    from songscope.artists import SEPARATOR

    songs = frame.toPandas()
    for column in songs.columns:  # integer columns with gaps arrive as floats
        spec = schema.NUMERIC_BY_NAME.get(column)
        if spec is not None and spec.integer:
            songs[column] = songs[column].astype("Int64")
        elif column in schema.ARTIST_COLUMNS:  # lists in the lake, joined in songscope's frames (`songscope.artists`)
            songs[column] = [None if names is None else SEPARATOR.join(names) for names in songs[column].to_numpy(dtype=object)]
    return songs


def sample_songs(tracks: DataFrame, rows: int, seed: int) -> tuple[pd.DataFrame, int]:
    """A fixed-seed sample of about `rows` songs (by track id) and the catalogue's size."""
    songs = tracks.count()
    return to_pandas(hash_sample(tracks, rows, songs, seed).orderBy("track_id")), songs


@dataclass
class SparkClustering:
    """What a Spark clustering hands back to the driver: never a column the size of the catalogue."""

    #: The model's result on the sample: `labels` are the sample's, `centres` and `predictor` the model's.
    result: ClusterResult
    #: The sampled songs (catalogue columns), sorted by track id, and their clusters in `result.labels`.
    sample: pd.DataFrame
    songs: int
    #: Songs per cluster, exact.
    sizes: np.ndarray
    #: SSE, Calinski-Harabasz, Davies-Bouldin over every song, exact.
    metrics: dict[str, Any]
    #: Where the executors wrote every song's cluster: (URI, rows) of each file.
    assignment_files: list[tuple[str, int]] = field(default_factory=list)
    #: What continues what, when the clusters were numbered as a previous run's (see `cluster_on_spark`).
    identities: list[dict] | None = None


def cluster_on_spark(tracks: DataFrame, space: FeatureSpace, engine, *, seed: int, staging: str, s3_endpoint: str | None = None,
                     sample_rows: int = SAMPLE_ROWS, previous: DataFrame | None = None, previous_k: int = 0) -> SparkClustering:
    """Fit `engine` (a `MLlibAlgorithm`) on `tracks` in the fitted `space`; see the module.

    The clusters are numbered by size; with `previous` (a previous run's track_id and cluster, of
    `previous_k` clusters), as the previous clusters they continue instead
    (`evaluate.matching`), from the songs each pair shares, counted in the same pass that counts
    the clusters' sizes."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    from songscope.backends.spark.mllib import model_centres, model_predictor
    from songscope.backends.spark.scratch import write_scratch

    started = time.perf_counter()
    names = [f"x{i}" for i in range(len(space.output_names))]
    projected = tracks.selectExpr("track_id", *[f"{expr} AS {name}" for expr, name in zip(space.sql_expressions(), names)])
    vectors = VectorAssembler(inputCols=names, outputCol="features").transform(projected).persist()
    songs = vectors.count()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    model = engine.estimator().fit(vectors)
    fit_s = time.perf_counter() - started

    started = time.perf_counter()
    spark_centres, fitted = model_centres(model, engine.algorithm)
    predicted = model.transform(vectors).select("track_id", *names, F.col("prediction").cast("int").alias("_spark_cluster"))
    k = len(spark_centres)
    spark_sizes = np.zeros(k, dtype=np.int64)
    if previous is None:
        pairs = predicted.groupBy("_spark_cluster").count().collect()
    else:
        earlier = previous.where(F.col("cluster") >= 0).select("track_id", F.col("cluster").cast("int").alias("_previous"))
        pairs = predicted.join(earlier, "track_id", "left").groupBy("_spark_cluster", "_previous").count().collect()
    for row in pairs:
        spark_sizes[row["_spark_cluster"]] += row["count"]
    order = [int(i) for i in size_order(spark_sizes, spark_centres)]
    new_number = np.empty(k, dtype=np.int64)
    new_number[order] = np.arange(k)
    identities = None
    if previous is not None:
        from songscope.evaluate.matching import continuing_numbers_of

        shared = np.zeros((k, max(previous_k, 1 + max((r["_previous"] for r in pairs if r["_previous"] is not None), default=-1))))
        for row in pairs:
            if row["_previous"] is not None:
                shared[new_number[row["_spark_cluster"]], row["_previous"]] += row["count"]
        continuing, identities = continuing_numbers_of(shared)
        new_number = continuing[new_number]
        order = [int(i) for i in np.argsort(new_number)]
    renumber = F.array(*[F.lit(int(v)) for v in new_number])
    assigned = predicted.withColumn("cluster", F.element_at(renumber, F.col("_spark_cluster") + 1)).drop("_spark_cluster").persist()
    vectors.unpersist()
    centres, sizes = spark_centres[order], spark_sizes[order]
    metrics = exact_indices(assigned, names, k, songs)
    assign_s = time.perf_counter() - started

    started = time.perf_counter()
    files = write_scratch(assigned.select("track_id", "cluster"), staging, s3_endpoint)
    stage_s = time.perf_counter() - started

    started = time.perf_counter()
    chosen = hash_sample(assigned, sample_rows, songs, seed).select("track_id", "cluster")
    sample = to_pandas(tracks.join(chosen, "track_id").orderBy("track_id"))
    assigned.unpersist()
    labels = sample.pop("cluster").to_numpy(dtype=np.int64)
    sample_s = time.perf_counter() - started
    result = ClusterResult(
        labels=labels, centres=centres, backend="spark", algorithm=engine.algorithm,
        params={"n_clusters": int(k), "random_state": engine.random_state, "max_iter": engine.max_iter, "master": engine.master,
                "sample_n": int(len(sample))},
        timings={"load_s": load_s, "fit_s": fit_s, "assign_s": assign_s, "stage_s": stage_s, "sample_s": sample_s},
        n_iter=fitted.get("n_iter"), predictor=model_predictor(model, engine.algorithm, spark_centres, fitted, names, order),
    )
    return SparkClustering(result, sample, int(songs), sizes, metrics, files, identities)


def exact_indices(assigned: DataFrame, names: list[str], k: int, songs: int) -> dict[str, Any]:
    """SSE, Calinski-Harabasz and Davies-Bouldin over every song, as scikit-learn defines the
    last two, from two aggregations (the members' means, then distances to them)."""
    from pyspark.sql import functions as F

    rows = assigned.groupBy("cluster").agg(F.count(F.lit(1)).alias("n"), *[F.sum(c).alias(c) for c in names]).collect()
    n_of = np.zeros(k)
    sums = np.zeros((k, len(names)))
    for row in rows:
        n_of[row["cluster"]] = row["n"]
        sums[row["cluster"]] = [row[c] for c in names]
    present = n_of > 0
    means = np.divide(sums, n_of[:, None], out=np.zeros_like(sums), where=n_of[:, None] > 0)
    means_column = F.array(*[F.array(*[F.lit(float(v)) for v in mean]) for mean in means])
    centre = F.element_at(means_column, F.col("cluster") + 1)
    squared = sum((F.col(c) - F.element_at(centre, i + 1)) ** 2 for i, c in enumerate(names))
    spread = assigned.select("cluster", squared.alias("d2")).groupBy("cluster").agg(F.sum("d2").alias("sse"), F.sum(F.sqrt("d2")).alias("dist")).collect()
    sse_of, dist_of = np.zeros(k), np.zeros(k)
    for row in spread:
        sse_of[row["cluster"]], dist_of[row["cluster"]] = row["sse"], row["dist"]
    sse = float(sse_of.sum())
    out: dict[str, Any] = {"n": int(songs), "n_clusters": int(present.sum()), "noise_share": 0.0, "sse": sse}
    used = int(present.sum())
    if used < 2 or used >= songs:
        return out | {"davies_bouldin": float("nan"), "calinski_harabasz": float("nan")}
    overall = sums[present].sum(axis=0) / n_of.sum()
    between = float((n_of[present] * ((means[present] - overall) ** 2).sum(axis=1)).sum())
    out["calinski_harabasz"] = 1.0 if sse == 0 else between * (songs - used) / (sse * (used - 1))
    intra = dist_of[present] / n_of[present]
    m = means[present]
    centroid_distances = np.sqrt(((m[:, None, :] - m[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(intra, 0) or np.allclose(centroid_distances, 0):
        out["davies_bouldin"] = 0.0
    else:
        centroid_distances[centroid_distances == 0] = np.inf
        out["davies_bouldin"] = float(np.mean(np.max((intra[:, None] + intra[None, :]) / centroid_distances, axis=1)))
    return out
