"""The ingest writer: one ingest's rows into the database, inside its caller's transaction.

`IngestWriter` writes one ingest inside a transaction that holds the catalogue's lock
(`hold_catalogue`) and commits the lake's files with it (`store.catalogue.write_ingest`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from songscope import schema
from songscope.jsonable import dumps
from songscope.store.bulk import bulk_insert, in_chunks, indexed_after, inserts_deferred, key_order, one_of
from songscope.store.connect import WAIT_SECONDS, DatabaseError, now
from songscope.store.labels import merge_labels, stored_labels
from songscope.store.tables import (
    CATALOGUE_LOCK,
    catalogue_files,
    ingest_runs,
    late_assignments,
    locks,
    rejected_rows,
    sources,
    track_artists,
    track_duplicates,
    track_labels,
    tracks,
)

#: Tracks whose labels are merged at a time: a million songs with seven labels are seven million
#: label rows, whose frames (melted, filtered, staged) were the labelled ingest's peak.
LABEL_SLICE_TRACKS = 200_000


def _in_key_ranges(rows: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """`rows` (with a ``track_id``) in slices of at most `size`, each a range of ids in key order
    (`bulk.key_order`), so that slices loaded one after another append to the key's B-tree."""
    if len(rows) <= size:
        yield rows
        return
    order = key_order(tracks, rows)  # the tracks' key: their ids
    for start in range(0, len(order), size):
        yield rows.iloc[order[start : start + size]]


def insert_ingest_run(conn: Connection, **values: object) -> int:
    """Write an ingest's row (an ingest, or a prune that changes the catalogue), numbered after
    every committed one; returns its ``commit_order``. The caller holds the catalogue's lock,
    under which commits are serial, so the numbers are the commit order (the unique key refuses
    a writer that did not hold it)."""
    order = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(ingest_runs.c.commit_order), 0))).scalar()) + 1
    conn.execute(ingest_runs.insert().values(**values, commit_order=order))
    return order


# ------------------------------------------------------------------------------------------ writes


@dataclass
class IngestRecord:
    """What `IngestWriter` wrote, for the CLI to print."""

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
        held = conn.execute(locks.update().where(locks.c.name == CATALOGUE_LOCK).values(holder=holder, since=now()))
    except sa.exc.OperationalError as exc:
        raise CatalogueBusy(
            f"another ingest has held the catalogue for over {wait_seconds:.0f} s; try again when it has finished ({exc.orig})"
        ) from exc
    if held.rowcount != 1:  # deleted by hand: writing without it could lose tracks
        raise DatabaseError(f"the database has no {CATALOGUE_LOCK!r} row in its locks table; restore it with "
                            f"INSERT INTO locks (name) VALUES ('{CATALOGUE_LOCK}')")


def catalogue_is_empty(conn: Connection) -> bool:
    return conn.execute(sa.select(tracks.c.track_id).limit(1)).first() is None


def known_track_ids(conn: Connection, track_ids: Iterable[str]) -> set[str]:
    """Which of `track_ids` the catalogue holds (by index lookups, never a scan of the catalogue)."""
    return _held(conn, tracks.c.track_id, track_ids)


def late_assigned(conn: Connection, run_id: str, track_ids: Iterable[str]) -> set[str]:
    """Which of `track_ids` an earlier `songscope assign` put into run `run_id` (index lookups)."""
    return _held(conn, late_assignments.c.track_id, track_ids, late_assignments.c.run_id == run_id)


