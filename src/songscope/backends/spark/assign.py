"""Songs that arrived after a clustering, put into its clusters on Spark with the driver's memory
bounded (`service.assign --engine spark`).

- The executors read the catalogue and leave out the songs the run already has, by a left join
  with the run's lake files (`ClusterRun.assignment_uris`).
- Each new song's nearest centre is found in the executors with the local backend's own
  functions (`FeatureSpace.transform`, `cluster.base.nearest_centres`), so both backends put
  every song in the same cluster at the same distance; the executors write the assignments as
  Parquet for the driver to stream into the stores in bounded chunks.
- The drift's reference (the fitted songs' distances to their own centre) is measured on a
  fixed-seed hash sample of them (`cluster.hash_sample`); the new songs' counts, poor fits and
  median distance are aggregates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from songscope.backends.base import Placement
from songscope.cluster.base import nearest_centres
from songscope.evaluate.drift import FitReference

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

#: Up to this many new songs their median distance is exact; above, Spark's approximate percentile.
EXACT_MEDIAN_ROWS = 1_000_000


def assign_on_spark(tracks: DataFrame, assigned: DataFrame, space: dict[str, Any], centres: np.ndarray, numbers: np.ndarray, *,
                    seed: int, reference_songs: int, staging: str, s3_endpoint: str | None = None,
                    release: Callable[[], None] = lambda: None) -> Placement:
    """Assign the songs of `tracks` that `assigned` (a run's track_id and cluster) lacks to the
    nearest of `centres` (numbered `numbers`) in the fitted feature space `space`
    (`FeatureSpace.to_dict()`); see the module. The placement's chunks are read from the files the
    executors wrote under `staging`; `release` removes that folder. Never a column the size of
    the catalogue comes to the driver."""
    from pyspark.sql import functions as F

    from songscope.backends.spark.cluster import hash_sample, to_pandas
    from songscope.backends.spark.scratch import read_scratch, write_scratch
    from songscope.features import FeatureSpace

    fitted_space = FeatureSpace.from_dict(space)
    columns = fitted_space.input_columns()  # the circular and binary features it encodes too
    songs = tracks.select("track_id", *columns).join(assigned.select("track_id", F.col("cluster").cast("long")), "track_id", "left").persist()
    try:
        fitted = songs.where(F.col("cluster").isNotNull())
        fitted_songs = fitted.count()
        sample = to_pandas(hash_sample(fitted, reference_songs, fitted_songs, seed).orderBy("track_id"))
        own = sample.pop("cluster").to_numpy(dtype=np.int64)
        clustered = own >= 0
        centre_of = {int(c): i for i, c in enumerate(numbers)}
        X = fitted_space.transform(sample[clustered].reset_index(drop=True))
        own_centres = centres[[centre_of[int(c)] for c in own[clustered]]]
        reference = FitReference.measure(np.sqrt(((X - own_centres) ** 2).sum(axis=1)), own[clustered])

        placed = songs.where(F.col("cluster").isNull()).drop("cluster").mapInArrow(
            _nearest(space, centres, numbers), "track_id string, cluster long, distance double").persist()
        try:
            new_songs = placed.count()
            if not new_songs:
                return Placement(reference, 0, int(fitted_songs), None, {}, {}, lambda: iter(()), release)
            files = write_scratch(placed, staging, s3_endpoint)
            limits = F.create_map(*[item for c in numbers for item in (F.lit(int(c)), F.lit(reference.limits.get(int(c), reference.overall)))])
            poor = (F.col("distance") > F.element_at(limits, F.col("cluster"))).cast("long")
            rows = placed.groupBy("cluster").agg(F.count(F.lit(1)).alias("n"), F.sum(poor).alias("poor")).collect()
            median = F.percentile("distance", 0.5) if new_songs <= EXACT_MEDIAN_ROWS else F.percentile_approx("distance", 0.5, 10_000)
            median_distance = float(placed.agg(median.alias("m")).first()["m"])
        finally:
            placed.unpersist()
    finally:
        songs.unpersist()
    return Placement(reference, int(new_songs), int(fitted_songs), median_distance,
                     {int(r["cluster"]): int(r["n"]) for r in rows}, {int(r["cluster"]): int(r["poor"]) for r in rows},
                     lambda: (read_scratch(uri, s3_endpoint) for uri, _ in files), release)


def _nearest(space: dict[str, Any], centres: np.ndarray, numbers: np.ndarray):
    """The executors' step: each batch of new songs transformed and matched to its nearest centre."""

    def place(batches):
        import pyarrow as pa

        from songscope.features import FeatureSpace

        fitted_space = FeatureSpace.from_dict(space)
        for batch in batches:
            nearest, distance = nearest_centres(fitted_space.transform(batch.to_pandas()), centres)
            yield pa.RecordBatch.from_pydict({"track_id": batch.column("track_id"), "cluster": pa.array(numbers[nearest], pa.int64()),
                                              "distance": pa.array(distance, pa.float64())})

    return place
