"""One ingest loaded by many workers at once, into staging tables that the writer's one
transaction moves into the catalogue.

A catalogue of millions loaded through one process is bounded by that process: on PostgreSQL
and MariaDB the Spark backend's executors load it themselves instead, each its own part, while
the driver holds the catalogue's lock:

1. the driver takes the lock (`db.hold_catalogue`) and creates this ingest's staging tables
   (``staging_<run>_<kind>``, unlogged on PostgreSQL) on a second connection (MariaDB commits
   any transaction that runs DDL, so the catalogue's transaction must never run it);
2. each worker decides which of its tracks are new by the rules `db.IngestWriter` applies, with
   the same functions (`db.known_track_ids`, `db.earlier_near_duplicates`): no other writer can
   change the catalogue while the lock is held, and cleaning left no two rows of one ingest with
   the same id or the same (artist, name, duration), so the parts never interact. It writes its
   new tracks as a catalogue file in the lake and its rows into the staging tables (COPY on
   PostgreSQL, batched inserts on MariaDB), in one transaction of its own;
3. the driver's transaction moves the staging rows into the tables with set-based statements
   (`move`), merges the labels of stored tracks, lists the workers' files in the manifest and
   commits: all or nothing as every ingest, because no reader looks at staging tables and a
   lake file the manifest does not list is a leftover that the next ingest sweeps;
4. the staging tables are dropped. Those of a writer that died are dropped by the next holder
   of the lock (`drop_dead`): a staging table only lives while its writer holds the lock, so one
   seen by the holder is dead.

A worker's task can run more than once (Spark retries a failed task, or speculates): each run
tags its rows with an attempt id of its own, and the driver moves only the rows of the attempts
whose results it received. Workers never update or delete, so they never wait for each other.
SQLite, one file beside the driver, is always loaded by the driver (`db.IngestWriter`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from songscope import schema
from songscope.store import db

#: Databases whose workers load their own part (SQLite is one file beside the driver).
PARALLEL_DIALECTS = ("postgresql", "mysql")
STAGING_PREFIX = "staging_"
_STAGING_NAME = re.compile(r"^staging_[0-9a-z]{12}_[a-z]+$")
#: Stored-track label rows the driver merges at a time.
_MERGE_CHUNK = 100_000


def loads_in_parallel(database: Engine) -> bool:
    return database.dialect.name in PARALLEL_DIALECTS


def _columns(kind: str) -> list[sa.Column]:
    def like(table: sa.Table, *names: str) -> list[sa.Column]:
        return [sa.Column(table.c[n].name, table.c[n].type) for n in names]

    if kind == "tracks":
        return like(db.tracks, *[c.name for c in db.tracks.columns])
    if kind == "artists":
        return like(db.track_artists, *[c.name for c in db.track_artists.columns])
    if kind == "labels":  # `stored`: the track was stored before this ingest, its labels are merged
        return [*like(db.track_labels, "track_id", "name", "value"), sa.Column("stored", sa.Boolean, nullable=False)]
    if kind == "absorbed":  # a new id of this ingest that repeats a stored track (near duplicate)
        return [sa.Column("dropped_track_id", db.TrackId, nullable=False), sa.Column("kept_track_id", db.TrackId, nullable=False)]
    if kind == "rejected":
        return like(db.rejected_rows, "source_id", "line", "columns", "reason", "raw")
    raise ValueError(kind)


KINDS = ("tracks", "artists", "labels", "absorbed", "rejected")


@dataclass(frozen=True)
class Staging:
    """One ingest's staging tables: their shared name prefix and the database's dialect."""

    prefix: str
    dialect: str

    def table(self, kind: str) -> sa.Table:
        # `attempt`: the worker's run that wrote the row (see the module's docstring).
        columns = [sa.Column("attempt", sa.String(32), nullable=False), *_columns(kind)]
        indexes = [sa.Index(f"{self.prefix}_{kind}_dropped", "dropped_track_id")] if kind == "absorbed" else []
        return sa.Table(f"{self.prefix}_{kind}", sa.MetaData(), *columns, *indexes,
                        prefixes=["UNLOGGED"] if self.dialect == "postgresql" else [], **db.TABLE_OPTIONS)


def create(database: Engine) -> Staging:
    """This ingest's empty staging tables, created on a connection of their own."""
    staging = Staging(f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}", database.dialect.name)
    with database.begin() as conn:
        for kind in KINDS:
            staging.table(kind).create(conn)
    return staging


def drop(database: Engine, staging: Staging) -> None:
    _drop_tables(database, [staging.table(kind).name for kind in KINDS])


def _drop_tables(database: Engine, names: list[str]) -> None:
    # IF EXISTS, in one statement: the next holder of the lock may be dropping them too.
    quote = database.dialect.identifier_preparer.quote
    with database.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(name)}")