def _held(conn: Connection, column: sa.Column, values: Iterable[str], where: sa.ColumnElement[bool] | None = None) -> set[str]:
    """Which of `values` `column` holds (in the rows `where` picks), a chunk of index lookups at a time."""
    found: set[str] = set()
    for chunk in in_chunks(list(dict.fromkeys(values))):
        match = one_of(conn, column, chunk)
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
    for chunk in in_chunks(sorted({int(k) for k in keys})):
        for key, track_id, artist, name, duration in conn.execute(sa.select(*query_columns).where(one_of(conn, tracks.c.near_key, chunk))):
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

    none = pd.DataFrame({name: pd.Series(dtype=object) for name in ("track_id", "position", "name", "artist_id")})
    if "artists" not in clean_tracks:
        return none
    listed = clean_tracks["artists"].str.contains(SEPARATOR, regex=False, na=False).to_numpy(dtype=bool)
    if "artist_ids" in clean_tracks:
        listed |= clean_tracks["artist_ids"].notna().to_numpy()
    if not listed.any():  # taking no row of Arrow text in chunks still joins its chunks (1M tracks: 0.3 s)
        return none
    # Only the listed songs' columns are taken (a whole million-track frame, filtered, was copied).
    clean_tracks = clean_tracks.loc[listed, [c for c in ("track_id", "artists", "artist_ids") if c in clean_tracks]]
    ids = clean_tracks["artist_ids"] if "artist_ids" in clean_tracks else pd.Series([None] * len(clean_tracks), dtype=object, index=clean_tracks.index)
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
    that repeats a stored track's artist, name and duration is recorded as a near duplicate of it
    (`absorbed_by`), not added. Rejected rows are keyed by (source, line), sources by (URI, content
    hash), so re-ingesting the same files adds no rows. Provenance goes to the lake alone
    (`store.provenance`); the writer counts it.

    Call order: `add_tracks` for every chunk of clean tracks (each returns what the lake's catalogue
    must receive: the tracks added and the labels of stored tracks that chunk changed), then
    `add_rejected` and `add_duplicates` in any number of chunks, then `finish`.
    Chunks of one ingest never share a track id (cleaning made them unique).
    """

    def __init__(self, conn: Connection, *, run_id: str, started_at: datetime, source_summaries: Iterable[object], lake_uri: str | None = None,
                 feature_set: str = "spotify"):
        self.conn, self.run_id, self.started_at, self.lake_uri = conn, run_id, started_at, lake_uri
        self.feature_set = feature_set
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
        self._indexes_deferred = False

    @contextmanager
    def loading(self, rows: int) -> Iterator[None]:
        """Around every `add_tracks` of an ingest of about `rows` tracks in several chunks: a large
        first load builds the tracks' indexes once, after its last chunk (`indexed_after`), not
        after its first. Its later chunks need none: into an empty catalogue, nothing is looked up.
        On SQLite, every chunk's tracks and artists go in as the last chunk is stored
        (`inserts_deferred`): the chunks never share a track id or a near key, so no chunk looks
        up another's rows. Into an empty catalogue, so do their labels: only a stored track's
        are ever looked up, and there is none."""
        if not self.catalogue_was_empty:
            with inserts_deferred(self.conn, (tracks, track_artists)):
                yield
            return
        with indexed_after(self.conn, tracks, rows), indexed_after(self.conn, track_artists, rows):
            self._indexes_deferred = True
            try:
                with inserts_deferred(self.conn, (tracks, track_artists, track_labels)):
                    yield
            finally:
                self._indexes_deferred = False

    def add_tracks(self, clean_tracks: pd.DataFrame, near_keys: np.ndarray | None = None,
                   while_inserting: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
        """Store a chunk of clean tracks; returns the merged labels of the stored tracks this chunk
        gave labels to. `while_inserting` is handed the tracks to add as soon as they are known,
        before they are inserted: to start work that can run beside the insert (the lake's files of
        them). Nothing of the chunk is returned, so that the caller's letting it go frees it (a
        million tracks held through the next chunk's store, or the commit, were the peak)."""
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
        # Every song new (an ingest into an empty catalogue, most of all): the frame as it is, not a copy.
        new_tracks = clean_tracks if is_new.all() else clean_tracks[is_new].reset_index(drop=True)
        if while_inserting is not None:
            while_inserting(new_tracks)

        # The columns side by side, each as it is (selecting and assigning copied them all twice).
        track_rows = pd.DataFrame({c.name: new_tracks[c.name].array for c in tracks.columns if c.name in new_tracks.columns}
                                  | {"ingest_run_id": np.full(len(new_tracks), self.run_id, dtype=object), "near_key": near_keys[is_new]},
                                  index=new_tracks.index, copy=False)
        deferred = self._indexes_deferred
        with nullcontext() if deferred else indexed_after(conn, tracks, len(track_rows)):
            bulk_insert(conn, tracks, track_rows)
        artist_rows = artists_of(new_tracks)
        with nullcontext() if deferred else indexed_after(conn, track_artists, len(artist_rows)):
            bulk_insert(conn, track_artists, artist_rows)

        # What an earlier ingest's track absorbed is credited to it: its labels and its provenance.
        absorbed_by = dict(zip(earlier["dropped_track_id"], earlier["kept_track_id"]))
        self.absorbed_by.update(absorbed_by)
        if len(earlier):
            self.earlier_pairs.append(earlier)
        label_columns = [c for c in clean_tracks.columns if c not in schema.STORED_COLUMNS and c not in ("is_outlier", "outlier_rules")]
        stored_labelled: set[str] = set()
        if label_columns:  # without any, nothing to merge: no copy of every id (80 MB at the peak of a million)
            label_rows = clean_tracks[["track_id", *label_columns]]
            if absorbed_by:
                label_rows = label_rows.assign(track_id=label_rows["track_id"].map(lambda t: absorbed_by.get(t, t)))
            stored_ids = set(clean_tracks["track_id"][is_known]) | set(absorbed_by.values())
            for some in _in_key_ranges(label_rows, LABEL_SLICE_TRACKS):
                merge_labels(conn, some, label_columns, stored_ids)
            # Stored tracks that this ingest gave labels: the lake's copy of them must say so too.
            stored_labelled = set(label_rows[label_rows[label_columns].notna().any(axis=1)]["track_id"]) & stored_ids
        label_updates = stored_labels(conn, stored_labelled)
        self.tracks_added += len(track_rows)
        self.tracks_known += int(is_known.sum())
        self.clean_rows += len(clean_tracks)
        return label_updates

    def count_provenance(self, rows: int) -> None:
        """Count provenance rows written for this ingest (the lake keeps them: `store.provenance`)."""
        self.provenance_added += rows

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
                    rejected_rows: int, rejected_added: int) -> None:
        """Count what `store.staging.move` moved in from the staging tables that workers filled
        (the same rules, applied by the workers to their parts and by set-based statements)."""
        self.clean_rows += clean_rows
        self.tracks_added += tracks_added
        self.tracks_known += tracks_known
        self.near_earlier_moved += near_earlier
        self.rejected_rows += rejected_rows
        self.rejected_added += rejected_added

    def finish(self, *, report: dict[str, object], rows_read: int) -> IngestRecord:
        """The ingest's own row, written last: its counts are the sum of the chunks'."""
        earlier = pd.concat(self.earlier_pairs, ignore_index=True) if self.earlier_pairs else None
        if earlier is not None:
            self._insert_duplicates(earlier.assign(rule=EARLIER_NEAR_DUPLICATE_RULE, detail="")[list(DUPLICATE_PAIR_COLUMNS)])
        near_earlier = (0 if earlier is None else len(earlier)) + self.near_earlier_moved
        insert_ingest_run(
            self.conn,
            run_id=self.run_id,
            started_at=self.started_at,
            finished_at=now(),
            sources=dumps([s.uri for s in self.summaries]),  # type: ignore[attr-defined]
            rows_read=int(rows_read),
            rows_rejected=int(self.rejected_rows),
            rows_clean=int(self.clean_rows),
            tracks_added=int(self.tracks_added),
            report=dumps({**report, "near_duplicates_of_earlier_ingests": near_earlier}),
            lake_uri=self.lake_uri,
            feature_set=self.feature_set,
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


def _without_existing_pairs(conn: Connection, dup: pd.DataFrame) -> pd.DataFrame:
    """Duplicate pairs not recorded yet, looked up by their kept ids (never the whole table)."""
    if dup.empty:
        return dup
    existing: set = set()
    for chunk in in_chunks(sorted(set(dup["kept_track_id"]))):
        existing |= _existing(conn, sa.select(
            track_duplicates.c.rule, track_duplicates.c.kept_track_id, track_duplicates.c.dropped_track_id
        ).where(one_of(conn, track_duplicates.c.kept_track_id, chunk)))
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
