"""The catalogue in both stores: a table of immutable Parquet files whose manifest is the database.

Each ingest adds its own files of new tracks (``catalogue/<run>/part-NNNNN.parquet``) and lists
them in ``catalogue_files`` in the same database transaction that inserts the tracks, so the
commit makes both visible at once. Readers read exactly the listed files. Writers hold the
catalogue's lock (`db.hold_catalogue`) from their first statement to their commit, so:

- concurrent ingests are serialised where it matters (deciding which tracks are new) and lose
  nothing; their reading and cleaning still run side by side;
- a file in the lake that the manifest does not list, seen while holding the lock, can only be
  the leftover of an ingest that died: `sweep` removes it, at the next ingest or on demand.

Why the database as the manifest and not Delta Lake or Iceberg: the database is already the
transactional store every deployment has (SQLite, PostgreSQL, MariaDB), and the tracks must be
committed in it anyway. A second commit protocol in the lake would need a reconcile step between
the two after every crash, and Delta's concurrent writers on S3 need a lock service besides.
Here one commit decides both, and there is nothing to reconcile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from songscope.config import Settings
from songscope.crashpoints import reach
from songscope.jsonable import dumps
from songscope.memory import release_freed_memory
from songscope.store import audio_files as audio_files_store
from songscope.store import db, keys, provenance, staging
from songscope.store.catalogue_parts import as_read, write_parts
from songscope.store.clean_ingest import CleanIngest, InMemoryIngest
from songscope.store.lake import Lake, LakeError
from songscope.store.legacy_lake import MAINTENANCE, migrate_legacy_lake
from songscope.textcolumns import arrow_text


class Store(Protocol):
    """What the catalogue needs of a `songscope.store.store.Store` (which reads the catalogue
    through this module, so this module names only the interface)."""

    settings: Settings
    lake: Lake

    @property
    def db(self) -> sa.Engine: ...

    def forget(self, *keys: Any) -> None: ...




class NoCatalogue(LakeError):
    """Nothing has been ingested into this database yet."""


@dataclass
class StoredIngest:
    """What one ingest wrote: the database's record, the lake keys, the catalogue's size after."""

    record: db.IngestRecord
    #: The ingest's own record in the lake: rejected rows, provenance, report (name -> URI).
    lake_keys: dict[str, str] = field(default_factory=dict)
    #: The catalogue files this ingest added (its new tracks), as URIs.
    catalogue_files: list[str] = field(default_factory=list)
    catalogue_rows: int = 0
    #: Leftovers of earlier ingests that died, removed by this one.
    swept: list[str] = field(default_factory=list)
    #: Staging tables of earlier ingests that died, dropped by this one (see `store.staging`).
    swept_tables: list[str] = field(default_factory=list)
    #: Whether workers (Spark's executors) loaded the database, not this process (`store.staging`).
    loaded_by_workers: bool = False
    #: Seconds of the workers' load and of the move into the tables, when workers loaded.
    timings: dict[str, float] = field(default_factory=dict)
    #: What the ingest's `alongside` computed while the database committed (None without one).
    alongside: Any = None


#: The ingest record's rejected rows in the lake, as written for every backend (its provenance: `store.provenance`).
REJECTED_SCHEMA = pa.schema([("source", pa.string()), ("line", pa.int64()), ("columns", pa.string()), ("reason", pa.string()), ("raw", pa.string())])


def _as_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


@contextmanager
def catalogue_transaction(database: sa.Engine) -> Iterator[sa.Connection]:
    """The one transaction of a catalogue write. It must read what workers commit into staging
    tables after it began (`store.staging`): MariaDB's default isolation (REPEATABLE READ) would
    show it those tables as they were at its first read, so there it runs in READ COMMITTED,
    PostgreSQL's default. The catalogue's lock, not the isolation level, keeps writers apart."""
    with database.connect() as conn:
        if database.dialect.name == "mysql":
            conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            yield conn


def write_ingest(store: Store, *, run_id: str, started_at: datetime, read=None, cleaned=None, data: CleanIngest | None = None,
                 feature_set: str = "spotify", audio_files: pd.DataFrame | None = None,
                 alongside: Callable[[list[str], np.ndarray, threading.Event], Any] | None = None) -> StoredIngest:
    """Store one ingest in the database and the lake: one transaction, which holds the catalogue's
    lock and lists the lake's new files in the manifest, so a failure or kill at any point leaves
    both as they were. Pass `read` (an `ingest.IngestResult`) and `cleaned` (a `clean.CleanResult`),
    or `data`, any `CleanIngest` (the Spark backend's streams in bounded chunks). `feature_set`
    names the set (`schema.FEATURE_SETS`) its songs are described by; `audio_files`, the files
    they were analysed from (`audio_files.record`), are noted in the same transaction.

    `alongside`, when given, runs on a thread of its own once this process has written the new
    catalogue files: where `data` counts its chunks ahead (`track_chunk_count`), as soon as the
    last chunk's files are written, while the database still inserts its rows; else once every
    chunk is stored. It runs on while the database builds its indexes, records the rest and
    commits. It is called with the catalogue's track files as the commit will leave them
    (`track_parts`'s keys and starts; the lock keeps them so) and an event set once every
    chunk's rows are inserted and let go (or the ingest has failed): work that would add its
    peak to theirs waits for it. It must write nothing, for the commit may yet fail; what it
    returns is the result's `alongside`. Not called when the ingest adds no file, nor when
    workers wrote them."""
    data = data if data is not None else InMemoryIngest(read, cleaned)
    lake = store.lake
    migrate_legacy_lake(store.db, store.lake)
    lake_keys: dict[str, str] = {}
    staged: staging.Staging | None = None
    timings: dict[str, float] = {}
    computing: Future | None = None
    # Its thread starts only if `alongside` is submitted.
    beside_commit = ThreadPoolExecutor(1, thread_name_prefix="alongside-commit")
    rows_let_go = threading.Event()
    try:
        with catalogue_transaction(store.db) as conn:
            db.hold_catalogue(conn, run_id)
            reach("ingest:locked")
            swept = _sweep(conn, lake)
            swept_tables = staging.drop_dead(store.db)
            reach("ingest:swept")
            committed_files = db.catalogue_manifest(conn)  # what the new files join, as the lock keeps it
            files: list[tuple[str, int, int]] = []
            label_files: list[tuple[str, int, int]] = []

            def write_label_updates(label_updates: pd.DataFrame) -> None:
                nonlocal label_files
                if len(label_updates):
                    label_files += write_parts(lake, run_id, label_updates, keys.catalogue_labels, first_number=len(label_files))

            with db.bulk_write(conn):
                writer = db.IngestWriter(conn, run_id=run_id, started_at=started_at, source_summaries=data.sources,
                                         lake_uri=lake.uri(keys.ingest_folder(run_id)), feature_set=feature_set)
                # Rows an earlier ingest recorded can only come from a source read before (same URI and content).
                recorded_files = provenance.committed_files(conn, lake) if writer.known_sources else []

                def write_provenance() -> tuple[str, int]:
                    """The provenance file, once every chunk is stored (and so who absorbed whom is known)."""
                    recorded = provenance.recorded(lake, recorded_files, writer.known_sources)

                    def provenance_tables():
                        for frame in data.provenance_chunks():
                            table = provenance.credited(frame, writer.source_ids, writer.absorbed_by, recorded)
                            writer.count_provenance(table.num_rows)
                            yield table

                    return lake.write_tables(keys.ingest_provenance(run_id), provenance_tables(), provenance.SCHEMA)

                loaded = provenance_written = None
                if data.in_workers and staging.loads_in_parallel(store.db):
                    staged = staging.create(store.db)
                    job = staging.ParallelLoad(store.settings.db_url, store.settings.lake_url, store.settings.s3_endpoint, run_id,
                                               staged, writer.source_ids, writer.catalogue_was_empty)
                    started = time.perf_counter()
                    loaded = data.load_in_parallel(job)
                    timings["store_workers"] = time.perf_counter() - started
                if loaded is not None:
                    reach("ingest:staged")
                    started = time.perf_counter()
                    files = staging.move(conn, job, writer, loaded, write_label_updates)
                    timings["store_move"] = time.perf_counter() - started
                    for _ in files:  # the workers wrote them all, and the rows are moved
                        reach("ingest:catalogue-part")
                else:
                    # The lake's files of a chunk's new tracks are written on a second thread while the
                    # database inserts them: Parquet's encoder and the database's engine each free the
                    # interpreter while they work, so the two overlap on two cores.
                    last_chunk = None if data.track_chunk_count is None else data.track_chunk_count - 1
                    with ThreadPoolExecutor(1, thread_name_prefix="catalogue-parts") as beside, writer.loading(data.rows_read):
                        # Counted by hand: enumerate's result tuple would hold each chunk until the next
                        # one is made, past the generator's release of it.
                        number = -1
                        for tracks, near_keys in data.track_chunks():
                            number += 1
                            parts: list[Future] = []

                            def write_beside(new_tracks: pd.DataFrame, first_number: int = len(files), parts=parts,
                                             earlier: tuple = tuple(files), last: bool = number == last_chunk) -> None:
                                nonlocal computing
                                parts.append(beside.submit(write_parts, lake, run_id, new_tracks, first_number=first_number))
                                if last and alongside is not None:  # its files are the last: the catalogue-to-be is known
                                    computing = beside_commit.submit(_run_alongside, alongside, committed_files, earlier, parts[0], rows_let_go)

                            label_updates = writer.add_tracks(tracks, near_keys, while_inserting=write_beside)
                            files += parts[0].result()
                            write_label_updates(label_updates)
                            # Both stores have the chunk: its rows go now, not when the next
                            # chunk replaces them (a million tracks held through the commit).
                            del tracks, near_keys, label_updates
                        if alongside is not None and computing is None:  # chunks not counted ahead: before the indexes are built
                            computing = beside_commit.submit(_run_alongside, alongside, committed_files, files, None, rows_let_go)
                        rows_let_go.set()
                        # The provenance file is written while the database copies the rows in and
                        # builds its indexes, as `loading` ends (1M rows: 0.5-1 s of the store's stage).
                        provenance_written = beside.submit(write_provenance)

                def rejected_tables():  # each chunk goes to the database (unless the workers loaded it) and the lake file
                    for frame in data.rejected_chunks():
                        if loaded is None:
                            writer.add_rejected(frame)
                        yield _as_table(frame, REJECTED_SCHEMA)

                lake_keys["provenance"], _ = write_provenance() if provenance_written is None else provenance_written.result()
                lake_keys["rejected"], _ = lake.write_tables(keys.ingest_file(run_id, "rejected.parquet"), rejected_tables(), REJECTED_SCHEMA)
                for duplicates in data.duplicate_chunks():
                    writer.add_duplicates(duplicates)
                record = writer.finish(report=data.clean_report(), rows_read=data.rows_read)
                audio_files_store.record(conn, audio_files, run_id)
            reach("ingest:database-written")
            report = {"run_id": run_id, **data.read_summary(), "clean": data.clean_report(),
                      "near_duplicates_of_earlier_ingests": record.near_duplicates_of_earlier}
            lake_keys["report"] = lake.write_bytes(
                keys.ingest_file(run_id, "report.json"), dumps(report, indent=2).encode(), fresh=True
            )
            reach("ingest:lake-written")
            db.add_catalogue_files(conn, run_id, files)
            db.add_catalogue_files(conn, run_id, label_files, db.LABELS)
            catalogue_rows = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(db.catalogue_files.c.rows), 0))
                                              .where(db.catalogue_files.c.content == db.TRACKS)).scalar())
            reach("ingest:before-commit")
    finally:
        if staged is not None:  # after the transaction: it read them, and PostgreSQL would make the drop wait for it
            staging.drop(store.db, staged)
        rows_let_go.set()  # a failed ingest's rows are let go as it unwinds
        beside_commit.shutdown(wait=True)  # the alongside ends with the ingest, failed or not
    reach("ingest:committed")
    store.forget()
    computed = None if computing is None else computing.result()
    return StoredIngest(record, lake_keys, [lake.uri(key) for key, _, _ in files], catalogue_rows, swept, swept_tables, loaded is not None,
                        timings, computed)


def _run_alongside(alongside: Callable, committed: pd.DataFrame, earlier: Sequence[tuple[str, int, int]], written: Future | None,
                   rows_let_go: threading.Event) -> Any:
    """`write_ingest`'s `alongside`, once the last chunk's files (`written`, after those of the
    `earlier` chunks) are in the lake, with the track files in reading order (and the row each
    starts at, then the total) as the commit will leave them: the `committed` manifest, read
    under the catalogue's lock, and the new files after it. None when the ingest adds no file."""
    new_files = [*earlier, *(written.result() if written is not None else [])]
    if not new_files:
        return None
    listed = pd.DataFrame([(key, db.TRACKS, rows) for key, rows, _ in new_files], columns=["lake_key", "content", "rows"])
    return alongside(*_track_starts(pd.concat([committed, listed], ignore_index=True)), rows_let_go)


def _track_starts(files: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The track files of a manifest (`db.catalogue_manifest`) and the row each starts at (one more: the total)."""
    files = files[files["content"] == db.TRACKS]
    return files["lake_key"].tolist(), np.r_[0, np.cumsum(files["rows"].to_numpy(dtype=np.int64))]


# ------------------------------------------------------------------------------ sweep and repair


def _leftovers(conn: sa.Connection, lake: Lake) -> list[str]:
    """Lake files no committed ingest lists: catalogue files the manifest does not name, files of
    ingest runs the database does not hold, and temporary files of unfinished writes; and the
    files of `songscope assign` passes the database does not hold. Seen under the catalogue's
    lock they are a dead ingest's or pass's; without it, a running one's may be among them.
    """
    listed = set(db.catalogue_manifest(conn)["lake_key"])
    committed = set(conn.execute(sa.select(db.ingest_runs.c.run_id)).scalars())
    found = []
    for key in lake.keys(keys.CATALOGUE_FOLDER, temporary=True):
        if key == keys.LEGACY_CATALOGUE and not listed:
            continue  # an earlier release's catalogue, not migrated yet: `migrate_legacy_lake` owns it
        if key not in listed:
            found.append(key)
    for key in lake.keys(keys.INGEST_FOLDER, temporary=True):
        run_id = key.split("/")[1] if key.count("/") >= 2 else ""
        if run_id not in committed or key.rsplit("/", 1)[-1].startswith("."):
            found.append(key)
    # `songscope assign` writes its lake file under this lock too: one no committed pass lists is a dead one's.
    passes = set(conn.execute(sa.select(db.cluster_assignments_added.c.run_id, db.cluster_assignments_added.c.assign_id)).tuples())
    for key in lake.keys(keys.run_folder(""), temporary=True):
        parts = key.split("/")  # runs/<run>/late/<assign>.parquet
        if len(parts) == 4 and parts[2] == "late" and (parts[1], parts[3].removesuffix(".parquet")) not in passes:
            found.append(key)
    return found


def _sweep(conn: sa.Connection, lake: Lake) -> list[str]:
    """Remove what crashed ingests left in the lake; the caller holds the catalogue's lock, so
    no other ingest is writing and every leftover is a dead one's."""
    doomed = _leftovers(conn, lake)
    for key in doomed:
        lake.delete(key)
    return doomed


def sweep(store: Store) -> list[str]:
    """Remove a crashed ingest's leftovers from the lake now (an ingest does it too); returns their keys."""
    migrate_legacy_lake(store.db, store.lake)
    with store.db.begin() as conn:
        db.hold_catalogue(conn, MAINTENANCE)
        staging.drop_dead(store.db)
        return _sweep(conn, store.lake)


# ---------------------------------------------------------------------------------------- read


def manifest(store: Store) -> pd.DataFrame:
    """The catalogue's files in reading order (migrating an earlier release's lake on first use)."""
    migrate_legacy_lake(store.db, store.lake)
    with store.db.connect() as conn:
        return db.catalogue_manifest(conn)


def file_uris(store: Store) -> list[str]:
    """Where the catalogue's track files are (absolute paths or ``s3://`` URLs), for readers such
    as Spark that need the songs' features, not the labels later ingests added."""
    files = manifest(store)
    files = files[files["content"] == db.TRACKS]
    if files.empty:
        raise _no_catalogue(store)
    return [store.lake.uri(key) for key in files["lake_key"]]


def size(store: Store) -> int:
    """Tracks in the catalogue, from the manifest alone (nothing read from the lake)."""
    files = manifest(store)
    return int(files.loc[files["content"] == db.TRACKS, "rows"].sum())


def feature_set_name(store: Store) -> str:
    """The name of the feature set (`schema.feature_set`) the catalogue's songs are described by:
    the one its ingests share, ``a+b`` when it holds songs of two (compared on the features both
    have), ``spotify`` while it is empty."""
    used = sa.select(db.ingest_runs.c.feature_set, sa.func.min(db.ingest_runs.c.commit_order).label("first")).where(
        db.ingest_runs.c.rows_clean > 0).group_by(db.ingest_runs.c.feature_set)
    with store.db.connect() as conn:
        names = [row.feature_set for row in sorted(conn.execute(used), key=lambda row: (row.first, row.feature_set))]
    return "+".join(names) or "spotify"


def label_columns(store: Store) -> list[str]:
    """The label columns (genre, playlist, ...) any catalogue file has, in order of first
    appearance, from the files' footers."""
    from songscope import schema

    files = manifest(store)
    found: list[str] = []
    for key in files.loc[files["content"] == db.TRACKS, "lake_key"]:
        for name in store.lake.parquet_columns(key):
            if name not in schema.STORED_COLUMNS and name not in ("is_outlier", "outlier_rules") and name not in found:
                found.append(name)
    return found


def _no_catalogue(store: Store) -> NoCatalogue:
    from songscope.config import redact

    database = redact(store.settings.db_url)
    if store.lake.keys(keys.CATALOGUE_FOLDER):
        return NoCatalogue(
            f"the lake {store.lake.url} holds catalogue files, but the database {database} lists none of them: the database "
            f"is the lake's manifest, so pass the --db that ingest wrote to (or ingest again into this one)"
        )
    return NoCatalogue(f"no catalogue in the database {database} and the lake {store.lake.url}: run `songscope ingest SOURCE...` first")


def read_provenance(store: Store, track_ids: list[str] | None = None) -> pd.DataFrame:
    """Which row of which source became which track (track_id, source_id, source, line), for
    every committed ingest in order, or for `track_ids` only (see `store.provenance`)."""
    migrate_legacy_lake(store.db, store.lake)
    with store.db.connect() as conn:
        return provenance.read(conn, store.lake, track_ids)


def read(store: Store, columns: list[str] | None = None) -> pd.DataFrame:
    """The clean catalogue: every listed file, in order, as one frame.

    Files from different ingests may carry different label columns; a column one file lacks is
    missing (null) for its rows.
    """
    files = manifest(store)
    if files.empty:
        raise _no_catalogue(store)
    tables = []
    for key in files.loc[files["content"] == db.TRACKS, "lake_key"]:
        tables.append(_read_columns(store.lake, key, columns))
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    frame = table.to_pandas(types_mapper=arrow_text)
    del table, tables
    release_freed_memory()  # the numeric columns' Arrow buffers, copied into the frame
    # Labels a later ingest merged into stored tracks, oldest first: each file holds the whole
    # merged value, so the newest wins.
    for key in files.loc[files["content"] == db.LABELS, "lake_key"]:
        wanted = None if columns is None else list(dict.fromkeys(["track_id", *columns]))
        updates = _read_columns(store.lake, key, wanted).to_pandas()
        position = pd.Series(np.arange(len(frame)), index=frame["track_id"]).reindex(updates["track_id"]).to_numpy()
        found = ~np.isnan(position)
        for column in updates.columns.drop("track_id"):
            if column not in frame:
                frame[column] = pd.Series([None] * len(frame), dtype=object)
            values = frame[column].astype(object).to_numpy()
            values[position[found].astype(np.int64)] = updates[column].to_numpy(dtype=object)[found]
            frame[column] = values
    if columns is not None:
        frame = frame.reindex(columns=columns)
    return frame


def track_batches(store: Store, columns: list[str]) -> Iterator[pa.Table]:
    """The catalogue's tracks one file at a time (at most 250,000 songs each), in the order
    `read` returns them, with those of `columns` each file has: for readers that must not hold
    the whole catalogue at once. Labels merged by later ingests are not applied."""
    for key in track_parts(store)[0]:
        yield _read_columns(store.lake, key, columns)


def read_part(lake: Lake, key: str, columns: list[str]) -> pa.Table:
    """`columns` of one tracks file (`key`, as `track_parts` lists it), those it has."""
    return _read_columns(lake, key, columns)


def track_parts(store: Store) -> tuple[list[str], np.ndarray]:
    """The tracks files in reading order and the catalogue row each starts at (one more: the total)."""
    part_keys, starts = _track_starts(manifest(store))
    if not part_keys:
        raise _no_catalogue(store)
    return part_keys, starts


def rows_at(store: Store, positions: np.ndarray | list[int], columns: list[str] | None = None, *,
            parts: tuple[list[str], np.ndarray] | None = None) -> pd.DataFrame:
    """The catalogue's rows at `positions` (row numbers in `read`'s order), read from just the
    files that hold them, in the order given. Labels merged by later ingests are not applied.
    `parts` (`track_parts`'s answer) names the files, when they are not the committed ones."""
    keys_, starts = track_parts(store) if parts is None else parts
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) and (positions.min() < 0 or positions.max() >= starts[-1]):
        raise IndexError(f"the catalogue has {starts[-1]:,} songs")
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    parts = []
    for i, key in enumerate(keys_):
        lo, hi = np.searchsorted(ordered, [starts[i], starts[i + 1]])
        if hi > lo:
            parts.append(_read_columns(store.lake, key, columns).take(pa.array(ordered[lo:hi] - starts[i])))
    if not parts:  # no positions: the columns alone, from the first file's schema
        parts.append(_read_columns(store.lake, keys_[0], columns).slice(0, 0))
    frame = pa.concat_tables(parts, promote_options="permissive").to_pandas(types_mapper=arrow_text)
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    return frame.iloc[inverse].reset_index(drop=True)


def sample(store: Store, rows: int, *, seed: int = 0, columns: list[str] | None = None,
           parts: tuple[list[str], np.ndarray] | None = None) -> tuple[pd.DataFrame, int]:
    """A fixed-seed sample of `rows` songs in catalogue order, read file by file, and the size
    of the catalogue. A catalogue of at most `rows` songs is returned whole, as `read` returns it
    (labels merged by later ingests included); a sample carries the labels its files hold. With
    `parts` (`track_parts`'s answer for files not committed yet), no label is merged."""
    _, starts = track_parts(store) if parts is None else parts
    total = int(starts[-1])
    if total <= rows and parts is None:
        return read(store, columns), total
    picked = np.arange(total) if total <= rows else np.sort(np.random.default_rng(seed).choice(total, rows, replace=False))
    return rows_at(store, picked, columns, parts=parts), total


def _read_columns(lake: Lake, key: str, columns: list[str] | None) -> pa.Table:
    if columns is None:
        return as_read(lake.read_table(key))
    present = set(lake.parquet_columns(key))
    wanted = list(columns)
    if "artists" in columns and "artists" not in present and "artist_name" not in columns:
        wanted.append("artist_name")  # a file older than several artists: they are read from its artist text
    table = as_read(lake.read_table(key, columns=[c for c in wanted if c in present]))
    return table.select([c for c in columns if c in table.column_names])


@dataclass
class CatalogueHealth:
    """The catalogue's size in each store, and what the lake holds that it should not (or lacks)."""

    database_tracks: int
    lake_tracks: int
    files: int
    missing_files: list[str]
    leftovers: list[str]

    @property
    def in_step(self) -> bool:
        return self.database_tracks == self.lake_tracks and not self.missing_files

    def to_dict(self) -> dict[str, object]:
        return {"database_tracks": self.database_tracks, "lake_tracks": self.lake_tracks, "files": self.files,
                "in_step": self.in_step, "missing_files": self.missing_files, "leftovers": self.leftovers}


def health(store: Store) -> CatalogueHealth:
    """Count the catalogue in the database and in the lake (from the files' own footers)."""
    files = manifest(store)
    with store.db.connect() as conn:
        database_tracks = int(conn.execute(sa.select(sa.func.count()).select_from(db.tracks)).scalar() or 0)
        leftovers = _leftovers(conn, store.lake)
    lake_tracks, missing = 0, []
    for key, content in zip(files["lake_key"], files["content"]):
        try:
            rows = store.lake.parquet_rows(key)
        except LakeError:
            missing.append(key)
            continue
        lake_tracks += rows if content == db.TRACKS else 0
    return CatalogueHealth(database_tracks, lake_tracks, len(files), missing, leftovers)

