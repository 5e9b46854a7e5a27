"""Ingest, profile and synthesise: reading songs into the stores, and describing them."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from songscope import schema
from songscope.config import redact
from songscope.errors import UserError
from songscope.memory import release_freed_memory
from songscope.service.clusters import assign
from songscope.service.common import Progress, backend_for, catalogue_features, say_to
from songscope.store import db
from songscope.store.catalogue import StoredIngest, write_ingest
from songscope.store.runs import RunNotFound, latest_run_id, new_id
from songscope.store.store import Store

if TYPE_CHECKING:  # pragma: no cover
    from songscope.backends.base import Backend


@dataclass
class IngestOutcome:
    """Everything one ingest produced and where it went."""

    run_id: str
    #: The backend that read and cleaned the sources: local or spark.
    backend: str
    cleaned: Any  # backends.base.CleanedSources
    stored: StoredIngest
    timings: dict[str, float] = field(default_factory=dict)
    #: The new songs assigned to the latest clustering run, when there is one (`assign`).
    assigned: Any = None  # AssignOutcome | None

    @property
    def report(self):  # clean.CleanReport
        return self.cleaned.report

    @property
    def rows_read(self) -> int:
        return self.cleaned.rows_read

    @property
    def rows_valid(self) -> int:
        return self.cleaned.rows_valid

    @property
    def rows_rejected(self) -> int:
        return self.cleaned.rows_rejected

    @property
    def first_rejected(self) -> dict | None:
        return self.cleaned.first_rejected

    @property
    def record(self) -> db.IngestRecord:
        return self.stored.record

    @property
    def catalogue_rows(self) -> int:
        return self.stored.catalogue_rows

    @property
    def lake_keys(self) -> dict[str, str]:
        return self.stored.lake_keys

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "engine": self.backend,  # the key the JSON has always had
            "rows_read": self.rows_read,
            "rows_rejected": self.rows_rejected,
            "clean": self.report.to_dict(),
            "tracks_added": self.record.tracks_added,
            "tracks_already_known": self.record.tracks_already_known,
            "near_duplicates_of_earlier_ingests": self.record.near_duplicates_of_earlier,
            "catalogue_rows": self.catalogue_rows,
            "assigned": None if self.assigned is None else self.assigned.to_dict(),
            "catalogue_files": self.stored.catalogue_files,
            "lake": self.lake_keys,
            "swept": self.stored.swept,
            "swept_staging_tables": self.stored.swept_tables,
            "database_loaded_by": "executors" if self.stored.loaded_by_workers else "driver",
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _refuse_nothing_usable(cleaned) -> None:
    """An ingest in which no row was usable stores nothing and says why, in one line."""
    from songscope.ingest import IngestError

    first = cleaned.first_rejected or {}
    raise IngestError(
        f"no row was usable: all {cleaned.rows_read:,} rows read were rejected, the first at {first.get('source')}:{first.get('line')}: "
        f"{first.get('reason')}. Check the file's layout (columns, delimiter, encoding) against `songscope ingest --help`"
    )


def ingest(
    store: Store,
    sources: Iterable[str],
    *,
    backend: str | Backend = "local",
    encoding: str = "utf-8",
    delimiter: str = ",",
    outlier_rules: tuple[schema.OutlierRule, ...] | None = None,
    loose_dedup: bool = False,
    assign_new: bool = True,
    features: str | None = None,
    workers: int | None = None,
    batch_files: int | None = None,
    prune: bool = False,
    progress: Progress | None = None,
) -> IngestOutcome | AudioIngestOutcome:
    """Read, validate and clean the sources on the `backend` (local, spark, auto by their size, or
    the one a job has chosen), whose songs `features` describe (a feature set of
    `schema.FEATURE_SETS`: what clustering, profiles and recommendations then read; by default
    ``spotify`` for tables, ``audio`` for audio files, which are analysed first by `workers`
    processes and committed `batch_files` at a time, songs whose files are gone removed with
    `prune`, see `ingest_audio`);
    store them in the database and the lake, all or nothing; rows that match `outlier_rules` are
    flagged (default: the seed's rules for Spotify's columns, none for audio). With `assign_new`, the songs it
    added are then assigned to the latest clustering run's clusters, with the drift measured
    (`assign`; nothing when there is no run yet).

    Examples
    --------
    >>> import tempfile
    >>> from songscope.config import Settings
    >>> from songscope.seed import seed_paths
    >>> folder = tempfile.mkdtemp()
    >>> with Store(Settings(db_url=f"sqlite:///{folder}/s.db", lake_url=f"{folder}/lake")) as store:
    ...     ingest(store, seed_paths()).catalogue_rows
    15626
    """
    from songscope.backends.base import IngestOptions
    from songscope.ingest import check_delimiter
    from songscope.ingest.audio import holds_audio
    from songscope.temporary import remove_abandoned

    sources = list(sources)
    for folder in remove_abandoned():  # what an ingest stopped by a kill left on disk (gigabytes, for a big one)
        say_to(progress)(f"removed {folder}, left by a songscope process that was stopped")
    if holds_audio(sources):
        return ingest_audio(store, sources, backend=backend, features=features or schema.AUDIO.name, outlier_rules=outlier_rules or (),
                            loose_dedup=loose_dedup, assign_new=assign_new, workers=workers,
                            batch_files=batch_files or AUDIO_BATCH_FILES, prune=prune, progress=progress)
    features = features or schema.SPOTIFY.name
    outlier_rules = schema.SEED_OUTLIER_RULES if outlier_rules is None else outlier_rules
    say = say_to(progress)
    check_delimiter(delimiter)
    schema.feature_set(features).check_stored()  # a set the catalogue can hold, or a clear error before any work
    started_at = datetime.now(UTC)
    run_id = new_id()
    # Both stores must answer before the long work starts, not after it.
    store.db  # noqa: B018 - connects and migrates
    store.lake.check_writable()
    settings = store.settings
    backend = backend_for(store, backend, sources=sources, ingests=True, progress=progress)
    options = IngestOptions(encoding=encoding, delimiter=delimiter, outlier_rules=outlier_rules, loose=loose_dedup, s3_endpoint=settings.s3_endpoint,
                            features=features)
    cleaned = backend.read_and_clean(sources, options, progress=say)
    if cleaned.rows_valid == 0:
        cleaned.release()
        _refuse_nothing_usable(cleaned)
    timings = dict(cleaned.timings)
    say(f"storing in {redact(settings.db_url)} and {settings.lake_url}")
    t0 = time.perf_counter()
    try:
        stored = write_ingest(store, run_id=run_id, started_at=started_at, data=cleaned.data, feature_set=features,
                              alongside=_names_alongside(store, backend))
    finally:
        cleaned.release()
    timings["store"] = time.perf_counter() - t0
    timings.update(stored.timings)  # the store's parts, where the executors loaded the database
    if stored.alongside is not None:
        timings["store_names"] = stored.alongside.seconds  # a part of the store's, as store_workers is: beside its commit
    # The stores hold the rows now: the names and the assignment below read them from there.
    cleaned = dataclasses.replace(cleaned, data=cleaned.data.without_rows())
    release_freed_memory()
    t0 = time.perf_counter()
    if stored.record.tracks_added and _place_names(store, backend, say, stored.alongside):
        timings["names"] = time.perf_counter() - t0
    if stored.record.tracks_added or stored.record.tracks_already_known:  # new songs, or new tags of known ones
        _learn_from_tags(store, say)
    assigned = None
    if assign_new and stored.record.tracks_added:
        try:
            latest_run_id(store)
        except RunNotFound:
            pass  # nothing clustered yet: nothing to assign to
        else:
            t0 = time.perf_counter()
            assigned = assign(store, backend=backend, progress=progress)  # a catalogue read on Spark is assigned there too
            timings["assign"] = time.perf_counter() - t0
    return IngestOutcome(run_id, backend.name, cleaned, stored, timings, assigned)


#: Audio files analysed, then committed, at a time: what a kill can cost, and what the next run redoes.
AUDIO_BATCH_FILES = 200


@dataclass(frozen=True)
class AudioIngestOutcome:
    """An ingest of audio files: each batch its own ingest (`IngestOutcome`), committed in turn."""

    batches: tuple[IngestOutcome, ...]
    #: Files found under the sources, and of those, the ones an earlier ingest described as they are now.
    files_found: int
    files_unchanged: int
    backend: str
    assigned: Any = None  # AssignOutcome | None
    #: Files an earlier ingest described under these folders that are no longer there, and
    #: whether their songs were removed (`prune`), when they were.
    gone: tuple[str, ...] = ()
    pruned: Any = None  # store.prune.RemovedTracks | None

    @property
    def rows_read(self) -> int:
        return sum(b.rows_read for b in self.batches)

    @property
    def rows_rejected(self) -> int:
        return sum(b.rows_rejected for b in self.batches)

    @property
    def tracks_added(self) -> int:
        return sum(b.record.tracks_added for b in self.batches)

    @property
    def report(self):
        """The cleaning report of a single batch (None for several: see each batch's)."""
        return self.batches[0].report if len(self.batches) == 1 else None

    @property
    def catalogue_rows(self) -> int | None:
        return self.batches[-1].catalogue_rows if self.batches else None

    def rejected(self) -> list[tuple[str, str]]:
        """(file, reason) of every file that could not be described."""
        found = []
        for batch in self.batches:
            for chunk in batch.cleaned.data.rejected_chunks():
                found += list(zip(chunk["source"], chunk["reason"]))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"files_found": self.files_found, "files_unchanged": self.files_unchanged, "files_analysed": self.rows_read,
                "rejected": [{"file": f, "reason": r} for f, r in self.rejected()], "tracks_added": self.tracks_added,
                "catalogue_rows": self.catalogue_rows, "engine": self.backend, "feature_set": schema.AUDIO.name,
                "ingests": [b.to_dict() for b in self.batches], "assigned": None if self.assigned is None else self.assigned.to_dict(),
                "files_gone": list(self.gone), "songs_removed": None if self.pruned is None else self.pruned.removed}


