"""The database's reads and small writes: recommendation requests, reports, saved lists, counts."""

from __future__ import annotations

import contextlib
import json
import threading
import weakref
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from songscope.jsonable import dumps, embedded, encode
from songscope.store.bulk import LOOKUP_CHUNK, one_of
from songscope.store.connect import now
from songscope.store.tables import (
    cluster_assignments_added,
    cluster_runs,
    favourite_lists,
    ingest_runs,
    recommendation_requests,
    rejected_rows,
    reports,
    sources,
    track_duplicates,
    track_labels,
    tracks,
)

# MySQL's TEXT holds 64 KiB: rejected rows keep their raw content, which may be larger.


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
    # The reasons are JSON already: embedded as they are rather than parsed and encoded again.
    songs = encode([[track_id, float(score), embedded(reason)] for track_id, score, reason in items]).decode()
    with _one_writer_at_a_time(database), database.begin() as conn:
        # Parameters, not .values(): the statement is then compiled once for the process.
        conn.execute(recommendation_requests.insert(), {
            "request_id": request_id, "created_at": now(), "request": dumps(request, compact=True),
            "items": songs})


def forget_requests_before(database: Engine, cutoff: datetime) -> int:
    """Delete the recommendation requests made before `cutoff` (by the index on their time, a
    batch at a time); returns how many went."""
    deleted = 0
    while True:
        with database.begin() as conn:
            doomed = list(conn.execute(sa.select(recommendation_requests.c.request_id)
                                       .where(recommendation_requests.c.created_at < cutoff).limit(LOOKUP_CHUNK)).scalars())
            if not doomed:
                return deleted
            conn.execute(recommendation_requests.delete().where(one_of(conn, recommendation_requests.c.request_id, doomed)))
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
            created_at=now(), run_id=run_id, compare_run_id=compare_run_id, path=path, lake_uri=lake_uri, size_bytes=size_bytes,
            figures=dumps(figures, compact=True),
        ))


def save_favourite_list(database: Engine, list_id: str, name: str, favourites: list[str], dislikes: list[str], options: dict) -> None:
    with database.begin() as conn:
        conn.execute(favourite_lists.insert().values(
            list_id=list_id, created_at=now(), name=name, favourites=dumps(favourites, compact=True), dislikes=dumps(dislikes, compact=True),
            options=dumps(options, compact=True),
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
            for t in (tracks, track_labels, sources, rejected_rows, track_duplicates, ingest_runs, cluster_runs,
                      recommendation_requests)
        }
