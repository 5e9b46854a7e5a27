"""Wires the stages together: `ingest` (sources -> clean catalogue in the database and the lake)
and `run`, the end-to-end job that `make demo` runs.

Each stage is a plain function of data; this module only orders them, times them and says where
every output went. Progress is reported through a callback so the CLI can draw a progress bar.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from songscope import schema
from songscope.clean import CleanResult, clean
from songscope.config import Settings, redact
from songscope.ingest import IngestResult, read_sources
from songscope.store import db
from songscope.store.lake import Lake, LakeError

CATALOGUE_KEY = "catalogue/tracks.parquet"

Progress = Callable[[str], None]


@dataclass
class IngestOutcome:
    """Everything one ingest produced and where it went."""

    run_id: str
    ingest: IngestResult
    cleaned: CleanResult
    record: db.IngestRecord
    lake_keys: dict[str, str]
    catalogue_rows: int
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "rows_read": self.ingest.rows_read,
            "rows_rejected": len(self.ingest.rejected),
            "clean": self.cleaned.report.to_dict(),
            "tracks_added": self.record.tracks_added,
            "tracks_already_known": self.record.tracks_already_known,
            "catalogue_rows": self.catalogue_rows,
            "lake": self.lake_keys,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def ingest(
    patterns: Iterable[str],
    settings: Settings,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES,
    loose_dedup: bool = False,
    progress: Progress | None = None,
) -> IngestOutcome:
    """Read, validate and clean the sources; store them in the database and the lake.

    All or nothing: the lake objects of the run and the new catalogue snapshot are written inside
    the database transaction, so a failure anywhere leaves the database as it was (and the lake's
    catalogue unchanged; at most an orphaned ``ingest/<run>/`` folder remains, which nothing reads).

    Examples
    --------
    >>> import tempfile, os
    >>> from songscope.seed import seed_paths
    >>> folder = tempfile.mkdtemp()
    >>> settings = Settings(db_url=f"sqlite:///{folder}/s.db", lake_url=f"{folder}/lake")
    >>> ingest(seed_paths(), settings).catalogue_rows
    15626
    """
    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    started_at = datetime.now(UTC)
    run_id = started_at.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]

    t0 = time.perf_counter()
    read = read_sources(patterns, encoding=encoding, delimiter=delimiter, s3_endpoint=settings.s3_endpoint, progress=say)
    timings["read_validate"] = time.perf_counter() - t0

    say(f"cleaning {len(read.frame):,} valid rows")
    t0 = time.perf_counter()
    cleaned = clean(read.frame, outlier_rules=outlier_rules, loose=loose_dedup)
    timings["clean"] = time.perf_counter() - t0

    say(f"storing in {redact(settings.db_url)} and {settings.lake_url}")
    t0 = time.perf_counter()
    engine = db.connect(settings.db_url)
    lake = Lake(settings.lake_url, settings.s3_endpoint)
    lake_keys: dict[str, str] = {}
    catalogue_rows = 0

    def write_lake() -> None:
        nonlocal catalogue_rows
        prefix = f"ingest/{run_id}"
        lake_keys["tracks"] = lake.write_table(f"{prefix}/tracks.parquet", _to_arrow(cleaned.tracks))
        lake_keys["rejected"] = lake.write_table(f"{prefix}/rejected.parquet", _to_arrow(read.rejected))
        lake_keys["provenance"] = lake.write_table(f"{prefix}/provenance.parquet", _to_arrow(cleaned.provenance))
        report = {"run_id": run_id, **read.summary(), "clean": cleaned.report.to_dict()}
        lake_keys["report"] = lake.write_bytes(f"{prefix}/report.json", json.dumps(report, indent=2, default=str).encode())
        catalogue = _merge_catalogue(lake, cleaned.tracks)
        lake_keys["catalogue"] = lake.write_table(CATALOGUE_KEY, catalogue)
        # Read back what readers will see, so a broken write is caught before the commit.
        catalogue_rows = lake.read_table(CATALOGUE_KEY, columns=["track_id"]).num_rows
        if catalogue_rows != catalogue.num_rows:
            raise LakeError(f"{lake.uri(CATALOGUE_KEY)} reads back {catalogue_rows} rows, wrote {catalogue.num_rows}")

    record = db.record_ingest(
        engine,
        run_id=run_id,
        started_at=started_at,
        source_summaries=read.sources,
        clean_tracks=cleaned.tracks,
        provenance=cleaned.provenance,
        rejected=read.rejected,
        duplicates=cleaned.duplicates,
        report=cleaned.report.to_dict(),
        rows_read=read.rows_read,
        lake_uri=lake.uri(f"ingest/{run_id}"),
        before_commit=write_lake,
    )
    engine.dispose()
    timings["store"] = time.perf_counter() - t0
    return IngestOutcome(run_id, read, cleaned, record, lake_keys, catalogue_rows, timings)


def load_catalogue(settings: Settings, columns: list[str] | None = None) -> pd.DataFrame:
    """The clean catalogue from the lake, as written by the last ingest."""
    lake = Lake(settings.lake_url, settings.s3_endpoint)
    if not lake.exists(CATALOGUE_KEY):
        raise LakeError(
            f"no catalogue at {lake.uri(CATALOGUE_KEY)}: run `songscope ingest SOURCE...` first "
            f"(or point --lake at the lake an ingest wrote)"
        )
    return lake.read_table(CATALOGUE_KEY, columns=columns).to_pandas()


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _merge_catalogue(lake: Lake, new_tracks: pd.DataFrame) -> pa.Table:
    """The previous catalogue plus the tracks whose ids it does not hold yet."""
    new = _to_arrow(new_tracks)
    if not lake.exists(CATALOGUE_KEY):
        return new
    old = lake.read_table(CATALOGUE_KEY)
    known = set(old.column("track_id").to_pylist())
    fresh = new_tracks[~new_tracks["track_id"].isin(known)]
    if fresh.empty:
        return old
    merged = pd.concat([old.to_pandas(), fresh], ignore_index=True)
    return _to_arrow(merged)


@dataclass
class RunOutcome:
    ingest: IngestOutcome
    profile_paths: dict[str, Path]
    timings: dict[str, float]


def run(
    patterns: Iterable[str],
    settings: Settings,
    *,
    out_dir: Path = Path("reports"),
    progress: Progress | None = None,
) -> RunOutcome:
    """The end-to-end job: ingest and clean the sources, then profile the catalogue."""
    from songscope.eda import profile, write_profile

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    outcome = ingest(patterns, settings, progress=progress)
    timings["ingest"] = time.perf_counter() - t0
    if progress:
        progress("profiling the catalogue")
    t0 = time.perf_counter()
    catalogue = load_catalogue(settings)
    result = profile(catalogue, clean_report=outcome.cleaned.report, rejected=len(outcome.ingest.rejected))
    paths = write_profile(result, out_dir / "profile")
    timings["profile"] = time.perf_counter() - t0
    return RunOutcome(outcome, paths, timings)
