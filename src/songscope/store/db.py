"""The relational store: SQLite by default, PostgreSQL or MySQL/MariaDB by URL.

"Database" names a SQLAlchemy engine (a connection pool) throughout, so that "engine" keeps its one
meaning in songscope: the clustering engine (local or Spark). Tables are SQLAlchemy Core; the schema is migrated by Alembic (``store/migrations``): `migrate`
brings any database up to `SCHEMA_REVISION`, including those made before Alembic (a database newer
than this code is refused, not touched).
`record_ingest` writes one ingest inside its caller's transaction, which holds the catalogue's lock
(`hold_catalogue`) and commits the lake's files with it (`store.catalogue`).
Every value reaches SQL as a bound parameter (or through COPY), never as SQL text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from songscope import schema

# MySQL's TEXT holds 64 KiB: rejected rows keep their raw content, which may be larger.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")
TrackId = sa.String(schema.MAX_ID_LENGTH)
RunId = sa.String(32)

# Spotify ids are case-sensitive: MySQL's default collation would make "abc" and "ABC" collide.
_TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}

metadata = sa.MetaData()

schema_table = sa.Table(
    "songscope_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    **_TABLE_OPTIONS,
)

ingest_runs = sa.Table(
    "ingest_runs",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sources", LongText, nullable=False),  # JSON list of URIs
    sa.Column("rows_read", sa.BigInteger, nullable=False),
    sa.Column("rows_rejected", sa.BigInteger, nullable=False),
    sa.Column("rows_clean", sa.BigInteger, nullable=False),
    sa.Column("tracks_added", sa.BigInteger, nullable=False),
    sa.Column("report", LongText, nullable=False),  # JSON CleanReport
    sa.Column("lake_uri", sa.Text),
    **_TABLE_OPTIONS,
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("source_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("uri_sha256", sa.String(64), nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("first_run_id", RunId, nullable=False),
    sa.UniqueConstraint("uri_sha256", "content_sha256", name="uq_sources_uri_content"),
    **_TABLE_OPTIONS,
)


def _track_columns() -> list[sa.Column]:
    columns: list[sa.Column] = [
        sa.Column("track_id", TrackId, primary_key=True),
        sa.Column("artist_name", sa.Text, nullable=False),
        sa.Column("track_name", sa.Text, nullable=False),
    ]
    for column in schema.NUMERIC_COLUMNS:
        if column.name == "duration_ms":
            kind: sa.types.TypeEngine = sa.BigInteger()
        elif column.integer:
            kind = sa.Integer()
        else:
            kind = sa.Double()  # MySQL FLOAT is single precision: values must round-trip exactly
        columns.append(sa.Column(column.name, kind, nullable=not column.required))
    columns += [
        sa.Column("is_outlier", sa.Boolean, nullable=False),
        sa.Column("outlier_rules", sa.Text, nullable=False),
        sa.Column("ingest_run_id", RunId, nullable=False),
        # `identity.near_keys`: finds a known (artist, track name, duration) without reading the catalogue.
        sa.Column("near_key", sa.BigInteger),
    ]
    return columns


tracks = sa.Table("tracks", metadata, *_track_columns(), sa.Index("ix_tracks_near_key", "near_key"), **_TABLE_OPTIONS)

track_sources = sa.Table(
    "track_sources",
    metadata,
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("source_id", sa.Integer, primary_key=True),
    sa.Column("line", sa.BigInteger, primary_key=True),
    sa.Index("ix_track_sources_source", "source_id"),
    **_TABLE_OPTIONS,
)

track_labels = sa.Table(
    "track_labels",
    metadata,
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("name", sa.String(schema.MAX_LABEL_NAME_LENGTH), primary_key=True),
    sa.Column("value", LongText, nullable=False),  # several values joined with "|"
    **_TABLE_OPTIONS,
)

rejected_rows = sa.Table(
    "rejected_rows",
    metadata,
    sa.Column("rejected_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ingest_run_id", RunId, nullable=False),
    sa.Column("source_id", sa.Integer, nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("reason", LongText, nullable=False),
    sa.Column("raw", LongText, nullable=False),
    sa.UniqueConstraint("source_id", "line", name="uq_rejected_source_line"),
    **_TABLE_OPTIONS,
)

track_duplicates = sa.Table(
    "track_duplicates",
    metadata,
    sa.Column("duplicate_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ingest_run_id", RunId, nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("kept_track_id", TrackId, nullable=False),
    sa.Column("dropped_track_id", TrackId, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    # How many input rows this merge dropped: a track id listed three times is one record of two.
    sa.Column("dropped_rows", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("rule", "kept_track_id", "dropped_track_id", name="uq_duplicates_pair"),
    **_TABLE_OPTIONS,
)

#: The artists of each song that has several, or whose file gave artist ids, in order (position 0
#: is ``tracks.artist_name``, its display name), with each one's id where the file gave it. A song
#: of one artist and no id has no row: its artist is its ``tracks.artist_name``. (A row for every
#: song cost 6-8 s per million songs at ingest, for no information.)
track_artists = sa.Table(
    "track_artists",
    metadata,
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("artist_id", sa.String(schema.MAX_ID_LENGTH)),
    **_TABLE_OPTIONS,
)


#: The lake catalogue's manifest: the Parquet files readers read, committed in the same transaction
#: as the tracks they hold. A file in the lake that is not listed here is a crashed ingest's orphan.
catalogue_files = sa.Table(
    "catalogue_files",
    metadata,
    sa.Column("file_id", sa.Integer, primary_key=True, autoincrement=True),  # reading order
    sa.Column("lake_key", sa.String(255), nullable=False, unique=True),
    sa.Column("ingest_run_id", RunId),  # None: written when a lake from before schema 7 was migrated
    # "tracks": new tracks; "labels": stored tracks' label columns after a later ingest merged into them.
    sa.Column("content", sa.String(16), nullable=False, server_default="tracks"),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    **_TABLE_OPTIONS,
)

#: One row per lock; a writer of the catalogue updates the ``catalogue`` row first, and holds it
#: (a row lock on PostgreSQL and MariaDB, the write lock on SQLite) until it commits or dies.
locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("holder", RunId),
    sa.Column("since", sa.DateTime(timezone=True)),
    **_TABLE_OPTIONS,
)
CATALOGUE_LOCK = "catalogue"


cluster_runs = sa.Table(
    "cluster_runs",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("engine", sa.String(32), nullable=False),
    sa.Column("algorithm", sa.String(32), nullable=False),
    sa.Column("n_clusters", sa.Integer, nullable=False),
    sa.Column("n_tracks", sa.BigInteger, nullable=False),
    sa.Column("params", LongText, nullable=False),  # JSON
    sa.Column("space", LongText, nullable=False),  # JSON FeatureSpace, enough to rebuild it
    sa.Column("timings", LongText, nullable=False),  # JSON, seconds per stage
    sa.Column("lake_uri", sa.Text),
    **_TABLE_OPTIONS,
)

cluster_assignments = sa.Table(
    "cluster_assignments",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("cluster", sa.Integer, nullable=False),
    sa.Index("ix_cluster_assignments_cluster", "run_id", "cluster"),
    **_TABLE_OPTIONS,
)
#: Songs assigned to a run after it was fitted (`songscope assign`), each with its distance to
#: its cluster's centre; one row per assignment pass with its drift summary (JSON).
cluster_assignments_added = sa.Table(
    "cluster_assignments_added",
    metadata,
    sa.Column("assign_id", RunId, primary_key=True),
    sa.Column("run_id", RunId, nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("songs", sa.Integer, nullable=False),
    sa.Column("drift", LongText, nullable=False),
    **_TABLE_OPTIONS,
)
late_assignments = sa.Table(
    "late_assignments",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("cluster", sa.Integer, nullable=False),
    sa.Column("distance", sa.Double, nullable=False),
    sa.Column("assign_id", RunId, nullable=False),
    **_TABLE_OPTIONS,
)

cluster_centroids = sa.Table(
    "cluster_centroids",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("cluster", sa.Integer, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("center", LongText, nullable=False),  # JSON list, in the run's feature space
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("top_artists", sa.Text, nullable=False),
    sa.Column("jaccard", sa.Double),  # bootstrap stability, when measured
    **_TABLE_OPTIONS,
)

cluster_metrics = sa.Table(
    "cluster_metrics",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Double),
    **_TABLE_OPTIONS,
)


cluster_run_details = sa.Table(
    "cluster_run_details",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("details", LongText, nullable=False),  # JSON: stability, null model, feature tests, external validity
    **_TABLE_OPTIONS,
)


#: One row per recommendation request: its JSON, and its songs in rank order as compact JSON
#: (``[[track_id, score, reason], ...]``), so recording a request is one insert; requests older than
#: the retention (`Settings.keep_requests_days`) are deleted.
recommendation_requests = sa.Table(
    "recommendation_requests",
    metadata,
    sa.Column("request_id", RunId, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("request", LongText, nullable=False),  # JSON: favourites, dislikes, options, cluster run
    sa.Column("items", LongText, nullable=False),  # JSON: the songs; reason = nearest seed, contributions, cluster
    **_TABLE_OPTIONS,
)

#: Tables of schemas before Alembic that today's schema replaced: a database at one of those
#: versions is completed with them, and Alembic's migrations carry their rows over.
legacy_metadata = sa.MetaData()
sa.Table(
    "recommendations",  # schema 3 to 7: the request's JSON repeated on every song's row
    legacy_metadata,
    sa.Column("request_id", RunId, primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request", LongText, nullable=False),
    sa.Column("track_id", TrackId, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("reason", LongText, nullable=False),
    **_TABLE_OPTIONS,
)


reports = sa.Table(
    "reports",
    metadata,
    sa.Column("report_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", RunId, nullable=False),
    sa.Column("compare_run_id", RunId),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("lake_uri", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("figures", LongText, nullable=False),  # JSON list of figure names
    **_TABLE_OPTIONS,
)


favourite_lists = sa.Table(
    "favourite_lists",
    metadata,
    sa.Column("list_id", RunId, primary_key=True),  # shareable: /favourites/<list_id>
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("favourites", LongText, nullable=False),  # JSON list of track ids
    sa.Column("dislikes", LongText, nullable=False),  # JSON list of track ids
    sa.Column("options", LongText, nullable=False),  # JSON recommendation options
    **_TABLE_OPTIONS,
)


#: The tables each of songscope's hand-written migrations (schema versions 1 to 5, before
#: Alembic) created; a database at one of those versions is brought to 5, then handed to Alembic.
LEGACY_TABLES: dict[int, tuple[str, ...]] = {
    1: ("ingest_runs", "sources", "tracks", "track_sources", "track_labels", "rejected_rows", "track_duplicates"),
    2: ("cluster_runs", "cluster_assignments", "cluster_centroids", "cluster_metrics"),
    3: ("recommendations",),
    4: ("reports",),
    5: ("favourite_lists",),
}
#: The Alembic revision a database at legacy schema version 5 is stamped with.
LEGACY_REVISION = "0005"
LEGACY_REVISION_NUMBER = int(LEGACY_REVISION)
#: The newest Alembic revision this songscope knows (``store/migrations/versions``); its number
#: is also written to ``songscope_schema``, so that releases from before Alembic refuse a newer database.
SCHEMA_REVISION = "0011"
SCHEMA_VERSION = int(SCHEMA_REVISION)


class DatabaseError(RuntimeError):
    """A database that cannot be used as it is, with what to do about it."""


#: How long a writer waits for another to finish before giving up (seconds): an ingest of
#: millions of rows holds the catalogue for tens of seconds.
WAIT_SECONDS = 600.0


def connect(url: str, *, wait_seconds: float = WAIT_SECONDS) -> Engine:
    """A database engine (connection pool) for `url`, with the schema created or migrated to the current version.

    SQLite runs in WAL mode (readers never wait for a writer) and a writer waits up to
    `wait_seconds` for another instead of failing at once with "database is locked".
    """
    database = engine_for(url, wait_seconds=wait_seconds)
    migrate(database)
    return database


def engine_for(url: str, *, wait_seconds: float = WAIT_SECONDS, **options: Any) -> Engine:
    """A database engine for `url` with songscope's connection settings, not migrated: for a
    worker process writing into a database whose schema its driver has already migrated."""
    if url.startswith("mysql") and "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    try:
        if url.startswith("sqlite"):
            database = sa.create_engine(url, connect_args={"timeout": wait_seconds}, **options)
            sa.event.listen(database, "connect", _sqlite_pragmas)
            return database
        return sa.create_engine(url, **options)
    except (sa.exc.NoSuchModuleError, sa.exc.ArgumentError) as exc:
        from songscope.config import redact

        scheme = url.split("://", 1)[0] if "://" in url else url
        raise DatabaseError(
            f"{redact(url)} is not a database URL songscope can use ({scheme!r}: {type(exc).__name__}); give sqlite:///path/to/file.db, "
            "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db"
        ) from None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL keeps readers off the writer's back; NORMAL sync is still all-or-nothing in WAL mode
    # (a crash loses at most the last commits, never half of one) and skips an fsync per commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _revision_and_legacy_version(conn: Connection) -> tuple[str | None, int]:
    """The database's Alembic revision (None: never stamped) and its ``songscope_schema`` version (0: none)."""
    inspector = sa.inspect(conn)
    revision = None
    if inspector.has_table("alembic_version"):
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    legacy = 0
    if inspector.has_table(schema_table.name):
        legacy = int(conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar() or 0)
    return revision, legacy