def drop_dead(database: Engine) -> list[str]:
    """Drop the staging tables of writers that died; only the holder of the catalogue's lock may
    call it (see the module's docstring). Returns the tables' names."""
    if not loads_in_parallel(database):
        return []
    names = [n for n in sa.inspect(database).get_table_names() if _STAGING_NAME.match(n)]
    _drop_tables(database, names)
    return names


@dataclass(frozen=True)
class ParallelLoad:
    """What a worker needs to load its part: picklable, and its repr never shows the database's
    URL (which may hold a password)."""

    db_url: str = field(repr=False)
    lake_url: str
    s3_endpoint: str | None
    run_id: str
    staging: Staging
    #: Source URI -> its id in the `sources` table (written by the driver's transaction).
    source_ids: dict[str, int]
    catalogue_was_empty: bool


@dataclass
class TracksLoaded:
    """What one worker did with its part of the clean tracks."""

    part: int
    attempt: str
    clean_rows: int
    added: int
    known: int
    absorbed: int
    #: The part's catalogue file (key, rows, bytes), None when none of its tracks was new.
    file: tuple[str, int, int] | None


def _worker_engine(job: ParallelLoad) -> Engine:
    return db.engine_for(job.db_url, poolclass=sa.pool.NullPool)


def _new_attempt() -> str:
    return uuid.uuid4().hex


def load_tracks(job: ParallelLoad, part: int, clean_tracks: pd.DataFrame) -> TracksLoaded:
    """Worker side: store part `part` of the clean tracks (unique ids, typed as the local backend
    types them) in the lake and the staging tables. Its new tracks become catalogue file `part`."""
    from songscope.store.catalogue_parts import write_catalogue_part
    from songscope.store.lake import Lake

    near_keys = db.track_near_keys(clean_tracks)
    engine = _worker_engine(job)
    try:
        with engine.begin() as conn:
            ids = clean_tracks["track_id"]
            if job.catalogue_was_empty:
                is_known = np.zeros(len(clean_tracks), dtype=bool)
                earlier = db.earlier_near_duplicates(conn, clean_tracks.iloc[:0])
            else:
                is_known = ids.isin(db.known_track_ids(conn, ids)).to_numpy()
                earlier = db.earlier_near_duplicates(conn, clean_tracks[~is_known], near_keys[~is_known])
            is_new = ~is_known & ~ids.isin(earlier["dropped_track_id"]).to_numpy()
            new_tracks = clean_tracks[is_new].reset_index(drop=True)
            file = write_catalogue_part(Lake(job.lake_url, job.s3_endpoint), job.run_id, part, new_tracks) if len(new_tracks) else None

            track_rows = new_tracks[[c.name for c in db.tracks.columns if c.name in new_tracks.columns]]
            track_rows = track_rows.assign(ingest_run_id=job.run_id, near_key=near_keys[is_new])
            # Labels of an absorbed track are credited to the stored track that absorbed it.
            absorbed_by = dict(zip(earlier["dropped_track_id"], earlier["kept_track_id"]))
            label_columns = [c for c in clean_tracks.columns if c not in schema.STORED_COLUMNS and c not in ("is_outlier", "outlier_rules")]
            labels = db.long_labels(clean_tracks, label_columns)
            if absorbed_by:
                labels["track_id"] = labels["track_id"].map(lambda t: absorbed_by.get(t, t))
            stored_ids = set(ids.to_numpy()[is_known]) | set(absorbed_by.values())
            labels["stored"] = labels["track_id"].isin(stored_ids)
            attempt = _new_attempt()
            for kind, frame in (("tracks", track_rows), ("artists", db.artists_of(new_tracks)), ("labels", labels), ("absorbed", earlier)):
                db.bulk_insert(conn, job.staging.table(kind), frame.assign(attempt=attempt))
    finally:
        engine.dispose()
    return TracksLoaded(part, attempt, len(clean_tracks), len(new_tracks), int(is_known.sum()), len(earlier), file)


@dataclass
class RowsLoaded:
    """What one worker loaded of the rejected rows."""

    kind: str
    part: int
    attempt: str
    rows: int


def load_rows(job: ParallelLoad, kind: str, part: int, rows: pd.DataFrame) -> RowsLoaded:
    """Worker side: part `part` of this ingest's rejected rows (source, line, columns, reason, raw)
    into its staging table (`kind` names it)."""
    attempt = _new_attempt()
    staged = rows.assign(source_id=rows["source"].map(job.source_ids), attempt=attempt).drop(columns=["source"])
    engine = _worker_engine(job)
    try:
        with engine.begin() as conn:
            db.bulk_insert(conn, job.staging.table(kind), staged)
    finally:
        engine.dispose()
    return RowsLoaded(kind, part, attempt, len(rows))


def _inserted(conn: Connection, insert: sa.Insert) -> int:
    """Run an INSERT ... SELECT; the rows it inserted (SQLAlchemy drops an INSERT's count unless asked)."""
    return conn.execute(insert.execution_options(preserve_rowcount=True)).rowcount


