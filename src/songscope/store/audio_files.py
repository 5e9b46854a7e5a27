"""The audio files songs were analysed from (`tables.track_files`): recorded in the ingest's own
transaction, looked up to skip what an earlier ingest already described, and to play a song."""

from __future__ import annotations

import hashlib

import pandas as pd
import sqlalchemy as sa

from songscope.schema import AUDIO_TRACK_ID_PREFIX
from songscope.store import db


def path_digest(path: str) -> str:
    """The key of a file's row: its path's SHA-256 (a path may be longer than an index allows)."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()


def record(conn: sa.Connection, files: pd.DataFrame, run_id: str) -> None:
    """Note `files` (path, track_id, size_bytes, mtime_ns, content_sha256) as described by the
    ingest `run_id`; a path described before is described anew."""
    if files is None or files.empty:
        return
    rows = files.assign(path_sha256=[path_digest(p) for p in files["path"]], ingest_run_id=run_id)
    table = db.track_files
    for chunk in db.in_chunks(rows["path_sha256"].tolist()):
        conn.execute(table.delete().where(db.one_of(conn, table.c.path_sha256, chunk)))
    db.bulk_insert(conn, table, rows)


def known(database: sa.Engine, paths: list[str]) -> dict[str, tuple[int, int]]:
    """Of `paths`, those an earlier ingest described, with the size and modification time then."""
    table = db.track_files
    found: dict[str, tuple[int, int]] = {}
    with database.connect() as conn:
        for chunk in db.in_chunks([path_digest(p) for p in paths]):
            query = sa.select(table.c.path, table.c.size_bytes, table.c.mtime_ns).where(db.one_of(conn, table.c.path_sha256, chunk))
            found.update({row.path: (int(row.size_bytes), int(row.mtime_ns)) for row in conn.execute(query)})
    return found


def of_track(database: sa.Engine, track_id: str) -> str | None:
    """A file the song was analysed from (the most recently described, when several hold it); a
    song read from a table has none, and costs no query (the web app asks for every song shown)."""
    if not track_id.startswith(AUDIO_TRACK_ID_PREFIX):
        return None
    table = db.track_files
    query = sa.select(table.c.path).where(table.c.track_id == track_id).order_by(table.c.ingest_run_id.desc()).limit(1)
    with database.connect() as conn:
        return conn.execute(query).scalar()


def count(database: sa.Engine) -> int:
    with database.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.track_files)).scalar())


def located(database: sa.Engine, track_ids: list[str]) -> dict[str, tuple[str, int | None]]:
    """Of `track_ids`, the songs analysed from audio files: each one's file (the most recently
    described) and its duration in ms (for a playlist's entries)."""
    files, tracks = db.track_files, db.tracks
    found: dict[str, tuple[str, int | None]] = {}
    audio = [t for t in track_ids if t.startswith(AUDIO_TRACK_ID_PREFIX)]  # a song read from a table has no file: no query for it
    with database.connect() as conn:
        for chunk in db.in_chunks(audio):
            query = (sa.select(files.c.track_id, files.c.path, tracks.c.duration_ms)
                     .join(tracks, tracks.c.track_id == files.c.track_id, isouter=True)
                     .where(db.one_of(conn, files.c.track_id, chunk)).order_by(files.c.ingest_run_id))
            for row in conn.execute(query):
                found[row.track_id] = (row.path, None if row.duration_ms is None else int(row.duration_ms))
    return found


def under(database: sa.Engine, folders: list[str]) -> pd.DataFrame:
    """The files described under `folders` (path, track_id): what a prune looks for."""
    import os

    table = db.track_files
    prefixes = [folder.rstrip(os.sep) + os.sep for folder in folders]
    with database.connect() as conn:
        rows = pd.DataFrame(conn.execute(sa.select(table.c.path, table.c.track_id)).all(), columns=["path", "track_id"])
    return rows[rows["path"].map(lambda p: any(p.startswith(prefix) for prefix in prefixes))].reset_index(drop=True)


def forget(conn: sa.Connection, paths: list[str]) -> None:
    """Drop the rows of `paths` (files that are gone), inside the caller's transaction."""
    table = db.track_files
    for chunk in db.in_chunks([path_digest(p) for p in paths]):
        conn.execute(table.delete().where(db.one_of(conn, table.c.path_sha256, chunk)))