def schema_version(database: Engine) -> int:
    """The version a database is at (0 when songscope has never written to it)."""
    with database.connect() as conn:
        revision, legacy = _revision_and_legacy_version(conn)
    return int(revision) if revision else legacy


def _alembic_config(connection: Connection):
    from pathlib import Path

    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["connection"] = connection
    return config


def migrate(database: Engine) -> int:
    """Bring the database to `SCHEMA_REVISION` with Alembic; returns the version reached.

    An empty database gets today's tables and is stamped; one made by a release from before
    Alembic (``songscope_schema`` 1 to 5) is completed to version 5, stamped `LEGACY_REVISION`
    and upgraded; a database newer than this code is refused, not touched.
    """
    try:
        with database.connect() as conn:
            revision, legacy = _revision_and_legacy_version(conn)
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {exc.orig}") from exc
    _refuse_newer(revision, legacy)
    if revision == SCHEMA_REVISION:
        return SCHEMA_VERSION
    with _migration_lock(database):
        # Another process may have migrated while this one waited for the lock.
        with database.connect() as conn:
            revision, legacy = _revision_and_legacy_version(conn)
        _refuse_newer(revision, legacy)
        if revision != SCHEMA_REVISION:
            _upgrade(database, revision, legacy)
    return SCHEMA_VERSION