@dataclass
class Loaded:
    """What the workers loaded: one result per part (of the attempt whose result came back)."""

    tracks: list[TracksLoaded]
    rows: list[RowsLoaded]

    def count(self, kind: str) -> int:
        return sum(r.rows for r in self.rows if r.kind == kind)

    @property
    def attempts(self) -> list[str]:
        return [r.attempt for r in self.tracks] + [r.attempt for r in self.rows]


def move(conn: Connection, job: ParallelLoad, writer: db.IngestWriter, loaded: Loaded,
         on_label_updates: Callable[[pd.DataFrame], None]) -> list[tuple[str, int, int]]:
    """Driver side, inside the catalogue's transaction: move every staged row into the tables by
    the rules of `db.IngestWriter` (which counts them). Stored tracks whose labels changed are
    handed to `on_label_updates` with their merged labels, in bounded chunks. Returns the
    workers' catalogue files, in reading order."""
    staged = {kind: job.staging.table(kind) for kind in KINDS}
    attempts = sorted(loaded.attempts)

    def received(table: sa.Table) -> sa.ColumnElement[bool]:  # rows of the attempts whose results came back
        return table.c.attempt.in_(attempts) if attempts else sa.false()

    added = sum(part.added for part in loaded.tracks)
    tracks, columns = staged["tracks"], [c.name for c in db.tracks.columns]
    with db.indexed_after(conn, db.tracks, added):
        conn.execute(db.tracks.insert().from_select(columns, sa.select(*[tracks.c[c] for c in columns]).where(received(tracks))))
    artists, columns = staged["artists"], [c.name for c in db.track_artists.columns]
    conn.execute(db.track_artists.insert().from_select(columns, sa.select(*[artists.c[c] for c in columns]).where(received(artists))))

    labels = staged["labels"]
    label_columns = ["track_id", "name", "value"]
    conn.execute(db.track_labels.insert().from_select(
        label_columns, sa.select(*[labels.c[c] for c in label_columns]).where(received(labels), sa.not_(labels.c.stored))))
    # Stored tracks' labels merge into what they hold (few rows, unless a catalogue is re-read
    # under new ids), read on a second connection so that the merge can write on this one.
    with conn.engine.connect() as reader:
        rows = reader.execution_options(stream_results=True).execute(
            sa.select(*[labels.c[c] for c in label_columns]).where(received(labels), labels.c.stored))
        for chunk in rows.partitions(_MERGE_CHUNK):
            long = pd.DataFrame(chunk, columns=label_columns)
            db.merge_label_rows(conn, long, set(long["track_id"]))
            on_label_updates(db.stored_labels(conn, set(long["track_id"])))

    # The provenance the driver writes into the lake credits absorbed tracks to the stored ones (`store.provenance`).
    absorbed = staged["absorbed"]
    pairs = conn.execute(sa.select(absorbed.c.dropped_track_id, absorbed.c.kept_track_id).where(received(absorbed)))
    writer.absorbed_by.update({dropped: kept for dropped, kept in pairs})

    rejected, rejected_rows = staged["rejected"], db.rejected_rows
    names = ["source_id", "line", "columns", "reason", "raw"]
    query = sa.select(sa.literal(job.run_id, db.RunId), *[rejected.c[c] for c in names]).where(received(rejected))
    if writer.known_sources:
        query = query.where(~sa.exists().where(rejected_rows.c.source_id == rejected.c.source_id, rejected_rows.c.line == rejected.c.line))
    rejected_added = _inserted(conn, rejected_rows.insert().from_select(["ingest_run_id", *names], query))

    duplicates = db.track_duplicates
    rule = sa.literal(db.EARLIER_NEAR_DUPLICATE_RULE, duplicates.c.rule.type)
    query = sa.select(sa.literal(job.run_id, db.RunId), rule, absorbed.c.kept_track_id, absorbed.c.dropped_track_id, sa.literal("", sa.Text)).where(
        received(absorbed), ~sa.exists().where(duplicates.c.rule == rule, duplicates.c.kept_track_id == absorbed.c.kept_track_id,
                                               duplicates.c.dropped_track_id == absorbed.c.dropped_track_id))
    conn.execute(duplicates.insert().from_select(["ingest_run_id", "rule", "kept_track_id", "dropped_track_id", "detail"], query))

    writer.count_moved(
        clean_rows=sum(part.clean_rows for part in loaded.tracks), tracks_added=added,
        tracks_known=sum(part.known for part in loaded.tracks), near_earlier=sum(part.absorbed for part in loaded.tracks),
        rejected_rows=loaded.count("rejected"), rejected_added=rejected_added,
    )
    return [part.file for part in sorted(loaded.tracks, key=lambda p: p.part) if part.file is not None]

