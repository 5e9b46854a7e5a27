"""Provenance: which row of which source file became which clean track, kept in the lake alone.

Each ingest writes ``ingest/<run>/provenance.parquet`` (`keys.ingest_provenance`) in the
transaction that commits it: one row (track_id, source_id, source, line) for every row of its
sources that cleaning kept or merged, pointing at the track it became, or at the stored track
that absorbed it when it repeats a song an earlier ingest holds under another id. A row that
an earlier ingest already recorded (the same source, URI and content, read again, with the same
outcome) is not written twice.

Per-row history is the lake's kind of data (columnar, written once, read in bulk). Up to schema
revision 0013 the database held a second copy in ``track_sources``, at about 4-5 s per million
rows on SQLite; revision 0014 renames that table and `move_from_database` moves its rows here.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from songscope import schema
from songscope.store import db, keys
from songscope.store.lake import Lake

#: A provenance file's columns: the track, the source (its id in the database's ``sources``
#: table, which tells two contents of one URI apart, and its URI) and the row's line in it.
SCHEMA = pa.schema([("track_id", pa.string()), ("source_id", pa.int64()), ("source", pa.string()), ("line", pa.int64())])
#: Rows a migration reads from the database and writes at a time.
_MOVE_CHUNK = 500_000


#: The columns that say which row became which track: a row is recorded once by these.
_KEY = ["track_id", "source_id", "line"]


def credited(rows: pd.DataFrame, source_ids: dict[str, int], absorbed_by: dict[str, str], recorded: pa.Table | None = None) -> pa.Table:
    """One chunk of an ingest's provenance as cleaning made it (track_id, source URI, line), as
    the lake keeps it: each row credited to the stored track that absorbed its track
    (`absorbed_by`: this ingest's id -> the stored id), without the rows in `recorded` (see
    `recorded`), in the chunk's order."""
    track_ids = rows["track_id"]
    if absorbed_by:
        absorbed = track_ids.isin(list(absorbed_by)).to_numpy()
        if absorbed.any():
            track_ids = track_ids.astype(object).copy()
            track_ids[absorbed] = [absorbed_by[t] for t in track_ids[absorbed]]
    table = pa.table({
        "track_id": pa.array(track_ids, pa.string()),
        "source_id": pa.array(rows[schema.SOURCE_COLUMN].map(source_ids).to_numpy(dtype=np.int64)),
        "source": pa.array(rows[schema.SOURCE_COLUMN], pa.string()),
        "line": pa.array(rows[schema.LINE_COLUMN].to_numpy(dtype=np.int64)),
    })
    if recorded is not None and recorded.num_rows and table.num_rows:
        # An anti-join on Arrow's columns (no Python object per row); a join keeps no order, so the position goes along.
        numbered = table.append_column("_position", pa.array(np.arange(table.num_rows)))
        kept = numbered.join(recorded, keys=_KEY, join_type="left anti").sort_by("_position")
        table = kept.drop_columns(["_position"]).select(SCHEMA.names)
    return table


def committed_files(conn: Connection, lake: Lake) -> list[str]:
    """The provenance files of the committed ingests, oldest first."""
    runs = list(conn.execute(sa.select(db.ingest_runs.c.run_id).order_by(db.ingest_runs.c.commit_order)).scalars())
    present = set(lake.keys(keys.INGEST_FOLDER))
    return [key for key in map(keys.ingest_provenance, runs) if key in present]


def recorded(lake: Lake, files: Iterable[str], source_ids: Iterable[int]) -> pa.Table | None:
    """The rows (track_id, source_id, line) that the committed ingests' provenance `files`
    (`committed_files`) recorded for `source_ids` (sources read again), None when there are none.
    Reads only those sources' rows of each file."""
    wanted = pa.array(sorted(set(source_ids)), pa.int64())
    found = []
    if len(wanted):
        for key in files:
            table = lake.read_table(key, columns=_KEY).cast(pa.schema([SCHEMA.field(name) for name in _KEY]))
            found.append(table.filter(pc.is_in(table["source_id"], value_set=wanted)))
    return pa.concat_tables(found) if found else None


def read(conn: Connection, lake: Lake, track_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Every committed ingest's provenance (track_id, source_id, source, line), in ingest order;
    only the rows of `track_ids` when given."""
    wanted = None if track_ids is None else pa.array(sorted(set(track_ids)), pa.string())
    tables = []
    for key in committed_files(conn, lake):
        table = lake.read_table(key, columns=SCHEMA.names).cast(SCHEMA)
        tables.append(table if wanted is None else table.filter(pc.is_in(table["track_id"], value_set=wanted)))
    return pa.concat_tables(tables).to_pandas() if tables else SCHEMA.empty_table().to_pandas()


def needs_move(conn: Connection) -> bool:
    """Whether the database still holds provenance rows of a release before revision 0014."""
    return sa.inspect(conn).has_table(db.legacy_track_sources.name)


def move_from_database(conn: Connection, lake: Lake) -> int:
    """Move the rows of ``legacy_track_sources`` into the lake, then drop the table; the caller
    holds the catalogue's lock in `conn`'s transaction. Returns the rows moved.

    The rows of each source go to the provenance file of the ingest that first read it
    (``sources.first_run_id``), replacing the copy that ingest wrote itself: the database was the
    record (it credited absorbed tracks and skipped rows read twice), the lake's file a raw copy.
    A file is written whole or not at all, and the table is dropped last: a failure at any point
    leaves the rows in the database and the next use moves them all again.
    """
    legacy, sources = db.legacy_track_sources, db.sources
    expected = int(conn.execute(sa.select(sa.func.count()).select_from(legacy)).scalar() or 0)
    moved = 0
    runs = list(conn.execute(sa.select(db.ingest_runs.c.run_id).order_by(db.ingest_runs.c.commit_order)).scalars())
    for run_id in runs:
        source_ids = list(conn.execute(sa.select(sources.c.source_id).where(sources.c.first_run_id == run_id)).scalars())
        key = keys.ingest_provenance(run_id)
        if not source_ids:
            lake.delete(key)  # an ingest of known sources only: the database kept none of its rows
            continue
        query = (sa.select(legacy.c.track_id, legacy.c.source_id, sources.c.uri.label("source"), legacy.c.line)
                 .join_from(legacy, sources, legacy.c.source_id == sources.c.source_id)
                 .where(legacy.c.source_id.in_(source_ids)).order_by(legacy.c.source_id, legacy.c.line, legacy.c.track_id))
        result = conn.execute(query.execution_options(stream_results=True))  # a run may hold millions of rows
        counted = [0]

        def chunks(result=result, counted=counted) -> Iterable[pa.Table]:
            for part in result.partitions(_MOVE_CHUNK):
                counted[0] += len(part)
                yield pa.Table.from_pylist([row._asdict() for row in part], schema=SCHEMA)

        try:
            lake.write_tables(key, chunks(), SCHEMA)
        finally:
            result.close()  # read to the end, or abandoned by a failed write: the connection is free again
        moved += counted[0]
    if moved != expected:
        raise db.DatabaseError(f"{expected - moved} of the {expected} rows of {legacy.name} name no source an ingest first read; "
                               "they were left in the database (nothing was dropped): please report this")
    legacy.drop(conn)
    return moved
