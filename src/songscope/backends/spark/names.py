"""The catalogue's name coordinates placed by the executors: one task per catalogue file.

Each task reads its file's name columns from the lake, places them by the name model (sent with
the task: a few MB at most) and writes their coordinates back to the lake
(`backends.base.place_part_names`, the local backend's own function), so no song's name passes
through the driver; what returns is a count per file. The executors reach the lake as they reach
the catalogue (`catalogue.read_lake_files`): a folder they share, or S3 with the credentials in
their own environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from songscope.recommend.names import NameModel
    from songscope.store.lake import Lake


def place_names_on_spark(spark: SparkSession, lake: Lake, model: NameModel, part_keys: list[str]) -> int:
    """Place the songs of the catalogue files `part_keys` on the executors; returns how many songs."""
    if not part_keys:
        return 0
    model_bytes = model.to_bytes()

    def place(batches):
        import pyarrow as pa

        from songscope.backends.base import place_part_names
        from songscope.recommend.names import NameModel

        placed_by = NameModel.from_bytes(model_bytes)
        for batch in batches:
            keys = batch.column(0).to_pylist()
            rows = [len(place_part_names(lake, placed_by, key)) for key in keys]
            yield pa.record_batch([pa.array(keys, pa.string()), pa.array(rows, pa.int64())], names=["part", "songs"])

    tasks = spark.createDataFrame([(key,) for key in part_keys], "part string").repartition(len(part_keys))
    placed = tasks.mapInArrow(place, "part string, songs long").collect()
    return int(sum(row["songs"] for row in placed))
