"""What earlier releases left in the stores, brought up to date once, on first use.

- Releases before schema 7 kept the whole catalogue in one file, ``catalogue/tracks.parquet``,
  rewritten by every ingest: it is moved into the catalogue table (`store.catalogue`).
- Releases before revision 0014 kept each ingest's provenance in the database as well as in the
  lake: the rows revision 0014 set aside are moved into the lake (`store.provenance`).

Both run under the catalogue's lock, as a writer, and a failure at any point leaves what was there.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from songscope.store import db, keys, provenance
from songscope.store.catalogue_parts import write_parts
from songscope.store.lake import Lake

#: The holder written into the lock row by a sweep or a migration (not an ingest).
MAINTENANCE = "maintenance"


def migrate_legacy_lake(database: sa.Engine, lake: Lake) -> bool:
    """Bring what an earlier release left up to date, once: its single catalogue file into the
    table (`_migrate_legacy_catalogue`) and its provenance from the database into the lake
    (`store.provenance.move_from_database`). Returns whether anything was migrated."""
    catalogue_moved = _migrate_legacy_catalogue(database, lake)
    return _move_legacy_provenance(database, lake) or catalogue_moved


def _move_legacy_provenance(database: sa.Engine, lake: Lake) -> bool:
    with database.connect() as conn:
        if not provenance.needs_move(conn):
            return False
    with database.begin() as conn:
        db.hold_catalogue(conn, MAINTENANCE)
        if not provenance.needs_move(conn):
            return False  # another process moved it while this one waited
        provenance.move_from_database(conn, lake)
    return True


def _migrate_legacy_catalogue(database: sa.Engine, lake: Lake) -> bool:
    """Move an earlier release's single ``catalogue/tracks.parquet`` into the table, once.

    The database is the truth: the file's rows for tracks the database holds are kept as they
    are (label columns and all), tracks it lacks are written from the database, and rows for
    tracks the database does not hold (a crash of the earlier release) are dropped. Returns
    whether anything was migrated.
    """
    with database.connect() as conn:
        if not db.catalogue_manifest(conn).empty or db.catalogue_is_empty(conn):
            return False
    with database.begin() as conn:
        db.hold_catalogue(conn, MAINTENANCE)
        if not db.catalogue_manifest(conn).empty:
            return False  # another process migrated it while this one waited
        stored = pd.read_sql(sa.select(db.tracks), conn).drop(columns=["ingest_run_id", "near_key"])
        if lake.exists(keys.LEGACY_CATALOGUE):
            legacy = lake.read_table(keys.LEGACY_CATALOGUE).to_pandas()
            legacy = legacy[legacy["track_id"].isin(stored["track_id"])]
            missing = stored[~stored["track_id"].isin(legacy["track_id"])]
            tracks = pd.concat([legacy, _with_labels(conn, missing)], ignore_index=True) if len(missing) else legacy
        else:
            tracks = _with_labels(conn, stored)
        run_id = f"migrated-{datetime.now().strftime('%Y%m%dT%H%M%S')}"
        files = write_parts(lake, run_id, tracks.reset_index(drop=True))
        db.add_catalogue_files(conn, None, files)
    lake.delete(keys.LEGACY_CATALOGUE)
    return True


def _with_labels(conn: sa.Connection, tracks: pd.DataFrame) -> pd.DataFrame:
    """Tracks from the database with their label columns (genre, playlist, ...) joined back on."""
    labels = pd.read_sql(sa.select(db.track_labels), conn)
    labels = labels[labels["track_id"].isin(tracks["track_id"])]
    if labels.empty:
        return tracks
    wide = labels.pivot(index="track_id", columns="name", values="value").reset_index()
    wide.columns.name = None
    return tracks.merge(wide, on="track_id", how="left")