def _refuse_newer(revision: str | None, legacy: int) -> None:
    newer = (revision is not None and (not revision.isdigit() or int(revision) > SCHEMA_VERSION)) or legacy > SCHEMA_VERSION
    if newer:
        raise DatabaseError(
            f"the database is at schema version {revision or legacy}, newer than this songscope ({SCHEMA_VERSION}); upgrade songscope"
        )


@contextmanager
def _migration_lock(database: Engine, wait_seconds: float = WAIT_SECONDS) -> Iterator[None]:
    """One migrating process at a time: two commands started at once on a new database would
    otherwise both create its tables (MariaDB's DDL cannot be rolled back, so the second fails).
    A server-side named lock on its own connection; SQLite's writer lock already serialises."""
    dialect = database.dialect.name
    if dialect not in ("postgresql", "mysql"):
        yield
        return
    with database.connect() as conn:
        if dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        elif conn.execute(sa.text("SELECT GET_LOCK(:name, :wait)"), {"name": "songscope.migrate", "wait": int(wait_seconds)}).scalar() != 1:
            raise DatabaseError(f"another songscope has been migrating this database for over {wait_seconds:.0f} s")
        conn.commit()
        try:
            yield
        finally:
            if dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            else:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": "songscope.migrate"})
            conn.commit()


_MIGRATION_LOCK_KEY = 0x50_4E_47_53_43_4F_50_45  # "SONGSCOPE"-ish: any fixed 64-bit key of ours


def _upgrade(database: Engine, revision: str | None, legacy: int) -> None:
    from alembic import command

    with database.begin() as conn:
        if conn.dialect.name == "sqlite":
            # SQLite's writer lock, taken now (the driver would begin lazily, and not before DDL),
            # is the migration lock: then look again at what a process before this one did.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            revision, legacy = _revision_and_legacy_version(conn)
            if revision == SCHEMA_REVISION:
                return
        config = _alembic_config(conn)
        if revision is None and legacy == 0:
            metadata.create_all(conn)
            command.stamp(config, SCHEMA_REVISION)
        else:
            if revision is None:
                for version in range(1, LEGACY_REVISION_NUMBER + 1):
                    tables = [metadata.tables.get(name, legacy_metadata.tables.get(name)) for name in LEGACY_TABLES[version]]
                    tables[0].metadata.create_all(conn, tables=tables)
                command.stamp(config, LEGACY_REVISION)
            command.upgrade(config, SCHEMA_REVISION)
        metadata.create_all(conn, tables=[schema_table])
        conn.execute(schema_table.delete().where(schema_table.c.version >= SCHEMA_VERSION))
        conn.execute(schema_table.insert().values(version=SCHEMA_VERSION, applied_at=_now()))
        if conn.execute(sa.select(locks.c.name).where(locks.c.name == CATALOGUE_LOCK)).first() is None:
            conn.execute(locks.insert().values(name=CATALOGUE_LOCK))


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------------ writes


@dataclass
class IngestRecord:
    """What `record_ingest` wrote, for the CLI to print."""

    run_id: str
    tracks_added: int
    tracks_already_known: int
    sources_added: int
    rejected_added: int
    provenance_added: int
    #: Clean tracks that an earlier ingest already holds under another id (same artist, name, duration).
    near_duplicates_of_earlier: int = 0


#: The rule recorded for a track that repeats one an earlier ingest stored under another id.
EARLIER_NEAR_DUPLICATE_RULE = "same artist, track name and duration as an earlier ingest"
_LOOKUP_CHUNK = 5_000  # ids per IN (...): under SQLite's 32,766 variables, small enough for any server


class CatalogueBusy(DatabaseError):
    """Another writer held the catalogue for longer than this one would wait."""


def hold_catalogue(conn: Connection, holder: str, wait_seconds: float = WAIT_SECONDS) -> None:
    """Take the catalogue's lock for the rest of `conn`'s transaction, waiting for another holder.

    The first statement of every catalogue write: it serialises writers (an ingest decides which
    tracks are new only once it holds the lock) and is released by the commit, the rollback, or
    the server noticing that the holder died. Readers never take it.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait_seconds * 1000)}ms'")
    elif dialect == "mysql":
        conn.exec_driver_sql(f"SET SESSION innodb_lock_wait_timeout = {max(1, int(wait_seconds))}")
    try:
        held = conn.execute(locks.update().where(locks.c.name == CATALOGUE_LOCK).values(holder=holder, since=_now()))
    except sa.exc.OperationalError as exc:
        raise CatalogueBusy(
            f"another ingest has held the catalogue for over {wait_seconds:.0f} s; try again when it has finished ({exc.orig})"
        ) from exc
    if held.rowcount != 1:  # deleted by hand: writing without it could lose tracks
        raise DatabaseError(f"the database has no {CATALOGUE_LOCK!r} row in its locks table; restore it with "
                            f"INSERT INTO locks (name) VALUES ('{CATALOGUE_LOCK}')")


#: SQLite's page cache for a catalogue write, in KiB: the default 2 MiB makes every insert into
#: the track id and near-key indexes (random keys) a trip to the OS; measured on 1,000,000 new
#: tracks, 24.8 s with the default and 11.4 s with this.
BULK_CACHE_KIB = 256 * 1024


@contextmanager
def bulk_write(conn: Connection) -> Iterator[None]:
    """Settings for a large write on `conn`, put back afterwards (SQLite: a larger page cache)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    previous = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")  # and the pages go back


