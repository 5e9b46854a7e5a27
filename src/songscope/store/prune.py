"""Songs leave the catalogue (their audio files gone): database and lake in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from songscope.crashpoints import reach
from songscope.jsonable import dumps
from songscope.store import audio_files as audio_files_store
from songscope.store import db
from songscope.store.catalogue import Store, catalogue_transaction
from songscope.store.catalogue_parts import as_read, write_catalogue_part


@dataclass(frozen=True)
class RemovedTracks:
    run_id: str
    removed: int
    rewritten_files: int
    catalogue_rows: int


def remove_tracks(store: Store, track_ids: list[str], *, run_id: str, reason: str, forget_files: list[str] = ()) -> RemovedTracks:
    """Remove songs from the catalogue, database and lake in one transaction: every catalogue
    file that holds one is written anew without it (and takes its place in the manifest), their
    rows leave every track table, and the prune is recorded as an ingest that added nothing (so
    every process sees the catalogue changed). A kill at any point leaves both stores as before
    or both as after; the replaced files go once the commit is made (or at the next sweep)."""
    removing = set(track_ids)
    lake = store.lake
    replaced: list[str] = []
    started = datetime.now(UTC)
    with catalogue_transaction(store.db) as conn:
        db.hold_catalogue(conn, run_id)
        files = conn.execute(sa.select(db.catalogue_files.c.file_id, db.catalogue_files.c.lake_key)
                             .where(db.catalogue_files.c.content == db.TRACKS).order_by(db.catalogue_files.c.file_id)).all()
        for number, (file_id, key) in enumerate(files):
            ids = lake.read_table(key, columns=["track_id"]).column("track_id").to_pylist()
            if removing.isdisjoint(ids):
                continue
            kept = as_read(lake.read_table(key)).to_pandas()
            kept = kept[~kept["track_id"].isin(removing)].reset_index(drop=True)
            listed = db.catalogue_files.c.file_id == file_id
            if len(kept):
                new_key, rows, size = write_catalogue_part(lake, run_id, number, kept)
                conn.execute(db.catalogue_files.update().where(listed).values(lake_key=new_key, rows=rows, size_bytes=size))
            else:  # every song of the file leaves: the file leaves the manifest
                conn.execute(db.catalogue_files.delete().where(listed))
            replaced.append(key)
        for table in (db.tracks, db.track_labels, db.track_artists):  # provenance, in the lake, keeps the history
            for chunk in db.in_chunks(sorted(removing)):
                conn.execute(table.delete().where(db.one_of(conn, table.c.track_id, chunk)))
        audio_files_store.forget(conn, list(forget_files))
        report = {"removed": len(removing), "reason": reason, "replaced_files": len(replaced)}
        db.insert_ingest_run(
            conn, run_id=run_id, started_at=started, finished_at=datetime.now(UTC), sources=dumps([]), rows_read=0, rows_rejected=0,
            rows_clean=0, tracks_added=0, report=dumps(report), lake_uri=None, feature_set="audio")
        catalogue_rows = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(db.catalogue_files.c.rows), 0))
                                          .where(db.catalogue_files.c.content == db.TRACKS)).scalar())
        reach("prune:before-commit")
    for key in replaced:  # listed nowhere now: a failure here leaves them for the next sweep
        try:
            lake.delete(key)
        except Exception:  # noqa: BLE001 - the sweep removes what is left
            pass
    store.forget()
    return RemovedTracks(run_id, len(removing), len(replaced), catalogue_rows)
