"""The HTML report of a run, and the end-to-end job (`run`) that ends with it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from songscope.errors import UserError
from songscope.jsonable import jsonable
from songscope.memory import release_freed_memory
from songscope.service.clusters import ClusterOutcome, cluster
from songscope.service.common import Progress, assigned_of, backend_for, catalogue_space, load_run, say_to
from songscope.service.ingest import IngestOutcome, ingest
from songscope.store import cache, db, keys
from songscope.store.runs import ClusterRun
from songscope.store.store import Store

if TYPE_CHECKING:  # pragma: no cover
    from songscope.backends.base import Backend
    from songscope.viz.report import ReportData


@dataclass
class ReportOutcome:
    report: Any  # viz.report.Report
    path: Path
    lake_uri: str
    static_files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.report.run_id, "compare_run_id": self.report.compare_run_id, "path": str(self.path), "lake": self.lake_uri,
                "bytes": len(self.report.html), "figures": list(self.report.figures), "seconds": self.report.seconds,
                "static_files": [str(p) for p in self.static_files]}


def report(store: Store, run_id: str | None = None, *, output: Path = Path("reports/report.html"), compare_with: str | None = None,
           projection: str = "pca", ks: range = range(2, 21), density: bool = True, focus: int | None = None, static: Path | None = None,
           catalogue: pd.DataFrame | None = None, profiled=None, evidence=None, run: ClusterRun | None = None,
           progress: Progress | None = None) -> ReportOutcome:
    """Write the self-contained HTML report of a run to `output` and the lake, and note it in the
    database; with `static`, every figure as PNG and SVG too (the HTML is written either way)."""
    from songscope.viz.report import render

    if projection not in ("pca", "tsne", "umap"):
        raise UserError(f"--map {projection!r}: choose pca, tsne or umap")
    if run is None:
        run = load_run(store, run_id, assignments=False)
        if catalogue is None and run.metrics.get("sample_n") is not None:
            # A run evaluated on a sample (a Spark run's) has a catalogue that need not fit here:
            # the report is drawn from a fixed-seed sample, as the run's own report was (and says
            # so), its figures from the run.
            from songscope.backends.base import SAMPLE_ROWS
            from songscope.store.catalogue import sample

            catalogue, _ = sample(store, SAMPLE_ROWS, seed=store.settings.seed)
        else:
            run = load_run(store, run.run_id)
    other = load_run(store, compare_with, assignments=catalogue is None) if compare_with else None
    if catalogue is not None:
        # The runs' clusters of just the songs shown (a Spark run's assignments are millions).
        run, other = (r if r is None or r.assignments is not None else assigned_of(store, r, catalogue) for r in (run, other))
    started = time.perf_counter()
    data = gather_report(store, run, other=other, projection=projection, ks=ks, density=density, focus=focus, progress=progress,
                         catalogue=catalogue, profiled=profiled, evidence=evidence)
    built = dataclasses.replace(render(data, progress=progress), seconds=time.perf_counter() - started)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    data = built.html.encode("utf-8")
    output.write_bytes(data)
    name = built.run_id + (f"-vs-{built.compare_run_id}" if built.compare_run_id else "")
    lake_uri = store.lake.write_bytes(keys.report(name), data)
    db.record_report(store.db, run_id=built.run_id, compare_run_id=built.compare_run_id, path=str(output.resolve()), lake_uri=lake_uri,
                     size_bytes=len(data), figures=list(built.figures))
    run.save_selection(store, built.evidence.to_dict())
    store.forget(cache.run(run.run_id), cache.run_summary(run.run_id))
    outcome = ReportOutcome(built, output, lake_uri)
    if static is not None:
        from songscope.viz.figures import save_static

        say_to(progress)("static figures")
        try:
            outcome.static_files = save_static(built.figures, static)
        except RuntimeError as exc:  # no kaleido or no browser: the HTML report is written all the same
            raise UserError(f"{exc}; the HTML report was written to {output}") from exc
    return outcome


def gather_report(
    store: Store,
    run: ClusterRun,
    *,
    other=None,
    projection: str = "pca",
    ks: range = range(2, 21),
    references: int = 10,
    density: bool = True,
    focus: int | None = None,
    progress: Progress | None = None,
    catalogue: pd.DataFrame | None = None,
    profiled=None,
    evidence: Callable[[], object] | None = None,
) -> ReportData:
    """What the report of `run` (a `store.runs.ClusterRun`) shows, from the `store`: the catalogue,
    the ingests, `other` (a second run to compare with), a compact k sweep (k 2..20, B = 10;
    `songscope evaluate` runs the full one), the latest recommendation request and offline
    evaluation if there are any. `focus` is the cluster drawn as a radar (default: the largest).

    `songscope run` hands over what it already holds: the `catalogue` it clustered, its profile
    (`profiled`), and `evidence`, a call that returns the `select.Evidence` it started in the
    background (`select.selection_evidence` with the run's k, `ks`, `references` and `density`)."""
    from songscope.compare import compare_runs
    from songscope.evaluate.select import compare_algorithms, selection_evidence
    from songscope.features import FeatureSpace
    from songscope.profile import profile
    from songscope.viz import figures as F
    from songscope.viz.report import ReportData

    say = progress or (lambda message: None)
    seed = store.settings.seed
    if catalogue is None:
        say("reading the catalogue")
        catalogue = store.catalogue()
    if focus is not None and focus not in run.descriptions:
        raise UserError(f"cluster {focus} is not in run {run.run_id}: it has clusters 0..{max(run.descriptions)}")
    space = FeatureSpace.from_dict(run.space)
    X = space.transform(catalogue)
    say("profiling the data")
    prof = profiled if profiled is not None else profile(catalogue, figures=False, feature_set=space.feature_set)
    say(f"k sweep {ks.start}..{ks.stop - 1}")
    compare_at = run.k if run.k >= 2 else None
    if evidence is None:
        found = selection_evidence(X, k=compare_at, ks=ks, references=references, density=density, seed=seed, progress=say)
    else:
        # `songscope run`'s second process computes the sweeps; this one compares the algorithms
        # meanwhile, so both cores share the work. The call is answered only when `viz.report.render` needs it.
        say(f"the algorithms at k = {compare_at}")
        methods = compare_algorithms(X, compare_at, seed=seed) if compare_at else None

        def found():
            return dataclasses.replace(evidence(), methods=methods)
    release_freed_memory()  # the profile's and the comparison's arrays, before the map's
    say("the cluster map")
    points = F.project(X, method=projection, seed=seed)
    release_freed_memory()  # the projection's sample and its trustworthiness distances, before the figures'
    comparison = None
    if other is not None:
        say("comparing the runs")
        comparison = compare_runs(run, other, catalogue, seed=seed)
    request, recommended = None, None
    latest = db.latest_recommendation(store.db)
    if latest is not None:
        request, items = latest
        recommended = items.head(10).merge(catalogue[["track_id", "artist_name", "track_name"]], on="track_id")  # its first ten
    evaluation = None
    if store.lake.exists(keys.RECOMMENDATION_EVALUATION):
        evaluation = json.loads(store.lake.read_bytes(keys.RECOMMENDATION_EVALUATION))
    return ReportData(
        run=run, other=other, catalogue=catalogue, X=X, labels=run.labels_for(catalogue),
        ingests=db.read_table(store.db, db.ingest_runs).sort_values("started_at"), profile=prof, evidence=found, points=points,
        comparison=comparison, request=request, recommended=recommended, evaluation=evaluation,
        focus=focus if focus is not None else int(run.clusters.sort_values("size", ascending=False)["cluster"].iloc[0]),
        seed=seed, created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


@dataclass
class RunOutcome:
    ingest: IngestOutcome
    profile_paths: dict[str, Path]
    timings: dict[str, float]
    clustering: ClusterOutcome | None = None
    report: ReportOutcome | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"ingest": self.ingest.to_dict(), "profile": self.profile_paths, "timings_s": self.timings,
                         "clustering": self.clustering.to_dict() if self.clustering else None, "report": self.report.to_dict() if self.report else None})