def catalogue_is_empty(conn: Connection) -> bool:
    return conn.execute(sa.select(tracks.c.track_id).limit(1)).first() is None


def _chunks(values: list, size: int = _LOOKUP_CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _one_of(conn: Connection, column: sa.Column, values: list) -> sa.ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``= ANY(array)``, one parameter instead of thousands
    (rendering and planning 5,000 placeholders cost more than the lookups they ask for)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def known_track_ids(conn: Connection, track_ids: Iterable[str]) -> set[str]:
    """Which of `track_ids` the catalogue holds (by index lookups, never a scan of the catalogue)."""
    return _held(conn, tracks.c.track_id, track_ids)


def late_assigned(conn: Connection, run_id: str, track_ids: Iterable[str]) -> set[str]:
    """Which of `track_ids` an earlier `songscope assign` put into run `run_id` (index lookups)."""
    return _held(conn, late_assignments.c.track_id, track_ids, late_assignments.c.run_id == run_id)


def _held(conn: Connection, column: sa.Column, values: Iterable[str], where: sa.ColumnElement[bool] | None = None) -> set[str]:
    """Which of `values` `column` holds (in the rows `where` picks), a chunk of index lookups at a time."""
    found: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(values))):
        match = _one_of(conn, column, chunk)
        found.update(conn.execute(sa.select(column).where(match if where is None else where & match)).scalars())
    return found


def earlier_near_duplicates(conn: Connection, candidates: pd.DataFrame, keys: np.ndarray | None = None) -> pd.DataFrame:
    """Rows of `candidates` (new track ids) that repeat a stored track's artist, name and duration.

    Returns ``dropped_track_id`` (the candidate) and ``kept_track_id`` (the stored track). The
    indexed key (of the artists as a set, the name and the duration) finds them; the values
    (first artist, name, duration) confirm them, so a hash collision never merges two songs.
    """
    empty = pd.DataFrame({"dropped_track_id": pd.Series(dtype=object), "kept_track_id": pd.Series(dtype=object)})
    if candidates.empty:
        return empty
    from songscope.identity import same_song

    if keys is None:
        keys = track_near_keys(candidates)
    stored: dict[int, list[tuple]] = {}
    query_columns = (tracks.c.near_key, tracks.c.track_id, tracks.c.artist_name, tracks.c.track_name, tracks.c.duration_ms)
    for chunk in _chunks(sorted({int(k) for k in keys})):
        for key, track_id, artist, name, duration in conn.execute(sa.select(*query_columns).where(_one_of(conn, tracks.c.near_key, chunk))):
            stored.setdefault(int(key), []).append((track_id, (artist, name, duration)))
    if not stored:
        return empty
    pairs = []
    for track_id, artist, name, duration, key in zip(
        candidates["track_id"], candidates["artist_name"], candidates["track_name"], candidates["duration_ms"], keys
    ):
        for stored_id, values in stored.get(int(key), ()):
            if same_song((artist, name, duration), values):
                pairs.append((track_id, stored_id))
                break
    return pd.DataFrame(pairs, columns=["dropped_track_id", "kept_track_id"]) if pairs else empty


def track_near_keys(clean_tracks: pd.DataFrame) -> np.ndarray:
    """`identity.near_keys` of clean tracks: their artists as a set, track name and duration."""
    from songscope.artists import set_keys
    from songscope.identity import near_keys

    names = clean_tracks["artists"] if "artists" in clean_tracks else clean_tracks["artist_name"]
    return near_keys(set_keys(names), clean_tracks["track_name"], clean_tracks["duration_ms"])


def artists_of(clean_tracks: pd.DataFrame) -> pd.DataFrame:
    """The ``track_artists`` rows of clean tracks: (track_id, position, name, artist_id) for each
    artist, in order, of the songs with several artists or with artist ids (see `track_artists`)."""
    from songscope.artists import SEPARATOR, split

    if "artists" not in clean_tracks:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in ("track_id", "position", "name", "artist_id")})
    ids = clean_tracks["artist_ids"] if "artist_ids" in clean_tracks else pd.Series([None] * len(clean_tracks), dtype=object, index=clean_tracks.index)
    several = np.fromiter((isinstance(v, str) and SEPARATOR in v for v in clean_tracks["artists"].to_numpy(dtype=object)), dtype=bool, count=len(clean_tracks))
    listed = several | ids.notna().to_numpy()
    clean_tracks, ids = clean_tracks[listed], ids[listed]
    names = clean_tracks["artists"]
    lists = [split(n) for n in names.to_numpy(dtype=object)]
    id_lists = [split(i) for i in ids.to_numpy(dtype=object)]
    counts = np.fromiter((len(n) for n in lists), dtype=np.int64, count=len(lists))
    flat_ids = [value for names_, ids_ in zip(lists, id_lists) for value in (ids_ if len(ids_) == len(names_) else [None] * len(names_))]
    return pd.DataFrame({
        "track_id": np.repeat(clean_tracks["track_id"].to_numpy(dtype=object), counts),
        "position": np.concatenate([np.arange(c) for c in counts]) if len(counts) else np.empty(0, dtype=np.int64),
        "name": [name for names_ in lists for name in names_],
        "artist_id": flat_ids,
    })