def ingest_audio(store: Store, sources: list[str], *, backend: str | Backend = "local", features: str = "audio",
                 outlier_rules: tuple[schema.OutlierRule, ...] = (), loose_dedup: bool = False, assign_new: bool = True,
                 workers: int | None = None, batch_files: int = AUDIO_BATCH_FILES, prune: bool = False,
                 progress: Progress | None = None) -> AudioIngestOutcome:
    """Analyse the audio files under `sources` that no earlier ingest described as they are now
    (same path, size and modification time), `batch_files` at a time; each batch is validated,
    cleaned and stored as one ingest, so a kill loses at most the batch under way and the next run
    goes on from there. Files that cannot be described are rejected rows with their reasons. Songs
    whose files an earlier ingest found under these folders and that are gone now are listed,
    and with `prune` removed from the catalogue (a song still in another file stays)."""
    from songscope.audio import require

    require()
    from songscope.audio.analyze import find_audio
    from songscope.backends.base import IngestOptions
    from songscope.store import audio_files

    if features != schema.AUDIO.name:
        raise UserError(f"audio files are described by the {schema.AUDIO.name} feature set, not {features!r}: leave out --features")
    if batch_files < 1:
        raise UserError(f"batches of {batch_files} files: use 1 or more")
    say = say_to(progress)
    store.db  # noqa: B018 - connects and migrates before the long work
    store.lake.check_writable()
    files, unreadable = find_audio(sources)
    if not files and not unreadable:
        raise UserError(f"no audio files under {', '.join(map(str, sources))} (songscope reads mp3, flac, ogg/opus, m4a/aac, wav and aiff)")
    found = len(files) + len(unreadable)
    seen = audio_files.known(store.db, [str(f.path) for f in files] + [str(r.file.path) for r in unreadable])
    todo = [f for f in files if seen.get(str(f.path)) != (f.size, f.mtime_ns)]
    unreadable = [r for r in unreadable if seen.get(str(r.file.path)) != (r.file.size, r.file.mtime_ns)]
    unchanged = found - len(todo) - len(unreadable)
    say(f"{found:,} audio files, {unchanged:,} unchanged since they were described (or rejected)")
    backend = backend_for(store, backend, progress=progress)
    options = IngestOptions(outlier_rules=outlier_rules, loose=loose_dedup, features=features, workers=workers)
    batches = []
    # Unreadable files are rejected rows of the first batch (of a batch of their own when all else is unchanged).
    for start in range(0, max(len(todo), 1 if unreadable else 0), batch_files):
        batch = todo[start:start + batch_files]
        started_at = datetime.now(UTC)
        cleaned = backend.analyze(batch, options, progress=progress, unreadable=unreadable if start == 0 else ())
        run_id = new_id()
        say(f"storing {cleaned.rows_valid:,} songs (files {start + 1:,}-{start + len(batch):,} of {len(todo):,})")
        t0 = time.perf_counter()
        try:
            stored = write_ingest(store, run_id=run_id, started_at=started_at, data=cleaned.data, feature_set=features,
                                  audio_files=cleaned.audio_files)
        finally:
            cleaned.release()
        batches.append(IngestOutcome(run_id, backend.name, cleaned, stored, dict(cleaned.timings) | {"store": time.perf_counter() - t0}))
    gone, pruned = _gone(store, sources, files, unreadable), None
    if gone and prune:
        pruned = prune_gone(store, gone)
    if any(b.record.tracks_added for b in batches) or pruned is not None:
        _place_names(store, backend, say)
        _learn_from_tags(store, say)
    assigned = None
    if assign_new and any(b.record.tracks_added for b in batches):
        try:
            latest_run_id(store)
        except RunNotFound:
            pass
        else:
            assigned = assign(store, backend=backend, progress=progress)
    return AudioIngestOutcome(tuple(batches), found, unchanged, backend.name, assigned, tuple(gone), pruned)