def run(store: Store, sources: Iterable[str], *, out_dir: Path = Path("reports"), k: int = 8, resamples: int = 10, with_report: bool = True,
        backend: str | Backend = "local", features: str | None = None, progress: Progress | None = None) -> RunOutcome:
    """The end-to-end job: ingest and clean the sources, profile the catalogue, cluster it (k-means,
    evaluated and stored; `evaluate` chooses k with evidence), and write the HTML report
    (``out_dir/report.html``, also in the lake and noted in the database).

    One backend runs every stage. On Spark (`backend` spark, or auto when the sources hold at
    least ``SONGSCOPE_SPARK_MIN_ROWS`` songs) this process never holds the catalogue: the profile
    and the exact indices are aggregates, the rest of the evidence and the report come from a
    fixed-seed sample whose size they state. The local backend refuses, before reading, sources
    it estimates will not fit in this machine's memory, and names ``--engine spark``. `features`
    names the feature set that describes the sources' songs (`schema.FEATURE_SETS`; by default, spotify for tables, audio for audio files).
    """
    from songscope.backends.base import SAMPLE_ROWS
    from songscope.evaluate.background import BackgroundEvidence
    from songscope.profile import write_profile

    say = say_to(progress)
    sources = list(sources)
    backend = backend_for(store, backend, sources=sources, holds_catalogue_too=True, progress=progress)
    # Started first, so the second process's imports overlap the ingest; it runs the sweeps for k
    # while this one clusters (`gather_report` compares the algorithms at k here).
    evidence = BackgroundEvidence() if with_report else None
    timings: dict[str, float] = {}
    written = None
    # While the second process works, this one keeps to one thread of BLAS and OpenMP: threads that
    # outnumber the cores spin and slow both processes.
    with contextlib.ExitStack() as cleanup:
        if evidence is not None:
            cleanup.callback(evidence.close)
            if evidence.process is not None:
                cleanup.enter_context(_one_thread_each())
        t0 = time.perf_counter()
        ingested = ingest(store, sources, backend=backend, features=features, progress=progress)
        timings["ingest"] = time.perf_counter() - t0
        say(f"profiling the catalogue ({backend.name} backend)")
        t0 = time.perf_counter()
        # Tables only: the report draws the same figures, interactive (`songscope profile` draws PNGs).
        space = catalogue_space(store)
        profiled = backend.profile(store, feature_set=space.feature_set, clean_report=ingested.report, rejected=ingested.rows_rejected, figures=False)
        paths = write_profile(profiled, out_dir / "profile")
        timings["profile"] = time.perf_counter() - t0
        release_freed_memory()  # the profile's column copies and counts, before clustering's peak
        space = backend.fit_space(store, space)
        if evidence is not None:
            chosen = backend.sample(store, SAMPLE_ROWS, store.settings.seed)
            evidence.start(space.transform(chosen.songs), None, store.settings.seed)
        t0 = time.perf_counter()
        clustering = cluster(store, backend=backend, k=k, resamples=resamples, space=space, progress=progress)
        timings["cluster"] = time.perf_counter() - t0
        if evidence is not None:
            t0 = time.perf_counter()
            # Drawn from the songs the run was evaluated on: every song, or a Spark run's sample.
            written = report(store, clustering.run_id, run=clustering.run, output=out_dir / "report.html", catalogue=clustering.songs,
                             profiled=profiled, evidence=evidence.result, progress=progress)
            timings["report"] = time.perf_counter() - t0
    return RunOutcome(ingested, paths, timings, clustering, written)


def _one_thread_each():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)
