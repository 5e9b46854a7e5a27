"""Ingest, profile and synthesise: reading songs into the stores, and describing them."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from songscope import schema
from songscope.config import redact
from songscope.errors import UserError
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
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES,
    loose_dedup: bool = False,
    assign_new: bool = True,
    features: str = "spotify",
    progress: Progress | None = None,
) -> IngestOutcome:
    """Read, validate and clean the sources on the `backend` (local, spark, auto by their size, or
    the one a job has chosen), whose songs `features` describe (a feature set of
    `schema.FEATURE_SETS`: what clustering, profiles and recommendations then read);
    store them in the database and the lake, all or nothing. With `assign_new`, the songs it
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

    say = say_to(progress)
    sources = list(sources)
    check_delimiter(delimiter)
    schema.feature_set(features).check_stored()  # a set the catalogue can hold, or a clear error before any work
    started_at = datetime.now(UTC)
    run_id = new_id()
    # Both stores must answer before the long work starts, not after it.
    store.db  # noqa: B018 - connects and migrates
    store.lake.check_writable()
    settings = store.settings
    backend = backend_for(store, backend, sources=sources, progress=progress)
    options = IngestOptions(encoding=encoding, delimiter=delimiter, outlier_rules=outlier_rules, loose=loose_dedup, s3_endpoint=settings.s3_endpoint)
    cleaned = backend.read_and_clean(sources, options, progress=say)
    if cleaned.rows_valid == 0:
        cleaned.release()
        _refuse_nothing_usable(cleaned)
    timings = dict(cleaned.timings)
    say(f"storing in {redact(settings.db_url)} and {settings.lake_url}")
    t0 = time.perf_counter()
    try:
        stored = write_ingest(store, run_id=run_id, started_at=started_at, data=cleaned.data, feature_set=features)
    finally:
        cleaned.release()
    timings["store"] = time.perf_counter() - t0
    timings.update(stored.timings)  # the store's parts, where the executors loaded the database
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
