"""The lake's catalogue table (and any other lake files) as a Spark DataFrame, read by the executors.

Local and ``file://`` lakes are read by Spark's own Parquet reader. An ``s3://`` lake is read
without hadoop-aws (no Maven here, and often none on a locked-down cluster): the list of files is
distributed, one task per file, and each task reads its file with pyarrow, so no row passes
through the driver. The executors need songscope installed and the S3 credentials in their
environment (the standard AWS variables or an instance role); the endpoint travels with the task,
the credentials never do. With hadoop-aws on the cluster, pass ``s3a://`` URIs instead.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pyarrow as pa

from songscope import schema

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession


def catalogue_schema(label_columns: list[str]) -> pa.Schema:
    """The catalogue's columns as every reader sees them: canonical, flags, then labels."""
    fields = []
    for name in schema.CANONICAL_COLUMNS:
        column = schema.NUMERIC_BY_NAME.get(name)
        if name in schema.ARTIST_COLUMNS:  # lists in the lake (`store.catalogue_parts`)
            fields.append((name, pa.list_(pa.string())))
        else:
            fields.append((name, pa.string() if column is None else (pa.int64() if column.integer else pa.float64())))
    fields += [("is_outlier", pa.bool_()), ("outlier_rules", pa.string())]
    fields += [(name, pa.string()) for name in label_columns]
    return pa.schema(fields)


def read_catalogue(spark: SparkSession, uris: list[str], label_columns: list[str], s3_endpoint: str | None = None) -> DataFrame:
    """The catalogue files at `uris` as one DataFrame in `catalogue_schema` (files without a
    label column read it as null)."""
    return read_lake_files(spark, uris, catalogue_schema(label_columns), s3_endpoint)


def read_lake_files(spark: SparkSession, uris: list[str], target: pa.Schema, s3_endpoint: str | None = None) -> DataFrame:
    """The Parquet files at `uris` (paths, ``file://`` or ``s3://``; see the module) as one
    DataFrame in the `target` schema: columns cast to it, a column a file lacks read as null."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    if not any(uri.startswith("s3://") for uri in uris):
        frame = spark.read.option("mergeSchema", "true").parquet(*[u if "://" in u else os.path.abspath(u) for u in uris])
        present = set(frame.columns)
        columns = [F.col(f"`{f.name}`").cast(from_arrow_schema(pa.schema([f]))[0].dataType) if f.name in present
                   else F.lit(None).cast(from_arrow_schema(pa.schema([f]))[0].dataType).alias(f.name) for f in target]
        return frame.select(*columns)

    def read(batches):
        import pyarrow.parquet as pq

        from songscope.store.lake import resolve

        for batch in batches:
            for uri in batch.column(0).to_pylist():
                fs, path = resolve(uri, s3_endpoint)
                table = pq.read_table(path, filesystem=fs)
                columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
                           for f in target]
                yield from pa.table(columns, schema=target).to_batches(max_chunksize=65_536)

    files = spark.createDataFrame([(uri,) for uri in uris], "uri string").repartition(max(1, len(uris)))
    return files.mapInArrow(read, from_arrow_schema(target))
