"""Connecting to the database (SQLite by default; PostgreSQL or MySQL/MariaDB by URL) and migrating it.

"Database" names a SQLAlchemy engine (a connection pool) throughout: "engine" keeps its one meaning,
SQLAlchemy's. The schema is migrated by Alembic (``store/migrations``): `migrate` brings any
database up to `SCHEMA_REVISION`, including those made before Alembic (a database newer than this
code is refused, not touched).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from songscope.errors import UserError
from songscope.store.bulk import release_staged
from songscope.store.tables import CATALOGUE_LOCK, legacy_metadata, locks, metadata, schema_table

# MySQL's TEXT holds 64 KiB: rejected rows keep their raw content, which may be larger.


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
SCHEMA_REVISION = "0016"
SCHEMA_VERSION = int(SCHEMA_REVISION)


class DatabaseError(UserError, RuntimeError):
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
            sa.event.listen(database, "checkin", release_staged)
            return database
        return sa.create_engine(url, **options)
    except (sa.exc.NoSuchModuleError, sa.exc.ArgumentError) as exc:
        from songscope.config import redact

        scheme = url.split("://", 1)[0] if "://" in url else url
        raise DatabaseError(
            f"{redact(url)} is not a database URL songscope can use ({scheme!r}: {type(exc).__name__}); give sqlite:///path/to/file.db, "
            "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db"
        ) from None


#: The page size of a new SQLite catalogue (SQLite's default is 4,096; a database keeps the size it
#: was made with). 1,000,000 tracks copied in, indexed and committed in 3.4-3.7 s with 16 KiB
#: pages against 4.2-5.0 s with 4 KiB: fewer pages to split, link and write back. 64 KiB pages
#: were faster still (2.8-3.6 s) but make every lookup of one song read 64 KiB.
PAGE_BYTES = 16_384


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # Only a database with no table yet takes it, and only before WAL is on: any other keeps its own.
    cursor.execute(f"PRAGMA page_size={PAGE_BYTES}")
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


def alembic_config(connection: Connection):
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
        config = alembic_config(conn)
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
        conn.execute(schema_table.insert().values(version=SCHEMA_VERSION, applied_at=now()))
        if conn.execute(sa.select(locks.c.name).where(locks.c.name == CATALOGUE_LOCK)).first() is None:
            conn.execute(locks.insert().values(name=CATALOGUE_LOCK))


def now() -> datetime:
    return datetime.now(UTC)