def _names_alongside(store: Store, backend: Backend):
    """What places the names while the database commits (`names.placed_alongside`), for an
    ingest whose names this process places (the local backend's); None otherwise."""
    if not store.settings.name_context or backend.name != "local":
        return None  # Spark places them on its executors, after the commit
    from songscope.service import names

    return functools.partial(names.placed_alongside, store)


def _place_names(store: Store, backend: Backend, say, placed=None) -> bool:
    """Place the new songs' names (`service.names`) on the ingest's backend while the ingest is at
    hand, so that no later command pays for them; skipped (False) when the name context is off.
    `placed`, what the ingest placed while it committed (`names.PlacedNames`), is written first."""
    if not store.settings.name_context:
        return False
    from songscope.service import names

    say("placing the new songs' names")
    if placed is not None:
        names.keep(store, placed)
    names.update(store, backend, progress=say)
    release_freed_memory()  # the fit's and the projections' arrays, which no later stage reuses
    return True


def _learn_from_tags(store: Store, say) -> None:
    """Learn the metric's weights from the catalogue's genre tags (`service.tag_weights`) while the
    ingest is at hand, for a feature set that learns them; nothing for one that ships its own."""
    from songscope.service.tag_weights import catalogue_tag_weights

    catalogue_tag_weights(store, progress=say)