class IngestWriter:
    """Writes one ingest inside the caller's transaction (which holds the catalogue: `hold_catalogue`),
    in as many chunks as the caller has: the local backend passes its whole clean table at once, the
    Spark backend streams it in bounded chunks so the driver never holds the catalogue.

    Tracks are keyed by ``track_id`` (a known id is left as it is, its labels merged); a new id
    that repeats a stored track's artist, name and duration is recorded as a near duplicate of it,
    not added. Provenance is keyed by (track, source, line), rejected rows by (source, line),
    sources by (URI, content hash), so re-ingesting the same files adds no rows.

    Call order: `add_tracks` for every chunk of clean tracks (each returns what the lake's catalogue
    must receive: the tracks added and the labels of stored tracks that chunk changed), then
    `add_provenance`, `add_rejected` and `add_duplicates` in any number of chunks, then `finish`.
    Chunks of one ingest never share a track id (cleaning made them unique).
    """

    def __init__(self, conn: Connection, *, run_id: str, started_at: datetime, source_summaries: Iterable[object], lake_uri: str | None = None):
        self.conn, self.run_id, self.started_at, self.lake_uri = conn, run_id, started_at, lake_uri
        self.summaries = list(source_summaries)
        self.source_ids, self.known_sources = _upsert_sources(conn, self.summaries, run_id)
        # Empty before this ingest: nothing it adds can be known already, whatever its earlier chunks added.
        self.catalogue_was_empty = catalogue_is_empty(conn)
        #: Tracks of this ingest that an earlier ingest holds under another id: this id -> that id.
        self.absorbed_by: dict[str, str] = {}
        self.earlier_pairs: list[pd.DataFrame] = []
        self.tracks_added = self.tracks_known = self.clean_rows = 0
        self.rejected_added = self.rejected_rows = self.provenance_added = 0
        self.near_earlier_moved = 0

    def add_tracks(self, clean_tracks: pd.DataFrame, near_keys: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Store a chunk of clean tracks; returns the tracks added and the merged labels of the
        stored tracks this chunk gave labels to."""
        conn = self.conn
        if near_keys is None:
            near_keys = track_near_keys(clean_tracks)
        if self.catalogue_was_empty:
            is_known = np.zeros(len(clean_tracks), dtype=bool)
            earlier = earlier_near_duplicates(conn, clean_tracks.iloc[:0])
        else:
            is_known = clean_tracks["track_id"].isin(known_track_ids(conn, clean_tracks["track_id"])).to_numpy()
            earlier = earlier_near_duplicates(conn, clean_tracks[~is_known], near_keys[~is_known])
        is_new = ~is_known & ~clean_tracks["track_id"].isin(earlier["dropped_track_id"]).to_numpy()
        new_tracks = clean_tracks[is_new].reset_index(drop=True)

        track_rows = new_tracks[[c.name for c in tracks.columns if c.name in new_tracks.columns]]
        track_rows = track_rows.assign(ingest_run_id=self.run_id, near_key=near_keys[is_new])
        with indexed_after(conn, tracks, len(track_rows)):
            bulk_insert(conn, tracks, track_rows)
        artist_rows = artists_of(new_tracks)
        with indexed_after(conn, track_artists, len(artist_rows)):
            bulk_insert(conn, track_artists, artist_rows)

        # What an earlier ingest's track absorbed is credited to it: its labels and its provenance.
        absorbed_by = dict(zip(earlier["dropped_track_id"], earlier["kept_track_id"]))
        self.absorbed_by.update(absorbed_by)
        if len(earlier):
            self.earlier_pairs.append(earlier)
        label_columns = [c for c in clean_tracks.columns if c not in schema.CANONICAL_COLUMNS and c not in ("is_outlier", "outlier_rules")]
        label_rows = clean_tracks[["track_id", *label_columns]]
        if absorbed_by:
            label_rows = label_rows.assign(track_id=label_rows["track_id"].map(lambda t: absorbed_by.get(t, t)))
        stored_ids = set(clean_tracks["track_id"].to_numpy()[is_known]) | set(absorbed_by.values())
        _merge_labels(conn, label_rows, label_columns, stored_ids)
        # Stored tracks that this ingest gave labels: the lake's copy of them must say so too.
        labelled = label_rows[label_rows[label_columns].notna().any(axis=1)]["track_id"] if label_columns else pd.Series(dtype=object)
        label_updates = stored_labels(conn, set(labelled) & stored_ids)
        self.tracks_added += len(track_rows)
        self.tracks_known += int(is_known.sum())
        self.clean_rows += len(clean_tracks)
        return new_tracks, label_updates

    def add_provenance(self, provenance: pd.DataFrame) -> None:
        """(track_id, source, line) of input rows, pointing at the clean track each became."""
        prov = pd.DataFrame(
            {
                "track_id": provenance["track_id"].to_numpy(),
                "source_id": provenance[schema.SOURCE_COLUMN].map(self.source_ids).to_numpy(),
                "line": provenance[schema.LINE_COLUMN].to_numpy(),
            }
        )
        if self.absorbed_by:
            prov["track_id"] = prov["track_id"].map(lambda t: self.absorbed_by.get(t, t))
        # Rows can only exist already for a source read before (same URI and content).
        if self.known_sources:
            prov = _without_existing(
                self.conn, prov, track_sources, ["track_id", "source_id", "line"], track_sources.c.source_id.in_(sorted(self.known_sources))
            )
        with indexed_after(self.conn, track_sources, len(prov)):
            bulk_insert(self.conn, track_sources, prov)
        self.provenance_added += len(prov)

    def add_rejected(self, rejected: pd.DataFrame) -> None:
        """Rejected rows (source, line, columns, reason, raw)."""
        rej = pd.DataFrame(
            {
                "ingest_run_id": self.run_id,
                "source_id": rejected["source"].map(self.source_ids).to_numpy(),
                "line": rejected["line"].to_numpy(),
                "columns": rejected["columns"].to_numpy(),
                "reason": rejected["reason"].to_numpy(),
                "raw": rejected["raw"].to_numpy(),
            }
        )
        if self.known_sources:
            rej = _without_existing(
                self.conn, rej, rejected_rows, ["source_id", "line"], rejected_rows.c.source_id.in_(sorted(self.known_sources))
            )
        bulk_insert(self.conn, rejected_rows, rej)
        self.rejected_rows += len(rejected)
        self.rejected_added += len(rej)

    def add_duplicates(self, duplicates: pd.DataFrame) -> None:
        """Merges cleaning made inside this ingest: (rule, kept_track_id, dropped_track_id, detail)."""
        self._insert_duplicates(duplicates)

    def _insert_duplicates(self, duplicates: pd.DataFrame) -> None:
        dup = _without_existing_pairs(self.conn, duplicates.assign(ingest_run_id=self.run_id))
        bulk_insert(self.conn, track_duplicates, dup)

    def count_moved(self, *, clean_rows: int, tracks_added: int, tracks_known: int, near_earlier: int,
                    provenance_added: int, rejected_rows: int, rejected_added: int) -> None:
        """Count what `store.staging.move` moved in from the staging tables that workers filled
        (the same rules, applied by the workers to their parts and by set-based statements)."""
        self.clean_rows += clean_rows
        self.tracks_added += tracks_added
        self.tracks_known += tracks_known
        self.near_earlier_moved += near_earlier
        self.provenance_added += provenance_added
        self.rejected_rows += rejected_rows
        self.rejected_added += rejected_added

    def finish(self, *, report: dict[str, object], rows_read: int) -> IngestRecord:
        """The ingest's own row, written last: its counts are the sum of the chunks'."""
        earlier = pd.concat(self.earlier_pairs, ignore_index=True) if self.earlier_pairs else None
        if earlier is not None:
            self._insert_duplicates(earlier.assign(rule=EARLIER_NEAR_DUPLICATE_RULE, detail="")[list(DUPLICATE_PAIR_COLUMNS)])
        near_earlier = (0 if earlier is None else len(earlier)) + self.near_earlier_moved
        self.conn.execute(
            ingest_runs.insert().values(
                run_id=self.run_id,
                started_at=self.started_at,
                finished_at=_now(),
                sources=json.dumps([s.uri for s in self.summaries]),  # type: ignore[attr-defined]
                rows_read=int(rows_read),
                rows_rejected=int(self.rejected_rows),
                rows_clean=int(self.clean_rows),
                tracks_added=int(self.tracks_added),
                report=json.dumps({**report, "near_duplicates_of_earlier_ingests": near_earlier}, default=str),
                lake_uri=self.lake_uri,
            )
        )
        return IngestRecord(
            run_id=self.run_id,
            tracks_added=self.tracks_added,
            tracks_already_known=self.tracks_known,
            sources_added=len(set(self.source_ids.values()) - self.known_sources),
            rejected_added=self.rejected_added,
            provenance_added=self.provenance_added,
            near_duplicates_of_earlier=near_earlier,
        )


#: The columns of a recorded merge, as cleaning reports them.
DUPLICATE_PAIR_COLUMNS = ("rule", "kept_track_id", "dropped_track_id", "detail")


def record_ingest(
    conn: Connection,
    *,
    run_id: str,
    started_at: datetime,
    source_summaries: Iterable[object],
    clean_tracks: pd.DataFrame,
    provenance: pd.DataFrame,
    rejected: pd.DataFrame,
    duplicates: pd.DataFrame,
    report: dict[str, object],
    rows_read: int,
    lake_uri: str | None = None,
    near_keys: np.ndarray | None = None,
) -> tuple[IngestRecord, pd.DataFrame, pd.DataFrame]:
    """Write one ingest held in memory, in one chunk (see `IngestWriter`). Returns what was
    written, the tracks added, and the labels of stored tracks that this ingest changed: the lake's
    catalogue must receive both in the same transaction."""
    writer = IngestWriter(conn, run_id=run_id, started_at=started_at, source_summaries=source_summaries, lake_uri=lake_uri)
    new_tracks, label_updates = writer.add_tracks(clean_tracks, near_keys)
    writer.add_provenance(provenance)
    writer.add_rejected(rejected)
    writer.add_duplicates(duplicates)
    return writer.finish(report=report, rows_read=rows_read), new_tracks, label_updates


def _without_existing_pairs(conn: Connection, dup: pd.DataFrame) -> pd.DataFrame:
    """Duplicate pairs not recorded yet, looked up by their kept ids (never the whole table)."""
    if dup.empty:
        return dup
    existing: set = set()
    for chunk in _chunks(sorted(set(dup["kept_track_id"]))):
        existing |= _existing(conn, sa.select(
            track_duplicates.c.rule, track_duplicates.c.kept_track_id, track_duplicates.c.dropped_track_id
        ).where(_one_of(conn, track_duplicates.c.kept_track_id, chunk)))
    if not existing:
        return dup
    keys = zip(dup["rule"], dup["kept_track_id"], dup["dropped_track_id"])
    return dup[np.fromiter((k not in existing for k in keys), dtype=bool, count=len(dup))]


TRACKS, LABELS = "tracks", "labels"


def add_catalogue_files(conn: Connection, ingest_run_id: str | None, files: list[tuple[str, int, int]], content: str = TRACKS) -> None:
    """List lake files (key, rows, bytes) in the catalogue's manifest, inside the writer's transaction."""
    if files:
        conn.execute(catalogue_files.insert(), [
            {"lake_key": key, "ingest_run_id": ingest_run_id, "content": content, "rows": rows, "size_bytes": size}
            for key, rows, size in files
        ])


def catalogue_manifest(conn: Connection) -> pd.DataFrame:
    """The catalogue's files in reading order: lake_key, ingest_run_id, content, rows, size_bytes."""
    columns = ["lake_key", "ingest_run_id", "content", "rows", "size_bytes"]
    query = sa.select(*[catalogue_files.c[c] for c in columns]).order_by(catalogue_files.c.file_id)
    return pd.DataFrame(conn.execute(query).all(), columns=columns)


def label_names(database: Engine) -> list[str]:
    """The catalogue's label columns (genre, playlist_id, explicit, ...), sorted."""
    with database.connect() as conn:
        return sorted(conn.execute(sa.select(track_labels.c.name).distinct()).scalars())


def label_column(database: Engine, name: str) -> tuple[list[str], list[str]]:
    """Every song's value of label column `name`: (track ids, values), songs without one left out."""
    with database.connect() as conn:
        rows = conn.execute(sa.select(track_labels.c.track_id, track_labels.c.value).where(track_labels.c.name == name)).all()
    return [r[0] for r in rows], [r[1] for r in rows]


def stored_labels(conn: Connection, track_ids: Iterable[str]) -> pd.DataFrame:
    """Every label of these tracks as the database holds it: one row per track, a column per label."""
    rows = []
    for chunk in _chunks(sorted(set(track_ids))):
        rows += conn.execute(sa.select(track_labels.c.track_id, track_labels.c.name, track_labels.c.value)
                             .where(_one_of(conn, track_labels.c.track_id, chunk))).all()
    if not rows:
        return pd.DataFrame({"track_id": pd.Series(dtype=object)})
    wide = pd.DataFrame(rows, columns=["track_id", "name", "value"]).pivot(index="track_id", columns="name", values="value")
    wide.columns.name = None
    return wide.reset_index()


def _upsert_sources(conn: Connection, summaries: list, run_id: str) -> tuple[dict[str, int], set[int]]:
    """Source ids by URI, and the ids that were already known before this ingest."""
    ids: dict[str, int] = {}
    known: set[int] = set()
    for summary in summaries:
        uri_hash = hashlib.sha256(summary.uri.encode("utf-8")).hexdigest()
        found = conn.execute(
            sa.select(sources.c.source_id).where(
                sources.c.uri_sha256 == uri_hash, sources.c.content_sha256 == summary.sha256
            )
        ).scalar()
        if found is None:
            found = conn.execute(
                sources.insert().values(
                    uri=summary.uri, uri_sha256=uri_hash, content_sha256=summary.sha256,
                    size_bytes=summary.size_bytes, format=summary.format, first_run_id=run_id,
                )
            ).inserted_primary_key[0]
        else:
            known.add(int(found))
        ids[summary.uri] = int(found)
    return ids, known


def _existing(conn: Connection, query: sa.Select) -> set:
    return {row[0] if len(row) == 1 else tuple(row) for row in conn.execute(query)}


def _without_existing(conn: Connection, frame: pd.DataFrame, table: sa.Table, key: list[str], where) -> pd.DataFrame:
    """Rows of `frame` whose `key` is not already in `table` (optionally only looking where `where`)."""
    if frame.empty:
        return frame
    query = sa.select(*[table.c[k] for k in key])
    if where is not None:
        query = query.where(where)
    existing = _existing(conn, query)
    if not existing:
        return frame
    keys = list(zip(*[frame[k].tolist() for k in key])) if len(key) > 1 else frame[key[0]].tolist()
    mask = np.fromiter((k not in existing for k in keys), dtype=bool, count=len(frame))
    return frame[mask]


def _merge_labels(conn: Connection, clean_tracks: pd.DataFrame, label_columns: list[str], stored_ids: Iterable[str] = ()) -> None:
    """Insert label values; where a track already has a label, add the new values to it.

    Only `stored_ids` (tracks stored before this ingest) can have labels already: only they are looked up.
    """
    merge_label_rows(conn, long_labels(clean_tracks, label_columns), stored_ids)


def long_labels(clean_tracks: pd.DataFrame, label_columns: list[str]) -> pd.DataFrame:
    """The label columns of `clean_tracks` as rows (track_id, name, value), empty values left out."""
    if not label_columns:
        return pd.DataFrame({"track_id": pd.Series(dtype=object), "name": pd.Series(dtype=object), "value": pd.Series(dtype=object)})
    long = clean_tracks[["track_id"] + label_columns].melt(id_vars="track_id", var_name="name", value_name="value")
    return long[long["value"].notna() & (long["value"].astype(str) != "")].reset_index(drop=True)


def merge_label_rows(conn: Connection, long: pd.DataFrame, stored_ids: Iterable[str] = ()) -> None:
    """`_merge_labels` of label rows (track_id, name, value); the rows of one track may come in
    several calls (each call sees what the ones before it wrote)."""
    if long.empty:
        return
    if long.duplicated(["track_id", "name"]).any():  # several rows credited to one stored track
        long = long.groupby(["track_id", "name"], sort=False)["value"].agg(_join_label_values).reset_index()
    names = sorted(set(long["name"]))
    existing: dict[tuple[str, str], str] = {}
    lookup = sorted(set(stored_ids) & set(long["track_id"]))
    for chunk in _chunks(lookup):
        existing.update({
            (t, n): v for t, n, v in conn.execute(
                sa.select(track_labels.c.track_id, track_labels.c.name, track_labels.c.value)
                .where(_one_of(conn, track_labels.c.track_id, chunk), track_labels.c.name.in_(names))
            )
        })
    keys = list(zip(long["track_id"], long["name"]))
    is_new = np.fromiter((k not in existing for k in keys), dtype=bool, count=len(keys))
    bulk_insert(conn, track_labels, long[is_new])
    for (track_id, name), value in zip(np.array(keys, dtype=object)[~is_new], long["value"].to_numpy()[~is_new]):
        old = existing[(track_id, name)].split("|")
        merged = old + [v for v in str(value).split("|") if v not in old]
        if len(merged) != len(old):
            conn.execute(
                track_labels.update()
                .where(track_labels.c.track_id == track_id, track_labels.c.name == name)
                .values(value="|".join(merged))
            )


def _join_label_values(values: pd.Series) -> str:
    seen: dict[str, None] = {}
    for value in values:
        for part in str(value).split("|"):
            if part:
                seen.setdefault(part, None)
    return "|".join(seen)


def _python_columns(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Column values as plain Python objects (drivers reject numpy scalars), None for missing."""
    out = []
    for name in columns:
        series = frame[name]
        if series.dtype.kind == "M" or isinstance(series.dtype, pd.DatetimeTZDtype):
            out.append([None if pd.isna(v) else v.to_pydatetime() for v in series])
            continue
        missing = series.isna().to_numpy()
        # pandas' nullable Int64/Float64/boolean carry the numpy type of their values.
        numeric = series.dtype if isinstance(series.dtype, np.dtype) else getattr(series.dtype, "numpy_dtype", None)
        if numeric is not None and numeric.kind in "fiub":
            # numpy's own tolist makes Python floats, ints and bools in C: the fast path.
            array = series.to_numpy(dtype=numeric, na_value=0) if numeric is not series.dtype else series.to_numpy()
            values = array.tolist() if not missing.any() else np.where(missing, None, array.astype(object)).tolist()
        elif not missing.any() and series.dtype == object:
            values = series.tolist()
        else:  # text with gaps, string dtypes
            values = series.astype(object).where(~missing, None).tolist()
        out.append(values)
    return out


#: Rows from which a load into an empty PostgreSQL table indexes after loading, not during.
INDEX_AFTER_ROWS = 50_000


@contextmanager
def indexed_after(conn: Connection, table: sa.Table, rows: int) -> Iterator[None]:
    """Load an empty table first and build its primary key and indexes after, as PostgreSQL's
    "Populating a Database" advises: one sort per index instead of a million random inserts
    (measured: 1,000,000 tracks by COPY took 11.9 s with both indexes in place, 4.5 s without).

    Only on PostgreSQL, whose DDL is transactional (MariaDB's would commit the transaction), only
    for a table that is empty inside the catalogue writer's transaction, and only for large loads.
    """
    if conn.dialect.name != "postgresql" or rows < INDEX_AFTER_ROWS or conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
        yield
        return
    preparer = conn.dialect.identifier_preparer
    name = preparer.format_table(table)
    primary = sa.inspect(conn).get_pk_constraint(table.name)
    key_columns = ", ".join(preparer.quote(c) for c in primary["constrained_columns"])
    conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT {preparer.quote(primary['name'])}")
    for index in table.indexes:
        index.drop(conn)
    yield
    conn.exec_driver_sql(f"ALTER TABLE {name} ADD CONSTRAINT {preparer.quote(primary['name'])} PRIMARY KEY ({key_columns})")
    for index in table.indexes:
        index.create(conn)
    # Statistics for the planner now, not when autovacuum gets round to it: without them the
    # next ingest's near-key lookups scanned the whole table (0.5 s per 5,000 keys at 1M tracks).
    conn.exec_driver_sql(f"ANALYZE {name}")


def bulk_insert(conn: Connection, table: sa.Table, frame: pd.DataFrame, chunk: int = 100_000) -> int:
    """Insert every row of `frame` (columns named as the table's): COPY on PostgreSQL, else
    the driver's executemany with plain tuples (SQLAlchemy's per-row parameter handling costs
    more than the insert itself at a million rows). Values are always bound, never inlined."""
    if frame is None or frame.empty:
        return 0
    columns = [c.name for c in table.columns if c.name in frame.columns]
    if conn.dialect.name == "postgresql":
        return _copy_insert(conn, table, frame, columns)
    preparer = conn.dialect.identifier_preparer
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {preparer.format_table(table)} ({', '.join(preparer.quote(c) for c in columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        conn.exec_driver_sql(sql, list(zip(*_python_columns(part, columns))))
    return len(frame)


def _copy_insert(conn: Connection, table: sa.Table, frame: pd.DataFrame, columns: list[str]) -> int:
    """COPY ... FROM STDIN in CSV, written by Arrow: every present value quoted, so an unquoted
    empty field is NULL and a quoted one is an empty string."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    raw = conn.connection.dbapi_connection
    preparer = conn.dialect.identifier_preparer
    target = f"{preparer.format_table(table)} ({', '.join(preparer.quote(c) for c in columns)})"
    data = pa.Table.from_pandas(frame[columns], preserve_index=False)
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {target} FROM STDIN (FORMAT csv)") as copy:
            for batch in data.to_batches(max_chunksize=100_000):
                sink = pa.BufferOutputStream()
                pacsv.write_csv(batch, sink, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
                copy.write(sink.getvalue().to_pybytes())
    return len(frame)


_writer_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writer_locks_lock = threading.Lock()


def _one_writer_at_a_time(database: Engine):
    """On SQLite, this process's writers of small rows take turns on a lock: SQLite lets one
    write at a time, and a writer that finds it taken sleeps in steps of 1 to 100 ms before
    trying again (its busy handler), which made the slowest of 8 concurrent web requests wait
    several times the median. Other databases write concurrently: no lock."""
    if database.dialect.name != "sqlite":
        return contextlib.nullcontext()
    with _writer_locks_lock:
        return _writer_locks.setdefault(database, threading.Lock())


def record_recommendations(database: Engine, request_id: str, request: dict[str, object], items: list[tuple[str, float, str]]) -> None:
    """Store one recommendation request and its songs, as (track_id, score, reason JSON) tuples in
    rank order: one row."""
    # The reasons are JSON already: joined as text rather than parsed and encoded again.
    songs = "[" + ",".join(f"[{json.dumps(track_id)},{float(score)!r},{reason}]" for track_id, score, reason in items) + "]"
    with _one_writer_at_a_time(database), database.begin() as conn:
        # Parameters, not .values(): the statement is then compiled once for the process.
        conn.execute(recommendation_requests.insert(), {
            "request_id": request_id, "created_at": _now(), "request": json.dumps(request, default=str, separators=(",", ":")),
            "items": songs})


def forget_requests_before(database: Engine, cutoff: datetime) -> int:
    """Delete the recommendation requests made before `cutoff` (by the index on their time, a
    batch at a time); returns how many went."""
    deleted = 0
    while True:
        with database.begin() as conn:
            doomed = list(conn.execute(sa.select(recommendation_requests.c.request_id)
                                       .where(recommendation_requests.c.created_at < cutoff).limit(_LOOKUP_CHUNK)).scalars())
            if not doomed:
                return deleted
            conn.execute(recommendation_requests.delete().where(_one_of(conn, recommendation_requests.c.request_id, doomed)))
            deleted += len(doomed)


def recommended_songs(items: str) -> pd.DataFrame:
    """A stored request's songs (its ``items`` JSON) as a frame: rank, track_id, score and reason
    (a dict)."""
    songs = json.loads(items)
    return pd.DataFrame({"rank": np.arange(1, len(songs) + 1), "track_id": [s[0] for s in songs],
                         "score": np.array([s[1] for s in songs], dtype=np.float64), "reason": [s[2] for s in songs]})


def latest_recommendation(database: Engine) -> tuple[dict[str, object], pd.DataFrame] | None:
    """The newest request and its songs in rank order (`recommended_songs`), or None: one indexed
    read, whatever the number of requests stored."""
    with database.connect() as conn:
        newest = conn.execute(sa.select(recommendation_requests).order_by(recommendation_requests.c.created_at.desc(),
                                                                          recommendation_requests.c.request_id.desc()).limit(1)).first()
    if newest is None:
        return None
    return json.loads(newest.request), recommended_songs(newest.items)


def record_report(database: Engine, *, run_id: str, compare_run_id: str | None, path: str, lake_uri: str, size_bytes: int, figures: list[str]) -> None:
    """Note a written report: which run(s), where it is, how big, which figures."""
    with database.begin() as conn:
        conn.execute(reports.insert().values(
            created_at=_now(), run_id=run_id, compare_run_id=compare_run_id, path=path, lake_uri=lake_uri, size_bytes=size_bytes,
            figures=json.dumps(figures),
        ))


def save_favourite_list(database: Engine, list_id: str, name: str, favourites: list[str], dislikes: list[str], options: dict) -> None:
    with database.begin() as conn:
        conn.execute(favourite_lists.insert().values(
            list_id=list_id, created_at=_now(), name=name, favourites=json.dumps(favourites), dislikes=json.dumps(dislikes),
            options=json.dumps(options, default=str),
        ))


def load_favourite_list(database: Engine, list_id: str) -> dict[str, object] | None:
    with database.connect() as conn:
        row = conn.execute(sa.select(favourite_lists).where(favourite_lists.c.list_id == list_id)).mappings().first()
    if row is None:
        return None
    return {
        "list_id": row["list_id"], "name": row["name"], "created_at": row["created_at"].isoformat() if row["created_at"] else None,
        "favourites": json.loads(row["favourites"]), "dislikes": json.loads(row["dislikes"]), "options": json.loads(row["options"]),
    }


# ------------------------------------------------------------------------------------------- reads


def read_table(database: Engine, table: sa.Table, where=None) -> pd.DataFrame:
    query = sa.select(table)
    if where is not None:
        query = query.where(where)
    with database.connect() as conn:
        return pd.read_sql(query, conn)


def newest_ids(database: Engine) -> tuple[str | None, str | None, int | None, str | None]:
    """The newest ingest's, cluster run's, report's and assign pass's ids (each sortable), by four
    primary-key reads in one statement: what changes whenever any process writes the catalogue, a
    run, a report or a run's later songs."""
    newest = sa.select(sa.select(sa.func.max(ingest_runs.c.run_id)).scalar_subquery(), sa.select(sa.func.max(cluster_runs.c.run_id)).scalar_subquery(),
                       sa.select(sa.func.max(reports.c.report_id)).scalar_subquery(),
                       sa.select(sa.func.max(cluster_assignments_added.c.assign_id)).scalar_subquery())
    with database.connect() as conn:  # one statement: one round trip
        return tuple(conn.execute(newest).one())


def counts(database: Engine) -> dict[str, int]:
    """Row counts of the catalogue tables."""
    with database.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0)
            for t in (tracks, track_sources, track_labels, sources, rejected_rows, track_duplicates, ingest_runs, cluster_runs,
                      recommendation_requests)
        }

