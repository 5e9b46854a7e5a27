"""Labels: each track's genres, playlists and the like, merged across ingests (a song in three genres keeps three)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from songscope.store.bulk import bulk_insert, in_chunks, one_of
from songscope.store.tables import track_labels

# MySQL's TEXT holds 64 KiB: rejected rows keep their raw content, which may be larger.


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
    for chunk in in_chunks(sorted(set(track_ids))):
        rows += conn.execute(sa.select(track_labels.c.track_id, track_labels.c.name, track_labels.c.value)
                             .where(one_of(conn, track_labels.c.track_id, chunk))).all()
    if not rows:
        return pd.DataFrame({"track_id": pd.Series(dtype=object)})
    wide = pd.DataFrame(rows, columns=["track_id", "name", "value"]).pivot(index="track_id", columns="name", values="value")
    wide.columns.name = None
    return wide.reset_index()


def merge_labels(conn: Connection, clean_tracks: pd.DataFrame, label_columns: list[str], stored_ids: Iterable[str] = ()) -> None:
    """Insert label values; where a track already has a label, add the new values to it.

    Only `stored_ids` (tracks stored before this ingest) can have labels already: only they are looked up.
    """
    merge_label_rows(conn, long_labels(clean_tracks, label_columns), stored_ids)


def long_labels(clean_tracks: pd.DataFrame, label_columns: list[str]) -> pd.DataFrame:
    """The label columns of `clean_tracks` as rows (track_id, name, value), empty values left out."""
    if not label_columns:
        return pd.DataFrame({"track_id": pd.Series(dtype=object), "name": pd.Series(dtype=object), "value": pd.Series(dtype=object)})
    long = clean_tracks[["track_id"] + label_columns].melt(id_vars="track_id", var_name="name", value_name="value")
    # Compared as they are: labels are text, and a text of every value (seven million for a
    # million songs with seven labels) was the labelled ingest's peak.
    return long[long["value"].notna().to_numpy() & (long["value"] != "").to_numpy(dtype=bool, na_value=False)].reset_index(drop=True)


def merge_label_rows(conn: Connection, long: pd.DataFrame, stored_ids: Iterable[str] = ()) -> None:
    """`merge_labels` of label rows (track_id, name, value); the rows of one track may come in
    several calls (each call sees what the ones before it wrote)."""
    if long.empty:
        return
    if long.duplicated(["track_id", "name"]).any():  # several rows credited to one stored track
        long = long.groupby(["track_id", "name"], sort=False)["value"].agg(_join_label_values).reset_index()
    names = sorted(long["name"].unique())
    existing: dict[tuple[str, str], str] = {}
    stored = set(stored_ids)
    # Looked up among the stored tracks only: a set of every row's id (seven million for a
    # million songs with seven labels) cost 5 s of a first ingest, which has none.
    lookup = sorted(set(long["track_id"][long["track_id"].isin(stored)])) if stored else []
    for chunk in in_chunks(lookup):
        existing.update({
            (t, n): v for t, n, v in conn.execute(
                sa.select(track_labels.c.track_id, track_labels.c.name, track_labels.c.value)
                .where(one_of(conn, track_labels.c.track_id, chunk), track_labels.c.name.in_(names))
            )
        })
    if not existing:  # nothing to merge into (every first ingest): the rows as they are, no key of each
        bulk_insert(conn, track_labels, long)
        return
    keys = list(zip(long["track_id"], long["name"]))
    is_new = np.fromiter((k not in existing for k in keys), dtype=bool, count=len(keys))
    bulk_insert(conn, track_labels, long[is_new])
    values = long["value"].to_numpy()
    for position in np.flatnonzero(~is_new).tolist():
        track_id, name = keys[position]
        old = existing[(track_id, name)].split("|")
        merged = old + [v for v in str(values[position]).split("|") if v not in old]
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