def _gone(store: Store, sources: list[str], files: list, unreadable: list) -> list[str]:
    """Files described under the source folders before that are not there now."""
    import os

    from songscope.store import audio_files

    folders = [str(Path(s).absolute()) for s in sources if Path(s).is_dir()]
    if not folders:
        return []
    here = {str(f.path) for f in files} | {str(r.file.path) for r in unreadable}
    described = audio_files.under(store.db, folders)
    return sorted(p for p in described["path"] if p not in here and not os.path.lexists(p))


def prune_gone(store: Store, paths: list[str]):
    """Remove the songs of the files at `paths`, which are gone (a song still in another file stays),
    and forget the files: one transaction over the database and the lake (`store.prune`)."""
    from songscope.store import audio_files
    from songscope.store.prune import remove_tracks

    described = audio_files.under(store.db, ["/"])
    leaving = set(paths)
    staying = set(described.loc[~described["path"].isin(leaving), "track_id"])
    songs = sorted({t for t in described.loc[described["path"].isin(leaving), "track_id"] if t and t not in staying})
    return remove_tracks(store, songs, run_id=new_id(), reason=f"{len(paths):,} audio files gone", forget_files=list(paths))


@dataclass
class ProfileOutcome:
    profile: Any  # profile.Profile
    paths: dict[str, Path]

    def to_dict(self) -> dict[str, Any]:
        p = self.profile
        return {"songs": p.rows, "artists": p.artist_count, "top10_share": p.top10_share, "files": {k: str(v) for k, v in self.paths.items()}}


