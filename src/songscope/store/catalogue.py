"""The catalogue in both stores: one ingest written to the database and the lake together.

All or nothing: the ingest's lake files and the new catalogue snapshot are written inside the
database transaction, so a failure anywhere leaves the database as it was (and the lake's
catalogue unchanged; at most an orphaned ``ingest/<run>/`` folder remains, which nothing reads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyarrow as pa

from songscope.store import db, keys
from songscope.store.lake import Lake, LakeError
from songscope.store.store import Store


@dataclass
class StoredIngest:
    """What one ingest wrote: the database's record, the lake keys, the catalogue's size after."""

    record: db.IngestRecord
    lake_keys: dict[str, str] = field(default_factory=dict)
    catalogue_rows: int = 0


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _merge_catalogue(lake: Lake, new_tracks: pd.DataFrame) -> pa.Table:
    """The previous catalogue plus the tracks whose ids it does not hold yet."""
    new = _to_arrow(new_tracks)
    if not lake.exists(keys.CATALOGUE):
        return new
    old = lake.read_table(keys.CATALOGUE)
    known = set(old.column("track_id").to_pylist())
    fresh = new_tracks[~new_tracks["track_id"].isin(known)]
    if fresh.empty:
        return old
    return _to_arrow(pd.concat([old.to_pandas(), fresh], ignore_index=True))


def write_ingest(store: Store, *, run_id: str, started_at: datetime, read, cleaned) -> StoredIngest:
    """Store one ingest (`read`: an `ingest.IngestResult`, `cleaned`: a `clean.CleanResult`) in
    the database and the lake, in one database transaction."""
    lake = store.lake
    lake_keys: dict[str, str] = {}
    catalogue_rows = 0

    def write_lake() -> None:
        nonlocal catalogue_rows
        files = {"tracks": cleaned.tracks, "rejected": read.rejected, "provenance": cleaned.provenance}
        for name, frame in files.items():
            lake_keys[name] = lake.write_table(keys.ingest_file(run_id, f"{name}.parquet"), _to_arrow(frame))
        report = {"run_id": run_id, **read.summary(), "clean": cleaned.report.to_dict()}
        lake_keys["report"] = lake.write_bytes(keys.ingest_file(run_id, "report.json"), json.dumps(report, indent=2, default=str).encode())
        catalogue = _merge_catalogue(lake, cleaned.tracks)
        lake_keys["catalogue"] = lake.write_table(keys.CATALOGUE, catalogue)
        # Read back what readers will see, so a broken write is caught before the commit.
        catalogue_rows = lake.read_table(keys.CATALOGUE, columns=["track_id"]).num_rows
        if catalogue_rows != catalogue.num_rows:
            raise LakeError(f"{lake.uri(keys.CATALOGUE)} reads back {catalogue_rows} rows, wrote {catalogue.num_rows}")

    record = db.record_ingest(
        store.db,
        run_id=run_id,
        started_at=started_at,
        source_summaries=read.sources,
        clean_tracks=cleaned.tracks,
        provenance=cleaned.provenance,
        rejected=read.rejected,
        duplicates=cleaned.duplicates,
        report=cleaned.report.to_dict(),
        rows_read=read.rows_read,
        lake_uri=lake.uri(keys.ingest_folder(run_id)),
        before_commit=write_lake,
    )
    store.forget()
    return StoredIngest(record, lake_keys, catalogue_rows)
