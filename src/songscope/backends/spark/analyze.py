"""Audio analysis on Spark: the file list is spread over the executors, each of which runs the
local analyser's own function (`audio.analyze.analyse_file`) on its files in `mapInArrow`; only
each song's row of descriptors (a few hundred bytes) comes back to the driver, where it is
validated and cleaned as the local backend does (`backends.base.cleaned_analysis`). The
executors read the files by their paths, so every worker must see the library at the same path
(one machine, or a shared mount)."""

from __future__ import annotations

import pyarrow as pa

from songscope.jsonable import dumps

#: What an executor sends back per file: its path, and either the row (JSON) or the reason.
RESULT_SCHEMA = pa.schema([("path", pa.string()), ("row", pa.string()), ("reason", pa.string())])


def analyse_on_spark(spark, files: list) -> list:
    """`audio.analyze` results for `files` (`AudioFile`s), analysed in the executors, one task per file."""
    import json

    import pandas as pd
    from pyspark.sql.pandas.types import from_arrow_schema

    from songscope.audio.analyze import Analysed, Rejected

    if not files:
        return []
    by_path = {str(f.path): f for f in files}
    plan = pd.DataFrame({"path": [str(f.path) for f in files], "root": [None if f.root is None else str(f.root) for f in files],
                         "size": [f.size for f in files], "mtime_ns": [f.mtime_ns for f in files]})
    tasks = spark.createDataFrame(plan).repartition(len(files))
    found = tasks.mapInArrow(_analyse_batches, from_arrow_schema(RESULT_SCHEMA)).toPandas()
    results = []
    for row in found.itertuples(index=False):
        file = by_path[row.path]
        results.append(Analysed(file, json.loads(row.row)) if row.reason is None else Rejected(file, row.reason))
    return results


def _analyse_batches(batches):
    """In an executor: each file of each batch analysed, its result as one row of `RESULT_SCHEMA`."""
    from pathlib import Path

    from songscope.audio.analyze import Analysed, AudioFile, analyse_file

    for batch in batches:
        out = {"path": [], "row": [], "reason": []}
        for task in batch.to_pylist():
            file = AudioFile(Path(task["path"]), None if task["root"] is None else Path(task["root"]), int(task["size"]), int(task["mtime_ns"]))
            result = analyse_file(file)
            out["path"].append(task["path"])
            # orjson writes the shortest text that reads back as the same double: the driver gets the executor's values exactly.
            out["row"].append(dumps(result.row) if isinstance(result, Analysed) else None)
            out["reason"].append(None if isinstance(result, Analysed) else result.reason)
        yield pa.RecordBatch.from_pydict(out, schema=RESULT_SCHEMA)