def profile(store: Store, sources: list[str] | None = None, *, out_dir: Path = Path("reports/profile"), figures: bool = True,
            backend: str | Backend = "local", features: str = "spotify", progress: Progress | None = None) -> ProfileOutcome:
    """Profile the stored catalogue on the `backend` (on Spark the tables are aggregations), its
    songs by the catalogue's feature set, or `sources` without storing them (read here, described
    by `features`); write Markdown, HTML (and PNGs)."""
    from songscope.clean import read_and_clean
    from songscope.profile import profile as make_profile
    from songscope.profile import write_profile

    say = say_to(progress)
    if sources:
        if backend not in ("local", "auto"):  # files not yet stored are read here
            raise UserError("profile --engine spark profiles the stored catalogue: ingest the files first (songscope ingest --engine spark)")
        read, cleaned = read_and_clean(sources, s3_endpoint=store.settings.s3_endpoint, progress=say)
        result = make_profile(cleaned.tracks, clean_report=cleaned.report, rejected=len(read.rejected), figures=figures,
                              feature_set=schema.feature_set(features))
    else:
        backend = backend_for(store, backend, progress=progress)
        say(f"profiling the catalogue ({backend.name} backend)")
        result = backend.profile(store, feature_set=catalogue_features(store), figures=figures)
    say("writing the profile")
    return ProfileOutcome(result, write_profile(result, out_dir))


@dataclass
class SynthOutcome:
    rows: int
    path: Path

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "path": str(self.path)}


def synth(rows: int, output: Path, *, seed: int = 0, progress: Progress | None = None) -> SynthOutcome:
    """Songs that follow the seed catalogue's marginals and correlations, written to a .csv or .parquet file."""
    from songscope.clean import read_and_clean
    from songscope.seed import seed_paths
    from songscope.synth import synthesize_chunks

    say = say_to(progress)
    output = Path(output)
    if output.suffix.lower() not in (".csv", ".parquet"):
        raise UserError(f"--out {output}: use a .csv or .parquet file name")
    say("fitting the seed's distributions")
    reference = read_and_clean(seed_paths())[1].tracks
    output.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    writer = None
    try:
        for chunk in synthesize_chunks(reference, rows, seed=seed):
            say(f"generating songs: {written:,} of {rows:,} written")
            if output.suffix.lower() == ".csv":
                chunk.to_csv(output, index=False, mode="w" if written == 0 else "a", header=written == 0)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(chunk, preserve_index=False)
                writer = writer or pq.ParquetWriter(output, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=64_000)
            written += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    return SynthOutcome(rows, output)
