"""One file of the catalogue table: written as Parquet, then read back before it counts.

Its own module because two writers use it: the stores' writer (`store.catalogue`) and the
workers that load an ingest in parallel (`store.staging`), which `store.catalogue` calls.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from songscope.store import keys
from songscope.store.lake import Lake, LakeError

#: Rows per Parquet row group inside a file.
ROW_GROUP_ROWS = 64_000


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    return buffer.getvalue()


def write_catalogue_part(lake: Lake, run_id: str, number: int, tracks: pd.DataFrame, name=keys.catalogue_part) -> tuple[str, int, int]:
    """File `number` of the run's new tracks (or label updates, by `name`), at most `store.catalogue.PART_ROWS`
    rows, read back before it counts: (key, rows, bytes)."""
    part = _to_arrow(tracks)
    data = _parquet_bytes(part)
    key = name(run_id, number)
    lake.write_bytes(key, data, fresh=True)
    # Read back what readers will see, so a broken write fails the ingest before its commit.
    if lake.parquet_rows(key) != part.num_rows:
        raise LakeError(f"{lake.uri(key)} reads back {lake.parquet_rows(key)} rows, wrote {part.num_rows}")
    return key, part.num_rows, len(data)
