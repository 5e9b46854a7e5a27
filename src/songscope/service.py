"""One function per user action, under both shells (the CLI and the web app).

Each takes a `Store` (the database and the lake of the process) and returns a result object
with ``to_dict()``; the shells parse their input, call one function and render what it returns
(``--json`` and the API through `songscope.jsonable`). Progress is reported through a callback
so the CLI can draw a progress bar; nothing here prints.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from songscope import crashpoints, schema
from songscope.artists import shown
from songscope.config import redact
from songscope.jsonable import dumps, jsonable
from songscope.store import db, keys
from songscope.store.catalogue import CatalogueHealth, StoredIngest, health, write_ingest
from songscope.store.catalogue import file_uris as catalogue_files
from songscope.store.catalogue import size as catalogue_size
from songscope.store.catalogue import sweep as sweep_lake
from songscope.store.catalogue import track_batches as catalogue_batches
from songscope.store.runs import ASSIGNMENT_SCHEMA, ClusterRun, RunNotFound, latest_run_id, list_runs, new_run_id, run_summaries
from songscope.store.store import Store

Progress = Callable[[str], None]
LABEL_CANDIDATES = ("playlist_genre", "genre", "label")


def _say(progress: Progress | None) -> Progress:
    return progress or (lambda message: None)


class NotFound(LookupError):
    """A run, cluster, song or list that does not exist; the message says what does."""


# ------------------------------------------------------------------------------------- ingest


@dataclass
class IngestOutcome:
    """Everything one ingest produced and where it went."""

    run_id: str
    engine: str
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
            "engine": self.engine,
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
    engine: str = "local",
    encoding: str = "utf-8",
    delimiter: str = ",",
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES,
    loose_dedup: bool = False,
    assign_new: bool = True,
    progress: Progress | None = None,
) -> IngestOutcome:
    """Read, validate and clean the sources on the `engine` (local, spark, or auto by their size);
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
    from songscope.backends import IngestOptions, ingest_backend
    from songscope.engines.choice import check_fits_locally, choose_engine, estimate_rows
    from songscope.ingest import check_delimiter

    say = _say(progress)
    sources = list(sources)
    check_delimiter(delimiter)
    started_at = datetime.now(UTC)
    run_id = new_run_id()
    # Both stores must answer before the long work starts, not after it.
    store.db  # noqa: B018 - connects and migrates
    store.lake.check_writable()
    settings = store.settings
    kind = engine
    if engine in ("auto", "local"):
        estimated = estimate_rows(sources, settings.s3_endpoint)
        kind, reason = choose_engine(engine, estimated)
        if engine == "auto":
            say(f"engine: {reason}")
        if kind == "local":
            check_fits_locally(estimated)
    backend = ingest_backend(kind, spark_master=settings.spark_master, scratch=settings.spark_scratch)
    options = IngestOptions(encoding=encoding, delimiter=delimiter, outlier_rules=outlier_rules, loose=loose_dedup, s3_endpoint=settings.s3_endpoint)
    cleaned = backend.read_and_clean(sources, options, progress=say)
    if cleaned.rows_valid == 0:
        cleaned.release()
        _refuse_nothing_usable(cleaned)
    timings = dict(cleaned.timings)
    say(f"storing in {redact(settings.db_url)} and {settings.lake_url}")
    t0 = time.perf_counter()
    try:
        stored = write_ingest(store, run_id=run_id, started_at=started_at, data=cleaned.data)
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
            assigned = assign(store, engine=kind, progress=progress)  # a catalogue read on Spark is assigned there too
            timings["assign"] = time.perf_counter() - t0
    return IngestOutcome(run_id, kind, cleaned, stored, timings, assigned)


# ------------------------------------------------------------------------------------ profile


@dataclass
class ProfileOutcome:
    profile: Any  # profile.Profile
    paths: dict[str, Path]

    def to_dict(self) -> dict[str, Any]:
        p = self.profile
        return {"songs": p.rows, "artists": p.artist_count, "top10_share": p.top10_share, "files": {k: str(v) for k, v in self.paths.items()}}


def profile(store: Store, sources: list[str] | None = None, *, out_dir: Path = Path("reports/profile"), figures: bool = True,
            engine: str = "local", progress: Progress | None = None) -> ProfileOutcome:
    """Profile the stored catalogue, or `sources` without storing them; write Markdown, HTML (and PNGs).
    On Spark (the stored catalogue only), the tables are aggregations (`backends.spark.profile`)."""
    from songscope.clean import read_and_clean
    from songscope.profile import profile as make_profile
    from songscope.profile import write_profile

    say = _say(progress)
    if engine != "local" and not sources:
        from songscope.engines.choice import choose_engine

        kind, _ = choose_engine(engine, catalogue_size(store))
        if kind == "spark":
            from songscope.backends.spark.profile import profile_on_spark

            settings = store.settings
            say("profiling the catalogue on Spark")
            tracks = _spark_catalogue(store)
            result = profile_on_spark(tracks, seed=settings.seed, figures=figures)
            return ProfileOutcome(result, write_profile(result, out_dir))
    if engine == "spark" and sources:
        raise ValueError("profile --engine spark profiles the stored catalogue: ingest the files first (songscope ingest --engine spark)")
    if sources:
        read, cleaned = read_and_clean(sources, s3_endpoint=store.settings.s3_endpoint, progress=say)
        result = make_profile(cleaned.tracks, clean_report=cleaned.report, rejected=len(read.rejected), figures=figures)
    else:
        say("reading the catalogue")
        result = make_profile(store.catalogue(), figures=figures)
    say("writing the profile")
    return ProfileOutcome(result, write_profile(result, out_dir))


# ------------------------------------------------------------------------------------- status


@dataclass
class Status:
    database: str  # the URL, password hidden
    schema_version: int
    counts: dict[str, int]
    ingests: pd.DataFrame
    runs: pd.DataFrame
    lake: str
    catalogue: CatalogueHealth

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "schema_version": self.schema_version, "counts": self.counts,
                "lake": self.lake, "catalogue": self.catalogue.to_dict(),
                "runs": self.ingests.drop(columns=["report"]), "cluster_runs": self.runs}


def status(store: Store) -> Status:
    """What the stores hold: counts, the catalogue's size in the database and in the lake, the
    ingest runs, the cluster runs (with their silhouette)."""
    ingests = db.read_table(store.db, db.ingest_runs).sort_values("started_at", ignore_index=True)
    return Status(redact(store.settings.db_url), db.schema_version(store.db), db.counts(store.db), ingests, list_runs(store),
                  store.settings.lake_url, health(store))


@dataclass
class SweepOutcome:
    """What a sweep removed from the lake: the leftovers of ingests and assign passes that died
    before committing."""

    removed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"removed": self.removed}


def sweep(store: Store) -> SweepOutcome:
    """Remove lake files that no committed ingest or assign pass lists (one that died left them),
    and Spark's staged files older than a day under the scratch location, when one is set."""
    removed = sweep_lake(store)
    if store.settings.spark_scratch:
        from songscope.backends.spark.ingest import sweep_scratch

        removed += sweep_scratch(store.settings.spark_scratch, store.settings.s3_endpoint)
    return SweepOutcome(removed)


# ------------------------------------------------------------------------------------ cluster


@dataclass
class ClusterOutcome:
    """A clustering run as stored, and the engine's own result (labels, centres, predictor)."""

    run: ClusterRun
    result: Any  # engines.base.ClusterResult
    #: A Spark run's sample (catalogue columns, by track id): `run.assignments` are its clusters.
    sample: pd.DataFrame | None = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def to_dict(self) -> dict[str, Any]:
        return self.run.to_dict()


def cluster(
    store: Store,
    *,
    engine: str = "local",
    algorithm: str = "kmeans",
    k: int = 8,
    params: dict | None = None,
    space=None,
    resamples: int = 20,
    label: str | None = None,
    catalogue: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> ClusterOutcome:
    """Cluster the catalogue, evaluate the clustering in the shared space, store the run.

    Metrics are songscope's own (silhouette, Davies-Bouldin, Calinski-Harabasz, SSE) in the
    shared space; stability is bootstrap Jaccard per cluster and ARI across seeds, refitted with
    the local engine's same algorithm (a Spark refit per resample would cost minutes for the
    same answer); the null-model check is the gap statistic at k against k = 1.

    On Spark (`engine` spark, or auto for a big catalogue) the catalogue never comes to this
    process: SSE, Calinski-Harabasz, Davies-Bouldin and the cluster sizes are exact aggregates,
    and the figures that need songs side by side are computed on a fixed-seed sample, whose size
    the run records (``sample_n``).
    """
    from songscope.engines.choice import check_fits_locally, choose_engine, make_engine
    from songscope.features import FeatureSpace

    say = _say(progress)
    settings = store.settings
    songs = len(catalogue) if catalogue is not None else catalogue_size(store)
    kind, reason = choose_engine(engine, songs)
    say(f"clustering {songs:,} songs: {algorithm} on the {kind} engine")
    runner = make_engine(kind, algorithm, k, settings.seed, settings, params)
    space = space or FeatureSpace()
    if kind == "spark":
        return _cluster_on_spark(store, runner, space, reason=reason, resamples=resamples, label=label, params=params, say=say)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if catalogue is None:  # `run` passes the one it has just profiled
        check_fits_locally(songs)
        say("reading the catalogue")
        catalogue = store.catalogue()
    X = space.fit_transform(catalogue)
    timings["features_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = runner.fit(X)
    timings["cluster_s"] = time.perf_counter() - t0
    identities = _continue_identities(store, catalogue["track_id"], result)
    say("evaluating in the shared feature space")
    t0 = time.perf_counter()
    from songscope.evaluate.internal import internal_indices

    metrics = internal_indices(X, result.labels, seed=settings.seed)
    timings["metrics_s"] = time.perf_counter() - t0
    assignments = pd.DataFrame({"track_id": catalogue["track_id"].to_numpy(), "cluster": result.labels})
    run = _evaluated_run(store, kind, algorithm, reason, space, catalogue, X, result, metrics, timings, assignments,
                         resamples=resamples, label=label, params=params, say=say)
    run.identities = identities
    t0 = time.perf_counter()
    run.save(store)
    run.timings["store_s"] = time.perf_counter() - t0
    return ClusterOutcome(run, result)


def _continue_identities(store: Store, track_ids, result) -> dict[str, Any] | None:
    """Number `result`'s clusters (in place) as the latest run's clusters they continue, matched
    by their members (`evaluate.matching`), so that a re-clustered catalogue keeps its cluster 3
    where it can; what continues what, or None when there is no earlier run. (On Spark,
    `cluster_on_spark` does this with the earlier run from `_previous_run_on_spark`.)"""
    import pyarrow as pa

    from songscope.evaluate.matching import continuing_numbers

    try:
        previous = load_run(store, None, assignments=False)
    except NotFound:
        return None
    before = previous.labels_of(store, pa.array(np.asarray(track_ids, dtype=object), type=pa.string()))
    numbers, identities = continuing_numbers(before, result.labels, previous.k, result.n_clusters)
    labels = result.labels.copy()
    clustered = labels >= 0
    labels[clustered] = numbers[labels[clustered]]
    result.labels = labels
    result.centers = result.centers[np.argsort(numbers)]
    if result.predictor is not None:
        predict = result.predictor

        def renumbered(points, predict=predict):
            found = np.asarray(predict(points), dtype=np.int64)
            return np.where(found >= 0, numbers[np.maximum(found, 0)], found)

        result.predictor = renumbered
    return {"previous_run": previous.run_id, "clusters": identities}


def _cluster_on_spark(store: Store, runner, space, *, reason: str, resamples: int, label: str | None, params: dict | None, say) -> ClusterOutcome:
    """`cluster` on Spark: see its docstring."""

    from songscope.backends.spark.cluster import cluster_on_spark, fit_space
    from songscope.backends.spark.ingest import read_staged, staging_folder
    from songscope.evaluate.silhouette import silhouette

    settings = store.settings
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tracks = _spark_catalogue(store)
    if space.center_ is None:
        say("fitting the feature space from aggregates")
        fit_space(tracks, space)
    timings["features_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    staging, remove_staging = staging_folder(settings.spark_scratch, f"assignments-{new_run_id()}", settings.s3_endpoint)
    try:
        from songscope.backends.spark import cluster as spark_cluster

        previous, previous_songs = _previous_run_on_spark(store, tracks.sparkSession)
        clustered = cluster_on_spark(tracks, space, runner, seed=settings.seed, staging=staging, s3_endpoint=settings.s3_endpoint,
                                     sample_rows=spark_cluster.SAMPLE_ROWS, previous=previous_songs,
                                     previous_k=previous.k if previous is not None else 0)
        timings["cluster_s"] = time.perf_counter() - t0
        sample, result = clustered.sample, clustered.result
        say(f"evaluating: exact sums over {clustered.songs:,} songs, the rest on a sample of {len(sample):,}")
        t0 = time.perf_counter()
        X = space.transform(sample)
        metrics = dict(clustered.metrics)
        metrics["silhouette"] = silhouette(X, result.labels, seed=settings.seed) if len(np.unique(result.labels)) > 1 else float("nan")
        metrics["silhouette_n"] = int(len(sample))
        metrics["sample_n"] = int(len(sample))
        timings["metrics_s"] = time.perf_counter() - t0
        assignments = pd.DataFrame({"track_id": sample["track_id"].to_numpy(), "cluster": result.labels})
        run = _evaluated_run(store, "spark", runner.algorithm, reason, space, sample, X, result, metrics, timings, assignments,
                             resamples=resamples, label=label, params=params, say=say, sizes=clustered.sizes)
        run.songs = clustered.songs
        if clustered.identities is not None:
            run.identities = {"previous_run": previous.run_id, "clusters": clustered.identities}
        t0 = time.perf_counter()
        run.save(store, (read_staged(uri, settings.s3_endpoint) for uri, _ in clustered.assignment_files))
        run.timings["store_s"] = time.perf_counter() - t0
    finally:
        remove_staging()
    return ClusterOutcome(run, result, sample)


def _previous_run_on_spark(store: Store, spark):
    """The latest run and its songs' clusters (track_id, cluster) as a Spark DataFrame read by
    the executors from its lake files, for `_continue_identities` on Spark; (None, None) when
    there is no run, or it is one whose clusters the lake does not hold (stored before it did)."""
    from songscope.backends.spark.catalogue import read_lake_files

    try:
        previous = load_run(store, None, assignments=False)
    except NotFound:
        return None, None
    uris = previous.assignment_uris(store)
    if not uris:
        return None, None
    return previous, read_lake_files(spark, uris, ASSIGNMENT_SCHEMA, store.settings.s3_endpoint)


def _spark_catalogue(store: Store):
    """The stored catalogue as a Spark DataFrame, read by the executors from the lake's files."""
    from songscope.backends.spark.catalogue import read_catalogue
    from songscope.engines.spark import spark_session
    from songscope.store.catalogue import label_columns

    settings = store.settings
    return read_catalogue(spark_session(settings.spark_master), catalogue_files(store), label_columns(store), settings.s3_endpoint)


def _evaluated_run(store: Store, kind: str, algorithm: str, reason: str, space, catalogue: pd.DataFrame, X: np.ndarray, result, metrics: dict,
                   timings: dict, assignments: pd.DataFrame, *, resamples: int, label: str | None, params: dict | None, say,
                   sizes: np.ndarray | None = None) -> ClusterRun:
    """The run's evidence from `catalogue` (every song, or a Spark run's sample) and its labels in `result`."""
    from songscope.evaluate.cluster_profiles import describe_clusters, feature_tests
    from songscope.evaluate.external import external_indices
    from songscope.evaluate.select import null_model_check
    from songscope.evaluate.stability import bootstrap_jaccard, seed_agreement, verdict

    settings = store.settings
    raw_features = list(space.columns) + (["popularity"] if catalogue["popularity"].notna().any() else [])
    tests = feature_tests(catalogue, result.labels, raw_features)
    profiles = describe_clusters(catalogue, result.labels, raw_features)
    if sizes is not None:  # exact sizes, and a line for any cluster the sample missed
        profiles = profiles.set_index("cluster").reindex(range(len(sizes))).rename_axis("cluster").reset_index()
        profiles["size"] = sizes
        profiles["description"] = profiles["description"].fillna("too few songs in the sample to describe")
        profiles["top_artists"] = profiles["top_artists"].fillna("")
    profiles["jaccard"] = np.nan

    stability: dict[str, Any] = {}
    if algorithm not in ("hdbscan", "dbscan") and resamples > 0:
        say(f"stability: {resamples} bootstrap refits" + (f" on the sample of {len(X):,}" if sizes is not None else ""))
        t0 = time.perf_counter()
        from songscope.engines.local import LocalEngine

        def refit(data, seed):  # the same method as the run, on a resample or with another seed
            return LocalEngine(algorithm, n_clusters=result.n_clusters, random_state=seed, params=params or {}).fit(data).labels

        found = bootstrap_jaccard(X, result.labels, refit, resamples=resamples, seed=settings.seed)
        # One figure per cluster number: a Spark run's sample may miss a small cluster, which then has none.
        jaccard = np.full(int(max(profiles["cluster"].max(), result.labels.max())) + 1, np.nan)
        jaccard[np.unique(result.labels[result.labels >= 0])] = found
        stability = {
            "resamples": resamples,
            "jaccard": jaccard.tolist(),
            "verdicts": [verdict(j) if np.isfinite(j) else "not in the sample" for j in jaccard],
            "seeds": seed_agreement(X, refit, [settings.seed + i for i in range(3)]),
        }
        if sizes is not None:
            stability["sample_n"] = int(len(X))
        profiles["jaccard"] = jaccard[profiles["cluster"].to_numpy()]
        timings["stability_s"] = time.perf_counter() - t0
    null = null_model_check(X, max(result.n_clusters, 2), seed=settings.seed)
    external = None
    label = label or next((c for c in LABEL_CANDIDATES if c in catalogue and catalogue[c].notna().any()), None)
    if label:
        external = external_indices(result.labels, catalogue[label]) | {"label": label}
        if sizes is not None:
            external["sample_n"] = int(len(catalogue))

    say("storing the run")
    clusters = profiles.assign(center=list(result.centers[profiles["cluster"].to_numpy()]))
    return ClusterRun(
        run_id=new_run_id(), engine=kind, algorithm=algorithm, space=space.to_dict(), assignments=assignments,
        clusters=clusters[["cluster", "size", "center", "description", "top_artists", "jaccard"]], metrics=metrics,
        params=result.params, timings={**timings, **{f"engine_{k}": v for k, v in result.timings.items()}}, stability=stability,
        null_model=null, external=external, feature_tests=jsonable(tests), engine_reason=reason,
    )


# ------------------------------------------------------------------------------------- assign


@dataclass
class AssignOutcome:
    """Songs that arrived after a run, assigned to its clusters, and the drift they show."""

    assign_id: str | None  # None when there was nothing to assign
    run_id: str
    assigned: int
    drift: Any  # evaluate.drift.Drift

    def to_dict(self) -> dict[str, Any]:
        return {"assign_id": self.assign_id, "assigned": self.assigned, **jsonable(self.drift.to_dict())}


#: Fitted songs the fit reference is measured on (a fixed-seed sample), and new songs read at a time.
REFERENCE_SONGS = 5_000
ASSIGN_CHUNK = 100_000


def assign(store: Store, run_id: str | None = None, *, engine: str = "local", progress: Progress | None = None) -> AssignOutcome:
    """Assign the catalogue's songs that arrived after run `run_id` (default: the latest) to its
    nearest cluster centres, in the run's own feature space, and measure the drift
    (`evaluate.drift`): how far they sit from their centres against the songs the run was fitted
    on, and whether it is time to cluster again. The assignments are stored with the run: the
    web app, the report and the recommender then see the new songs' clusters. On the `engine`
    spark (or auto, by catalogue size) the executors do it (`backends.spark.assign`) and no
    column the size of the catalogue comes to this process."""
    from songscope.engines.choice import choose_engine
    from songscope.evaluate.drift import Drift

    say = _say(progress)
    run = load_run(store, run_id, assignments=False)
    centres = np.array(run.clusters["center"].tolist(), dtype=np.float64)
    numbers = run.clusters["cluster"].to_numpy(dtype=np.int64)
    kind, _ = choose_engine(engine, catalogue_size(store))
    say(f"assigning the songs that arrived after run {run.run_id} to its {len(numbers)} clusters ({kind} engine)")
    placed = (_placed_on_spark if kind == "spark" else _placed_locally)(store, run, centres, numbers)
    try:
        reference = placed.reference
        per_cluster = [{"cluster": int(c), "new_songs": placed.new_per_cluster.get(int(c), 0),
                        "fit_no_cluster_well": placed.poor_per_cluster.get(int(c), 0),
                        "limit": round(reference.limits.get(int(c), reference.overall), 4)} for c in numbers]
        poor_share = sum(placed.poor_per_cluster.values()) / placed.new_songs if placed.new_songs else None
        drift = Drift(run.run_id, placed.new_songs, placed.fitted_songs, placed.median_distance_new, reference.median, poor_share, per_cluster)
        if not placed.new_songs:
            return AssignOutcome(None, run.run_id, 0, drift)
        assign_id = new_run_id()
        with store.db.begin() as conn:
            db.hold_catalogue(conn, f"assign {assign_id}")
            # For lake readers such as Spark, as the fitted songs' clusters are; swept if this never commits.
            _, songs = store.lake.write_tables(keys.run_late_assignments(run.run_id, assign_id),
                                               _stored_late(conn, run.run_id, assign_id, placed.chunks()), ASSIGNMENT_SCHEMA)
            crashpoints.reach("assign:lake-written")
            conn.execute(db.cluster_assignments_added.insert().values(assign_id=assign_id, run_id=run.run_id, created_at=datetime.now(UTC),
                                                                      songs=songs, drift=dumps(drift.to_dict())))
    finally:
        placed.release()
    store.forget()  # the run's clusters of every song changed: what was built from them goes
    say(drift.advice())
    return AssignOutcome(assign_id, run.run_id, songs, drift)


def _stored_late(conn, run_id: str, assign_id: str, chunks: Iterable[pd.DataFrame]):
    """Each chunk of (track_id, cluster, distance) into the database as it goes to the lake, as Arrow."""
    import pyarrow as pa

    for chunk in chunks:
        # Under the catalogue's lock: another assign of the same run may just have stored some of these.
        chunk = chunk[~chunk["track_id"].isin(db.late_assigned(conn, run_id, chunk["track_id"]))]
        chunk = chunk.assign(cluster=chunk["cluster"].astype("int64"))
        db.bulk_insert(conn, db.late_assignments, chunk.assign(run_id=run_id, assign_id=assign_id))
        yield pa.Table.from_pandas(chunk[["track_id", "cluster"]], schema=ASSIGNMENT_SCHEMA, preserve_index=False)


@dataclass
class _Placement:
    """New songs placed in a run's clusters, before they are stored: the drift's figures, and the
    songs themselves as chunks of (track_id, cluster, distance)."""

    reference: Any  # evaluate.drift.FitReference
    new_songs: int
    fitted_songs: int
    median_distance_new: float | None
    new_per_cluster: dict[int, int]
    poor_per_cluster: dict[int, int]
    chunks: Callable[[], Iterable[pd.DataFrame]]
    release: Callable[[], None] = lambda: None


def _placed_locally(store: Store, run: ClusterRun, centres: np.ndarray, numbers: np.ndarray) -> _Placement:
    from songscope.evaluate.drift import FitReference, nearest_centres
    from songscope.features import FeatureSpace
    from songscope.store.catalogue import rows_at

    space = FeatureSpace.from_dict(run.space)
    columns = list(space.columns)
    centre_of = {int(c): i for i, c in enumerate(numbers)}
    songs = _songs(store)
    labels = run.labels_of(store, songs.track_id, missing=-2)
    new_rows, fitted_rows = np.flatnonzero(labels == -2), np.flatnonzero(labels != -2)
    rng = np.random.default_rng(store.settings.seed)
    reference_rows = np.sort(rng.choice(fitted_rows, min(REFERENCE_SONGS, len(fitted_rows)), replace=False))
    own = labels[reference_rows]
    clustered = np.flatnonzero(own >= 0)
    X = space.transform(rows_at(store, reference_rows[clustered], columns))
    own_centres = centres[[centre_of[int(c)] for c in own[clustered]]]
    reference = FitReference.measure(np.sqrt(((X - own_centres) ** 2).sum(axis=1)), own[clustered])
    assigned: list[pd.DataFrame] = []
    for start in range(0, len(new_rows), ASSIGN_CHUNK):
        chunk = new_rows[start : start + ASSIGN_CHUNK]
        nearest, distance = nearest_centres(space.transform(rows_at(store, chunk, columns)), centres)
        assigned.append(pd.DataFrame({"track_id": songs.ids(chunk), "cluster": numbers[nearest], "distance": distance}))
    frame = pd.concat(assigned, ignore_index=True) if assigned else pd.DataFrame({"track_id": [], "cluster": [], "distance": []})
    poor = ~reference.fits(frame["distance"].to_numpy(), frame["cluster"].to_numpy()) if len(frame) else np.empty(0, dtype=bool)
    return _Placement(reference, len(frame), len(fitted_rows), float(frame["distance"].median()) if len(frame) else None,
                      {int(c): int(n) for c, n in frame["cluster"].value_counts().items()},
                      {int(c): int(n) for c, n in frame.loc[poor, "cluster"].value_counts().items()}, lambda: assigned)


def _placed_on_spark(store: Store, run: ClusterRun, centres: np.ndarray, numbers: np.ndarray) -> _Placement:
    from songscope.backends.spark.assign import assign_on_spark
    from songscope.backends.spark.catalogue import read_lake_files
    from songscope.backends.spark.ingest import read_staged, staging_folder

    settings = store.settings
    tracks = _spark_catalogue(store)
    uris = run.assignment_uris(store)
    if not uris:
        raise NotFound(f"run {run.run_id} was stored before the lake kept its clusters: assign with --engine local")
    assigned = read_lake_files(tracks.sparkSession, uris, ASSIGNMENT_SCHEMA, settings.s3_endpoint)
    staging, remove_staging = staging_folder(settings.spark_scratch, f"assignments-{new_run_id()}", settings.s3_endpoint)
    try:
        found = assign_on_spark(tracks, assigned, run.space, centres, numbers, seed=settings.seed, reference_songs=REFERENCE_SONGS,
                                staging=staging, s3_endpoint=settings.s3_endpoint)
    except BaseException:
        remove_staging()
        raise
    return _Placement(found.reference, found.new_songs, found.fitted_songs, found.median_distance_new, found.new_per_cluster,
                      found.poor_per_cluster, lambda: (read_staged(uri, settings.s3_endpoint) for uri, _ in found.files), remove_staging)


# ----------------------------------------------------------------------------------- evaluate


@dataclass
class EvaluateOutcome:
    """Evidence for k and the algorithm (`evaluate.select.Evidence`: the k sweep, the density
    sweep, the algorithms compared) on `songs` songs."""

    songs: int
    evidence: Any  # evaluate.select.Evidence
    #: On Spark: the fixed-seed sample of the catalogue the sweeps ran on (None: every song).
    sample_n: int | None = None

    @property
    def rationale(self) -> str:
        from songscope.evaluate.select import rationale

        return rationale(self.evidence.sweep, self.evidence.density, self.evidence.methods)

    def to_dict(self) -> dict[str, Any]:
        from songscope.evaluate.select import ALGORITHM_NOTES

        return self.evidence.to_dict() | jsonable({"algorithms": ALGORITHM_NOTES, "seconds": self.evidence.sweep.seconds,
                                                   "songs": self.songs, "sample_n": self.sample_n})


def evaluate(store: Store, *, ks: list[int], references: int = 10, density: bool = True, space=None, engine: str = "local",
             progress: Progress | None = None) -> EvaluateOutcome:
    """The k sweep (elbow, silhouette, gap statistic), the density sweep and the algorithms at the
    recommended k. On Spark (`engine` spark, or auto for a big catalogue) the feature space is
    fitted from aggregates over every song and the sweeps run on a fixed-seed sample, whose size
    the outcome reports."""
    from songscope.engines.choice import check_fits_locally, choose_engine
    from songscope.evaluate.select import Evidence, compare_algorithms, density_sweep, k_sweep
    from songscope.features import FeatureSpace

    say = _say(progress)
    seed = store.settings.seed
    space = space or FeatureSpace()
    songs = catalogue_size(store)
    kind, _ = choose_engine(engine, songs)
    sample_n = None
    if kind == "spark":
        from songscope.backends.spark.cluster import SAMPLE_ROWS, fit_space, sample_songs

        say("fitting the feature space on Spark, and sampling the catalogue")
        tracks = _spark_catalogue(store)
        fit_space(tracks, space)
        sample, songs = sample_songs(tracks, SAMPLE_ROWS, seed)
        X = space.transform(sample)
        sample_n = len(X)
    else:
        check_fits_locally(songs)
        say("reading the catalogue")
        X = space.fit_transform(store.catalogue())
    sweep = k_sweep(X, ks, seed=seed, references=references, progress=say)
    say("density sweep (HDBSCAN, DBSCAN)")
    dense = density_sweep(X, seed=seed) if density else None
    say(f"the algorithms at k = {sweep.recommended_k}")
    methods = compare_algorithms(X, sweep.recommended_k, seed=seed)
    return EvaluateOutcome(songs, Evidence(sweep, dense, methods), sample_n)


# ------------------------------------------------------------------------------------ compare


def _run_key(run_id: str) -> tuple[str, str]:
    return ("run", run_id)


#: How often a long-lived process (the web app) looks whether another process has changed the
#: catalogue since it built what it keeps from it (seconds).
CATALOGUE_CHECK_EVERY_S = 1.0


def _keep_up_with_the_catalogue(store: Store) -> None:
    """Forget everything built from the catalogue when another process has ingested songs or
    assigned new songs to a run since: a long-lived web app then serves them within a second of
    their commit. Looked at once a second at most, by one indexed read."""
    now = time.monotonic()
    seen = store.cached("catalogue seen", lambda: {"at": float("-inf"), "version": None})
    if now - seen["at"] < CATALOGUE_CHECK_EVERY_S:
        return
    ingest_id, _, _, assign_id = db.newest_ids(store.autocommit)
    version = (ingest_id, assign_id)
    if seen["version"] not in (None, version):
        store.forget()
        seen = store.cached("catalogue seen", lambda: {"at": now, "version": version})
    seen["at"], seen["version"] = now, version


def load_run(store: Store, run_id: str | None = None, *, assignments: bool = True) -> ClusterRun:
    """A stored run (default: the latest, looked up afresh each time), kept for the store's life
    (until another process changes the catalogue). Without `assignments`, its per-song clusters
    are not read (see `ClusterRun.load`)."""
    _keep_up_with_the_catalogue(store)
    try:
        run_id = run_id or latest_run_id(store)
        if not assignments:
            full = store.peek(_run_key(run_id))
            if full is not None:
                return full
            return store.cached(("run summary", run_id), lambda: ClusterRun.load(store, run_id, assignments=False))
        return store.cached(_run_key(run_id), lambda: ClusterRun.load(store, run_id))
    except RunNotFound as exc:
        raise NotFound(str(exc)) from exc


def compare(store: Store, run_a: str, run_b: str, *, figures: bool = False):
    """Two runs side by side in run A's feature space (`compare.Comparison`); with `figures`, both
    colourings of one map and the contingency heat map (Plotly figures, for the web app)."""
    from songscope.compare import compare_runs

    # Over the songs the web app draws on: every song, or a fixed-seed sample of a big catalogue
    # (`agreement.songs` says how many), each run's clusters read for just those songs.
    catalogue = _index(store).catalogue
    a, b = (_assigned(store, load_run(store, r, assignments=False), catalogue) for r in (run_a, run_b))
    comparison = compare_runs(a, b, catalogue, seed=store.settings.seed)
    if figures:
        from songscope.viz import figures as F

        _, points = _map_points(store, a)
        names = (f"A: {a.engine} {a.algorithm}", f"B: {b.engine} {b.algorithm}")
        comparison.figures = {
            "maps": F.comparison_maps(points, _web_labels(store, a), _web_labels(store, b), names),
            "contingency": F.contingency_heatmap(comparison.contingency, names),
        }
    return comparison


# ---------------------------------------------------------------------------------- recommend


@dataclass
class RecommendOutcome:
    request_id: str
    run_id: str | None
    result: Any  # recommend.recommender.RecommendResult

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        items = [{**item.__dict__, "reason": item.reason()} for item in r.items]
        # Plain values already (the recommender writes its items so): written as they are.
        return {"request_id": self.request_id, "run_id": self.run_id, "favourites": r.seeds, "dislikes": r.dislikes, "notes": r.notes,
                "dislike_effect": r.dislike_effect, "recommendations": items}


@dataclass
class Playlist:
    """Songs to export as a playlist file (`recommend.playlists`): a recommendation list or a cluster."""

    title: str
    songs: list  # recommend.playlists.PlaylistSong

    def render(self, kind: str) -> str:
        """The playlist as M3U, JSPF or CSV text."""
        from songscope.recommend import playlists

        return playlists.write(self.songs, kind, title=self.title)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "songs": [song.__dict__ for song in self.songs]}


def recommendation_playlist(outcome: RecommendOutcome) -> Playlist:
    """A recommendation list as a playlist, each song with its reason."""
    from songscope.recommend.playlists import PlaylistSong

    result = outcome.result
    songs = [PlaylistSong(item.track_id, item.shown_artists, item.track_name, item.reason()) for item in result.items]
    return Playlist(f"songscope: for {'; '.join(result.seeds)}"[:200], songs)


def cluster_playlist(store: Store, cluster: int, run_id: str | None = None, n: int = 100) -> Playlist:
    """The `n` songs of a cluster nearest its centre, nearest first (among the web app's fixed-seed
    sample when the catalogue is larger than `WEB_SONGS`)."""
    from songscope.recommend.playlists import PlaylistSong

    run = load_run(store, run_id, assignments=False)
    clusters = run.clusters.set_index("cluster")
    if cluster not in clusters.index:
        raise NotFound(f"run {run.run_id} has clusters 0..{int(clusters.index.max())}, not {cluster}")
    if not 1 <= n <= MAX_PLAYLIST_SONGS:
        raise ValueError(f"n = {n}: a playlist has 1 to {MAX_PLAYLIST_SONGS} songs")
    index = _index(store)
    X, _ = _map_points(store, run)
    members = np.flatnonzero(_web_labels(store, run) == cluster)
    centre = np.asarray(clusters.loc[cluster, "center"], dtype=np.float64)
    difference = X[members].astype(np.float64) - centre
    order = members[np.argsort(np.einsum("ij,ij->i", difference, difference), kind="stable")[:n]]
    songs = _songs(store)
    rows = songs.rows_of_ids([index.ids[r] for r in order])
    found = [int(r) for r in rows if r >= 0]
    description = str(clusters.loc[cluster, "description"])
    listed = [PlaylistSong(t, a, s, f"cluster {cluster}: {description}")
              for t, a, s in zip(songs.ids(found), (", ".join(names) for names in songs.all_artist_names(found)), songs.track_names(found))]
    return Playlist(f"songscope: run {run.run_id}, cluster {cluster} ({description})"[:200], listed)


def path(store: Store, start: str, end: str, *, steps: int = 12, per_artist: int | None = 1, run_id: str | None = None):
    """A song path from `start` to `end` (`recommend.path.song_path`), with the clusters of
    `run_id` (default: the latest) in its steps' reasons."""
    from songscope.recommend.path import song_path

    model, _ = recommender(store, run_id)
    return song_path(model, start, end, steps=steps, per_artist=per_artist)


def path_playlist(result) -> Playlist:
    """A song path as a playlist, each step with its reason."""
    from songscope.recommend.playlists import PlaylistSong

    songs = [PlaylistSong(step.track_id, step.shown_artists, step.track_name, reason) for step, reason in zip(result.steps, result.reasons())]
    return Playlist(f"songscope: from {result.start} to {result.end}"[:200], songs)


#: The most songs a cluster playlist lists.
MAX_PLAYLIST_SONGS = 1_000


def recommender(store: Store, run_id: str | None = None):
    """A Recommender over the catalogue with the clusters of `run_id` (default: the latest run, or
    none before the first clustering), and that run's id; built once per run for the store's life."""
    try:
        run: ClusterRun | None = load_run(store, run_id, assignments=False)
    except NotFound:
        if run_id is not None:
            raise
        run = None  # no clustering yet: recommendations still work, without cluster reasons

    def build():
        from songscope.recommend.distance import SongDistance
        from songscope.recommend.recommender import Recommender
        from songscope.recommend.songs import SONG_COLUMNS
        from songscope.schema import CONTINUOUS_FEATURES

        # File by file from the lake: the recommender holds songs and vectors compactly, never
        # the catalogue as a frame (see `Recommender`), so it scales with the catalogue.
        batches = catalogue_batches(store, [*SONG_COLUMNS, *CONTINUOUS_FEATURES])
        songs = _songs(store)
        clusters = run.labels_of(store, songs.track_id) if run is not None else None
        descriptions = run.descriptions if run is not None else None
        return Recommender.from_batches(batches, rows=catalogue_size(store), clusters=clusters, descriptions=descriptions, songs=songs,
                                        facts=_song_facts(store, songs), distance=SongDistance(name_context=store.settings.name_context))

    key = run.run_id if run is not None else None
    return store.cached(("recommender", key), build), key


def _song_facts(store: Store, songs):
    """The songs' raw feature values (from the lake) and genre and explicit labels (from the
    database), for the recommender's filters: loaded when a request first filters on them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from songscope.recommend.facts import WHERE_COLUMNS, SongFacts, is_genre_column

    names = db.label_names(store.db)

    def features() -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {c: [] for c in WHERE_COLUMNS}
        for batch in catalogue_batches(store, list(WHERE_COLUMNS)):
            for column in WHERE_COLUMNS:
                values = batch[column].cast(pa.float32()).to_numpy() if column in batch.column_names else np.full(len(batch), np.nan, np.float32)
                parts[column].append(np.asarray(values, dtype=np.float32))
        return {c: np.concatenate(p) for c, p in parts.items() if p and not np.isnan(np.concatenate(p)).all()}

    def labels() -> dict[str, pa.Array]:
        found = {}
        for name in names:
            if not (is_genre_column(name) or name == "explicit"):
                continue
            track_ids, values = db.label_column(store.db, name)
            rows = pc.index_in(pa.array(track_ids, type=pa.string()), value_set=songs.track_id).to_numpy(zero_copy_only=False)
            column = np.full(len(songs), None, dtype=object)
            known = ~np.isnan(rows.astype(np.float64))
            column[rows[known].astype(np.int64)] = np.asarray(values, dtype=object)[known]
            found[name] = pa.array(column, type=pa.string())
        return found

    return SongFacts(features, labels, names)


_REASON_FIELDS = ("reason", "nearest_seed", "similar_in", "differs_in", "contributions", "cluster", "cluster_description")


def recommend(store: Store, favourites: list[str], *, dislikes: list[str] | None = None, options=None, run_id: str | None = None,
              record: bool = True) -> RecommendOutcome:
    """New songs for `favourites` (track ids or fuzzy "artist - title"), with reasons; the request
    and its songs are stored in the database unless `record` is False (a read-only server)."""
    from songscope.recommend.recommender import RecommendOptions

    options = options or RecommendOptions()
    model, run_id = recommender(store, run_id)
    result = model.recommend(favourites, options, dislikes=dislikes)
    request_id = new_run_id()
    if result.items and record:
        # Plain rows, not a frame: for ten songs, pandas cost more than the insert (half of a request's time).
        rows = [{**item.__dict__, "reason": item.reason()} for item in result.items]
        items = [(row["track_id"], float(row["score"]), dumps({k: row[k] for k in _REASON_FIELDS}, compact=True)) for row in rows]
        request = {"favourites": result.seeds, "dislikes": result.dislikes, "options": options.__dict__, "cluster_run": run_id, "favourite_ids": result.seed_ids}
        db.record_recommendations(store.autocommit, request_id, jsonable(request), items)  # one INSERT: one round trip
        _forget_old_requests(store)
    return RecommendOutcome(request_id, run_id, result)


#: How often a process deletes the requests past their retention (seconds).
FORGET_EVERY_S = 3_600.0


def _forget_old_requests(store: Store) -> None:
    """Delete requests older than `Settings.keep_requests_days`, at most once an hour per process."""
    import time as clock

    last = store.cached("requests forgotten at", lambda: [float("-inf")])
    if clock.monotonic() - last[0] < FORGET_EVERY_S:
        return
    last[0] = clock.monotonic()
    db.forget_requests_before(store.db, datetime.now(UTC) - timedelta(days=store.settings.keep_requests_days))


# ---------------------------------------------------------------------------------- eval-recs


def eval_recs(store: Store, sources: list[str] | None, *, liked: str | None = None, label: str = "playlist_genre", playlist: str | None = None,
              queries: int = 2_000, playlists: int | None = None, learn_weights: bool = False, target: str = "target", repeats: int = 20,
              seed: int = 0, progress: Progress | None = None):
    """Offline evaluation of the recommendations (`recommend.offline.OfflineReport`), kept in the
    lake for the report."""
    from songscope.clean import read_and_clean
    from songscope.recommend import offline
    from songscope.seed import seed_paths

    say = _say(progress)
    if not sources and not liked:
        raise ValueError("name a labelled catalogue (and/or --liked FILE) to evaluate on")
    tracks = liked_tracks = background = None
    if sources:
        say("reading the labelled catalogue")
        tracks = read_and_clean(sources, s3_endpoint=store.settings.s3_endpoint, progress=say)[1].tracks
    if liked:
        liked_tracks = read_and_clean([liked], s3_endpoint=store.settings.s3_endpoint)[1].tracks
        # Songs nobody labelled, for the taste model to tell the listener's likes from.
        background = read_and_clean(seed_paths())[1].tracks
    report = offline.evaluate_recommendations(
        tracks, label=label, playlist=playlist, queries=queries, playlists=playlists, learn=learn_weights,
        liked=liked_tracks, background=background, target=target, repeats=repeats, seed=seed, progress=say,
    )
    report.saved = store.lake.write_bytes(keys.RECOMMENDATION_EVALUATION, dumps(report.to_dict()).encode())
    return report


# ------------------------------------------------------------------------------------- report


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
    from songscope.viz.report import build_report

    if projection not in ("pca", "tsne", "umap"):
        raise ValueError(f"--map {projection!r}: choose pca, tsne or umap")
    if run is None:
        run = load_run(store, run_id, assignments=False)
        if catalogue is None and run.engine == "spark":
            # A Spark run's catalogue need not fit here: the report is drawn from a fixed-seed
            # sample, as the run's own report was (and says so), its figures from the run.
            from songscope.backends.spark.cluster import SAMPLE_ROWS
            from songscope.store.catalogue import sample

            catalogue, _ = sample(store, SAMPLE_ROWS, seed=store.settings.seed)
        else:
            run = load_run(store, run.run_id)
    other = load_run(store, compare_with, assignments=catalogue is None) if compare_with else None
    if catalogue is not None:
        # The runs' clusters of just the songs shown (a Spark run's assignments are millions).
        run, other = (r if r is None or r.assignments is not None else _assigned(store, r, catalogue) for r in (run, other))
    built = build_report(store, run, other=other, projection=projection, ks=ks, density=density, focus=focus, progress=progress,
                         catalogue=catalogue, profiled=profiled, evidence=evidence)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    data = built.html.encode("utf-8")
    output.write_bytes(data)
    name = built.run_id + (f"-vs-{built.compare_run_id}" if built.compare_run_id else "")
    lake_uri = store.lake.write_bytes(keys.report(name), data)
    db.record_report(store.db, run_id=built.run_id, compare_run_id=built.compare_run_id, path=str(output.resolve()), lake_uri=lake_uri,
                     size_bytes=len(data), figures=list(built.figures))
    run.save_selection(store, built.evidence.to_dict())
    store.forget(_run_key(run.run_id), ("run summary", run.run_id))
    outcome = ReportOutcome(built, output, lake_uri)
    if static is not None:
        from songscope.viz.figures import save_static

        _say(progress)("static figures")
        try:
            outcome.static_files = save_static(built.figures, static)
        except RuntimeError as exc:  # no kaleido or no browser: the HTML report is written all the same
            raise ValueError(f"{exc}; the HTML report was written to {output}") from exc
    return outcome


# ---------------------------------------------------------------------------------------- run


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
        engine: str = "local", progress: Progress | None = None) -> RunOutcome:
    """The end-to-end job: ingest and clean the sources, profile the catalogue, cluster it (k-means,
    evaluated and stored; `evaluate` chooses k with evidence), and write the HTML report
    (``out_dir/report.html``, also in the lake and noted in the database).

    `engine` spark runs every stage on Spark (auto: when the sources hold at least
    ``SONGSCOPE_SPARK_MIN_ROWS`` songs), and this process never holds the catalogue: the profile
    and the exact indices are aggregates, the rest of the evidence and the report come from a
    fixed-seed sample whose size they state. The local engine refuses, before reading, sources
    it estimates will not fit in this machine's memory, and names ``--engine spark``.
    """
    from songscope.engines.choice import check_fits_locally, choose_engine, estimate_rows

    say = _say(progress)
    sources = list(sources)
    kind, reason = engine, f"{engine} engine, as asked"
    if engine in ("auto", "local"):
        estimated = estimate_rows(sources, store.settings.s3_endpoint)
        kind, reason = choose_engine(engine, estimated)
        if kind == "local":
            check_fits_locally(estimated + catalogue_size_or_zero(store))
    if engine == "auto":
        say(f"engine: {reason}")
    if kind == "spark":
        return _run_on_spark(store, sources, out_dir=out_dir, k=k, resamples=resamples, with_report=with_report, progress=progress)
    from songscope.evaluate.background import BackgroundEvidence
    from songscope.features import FeatureSpace
    from songscope.profile import profile as make_profile
    from songscope.profile import write_profile

    # Started first, so the second process's imports overlap the ingest.
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
        ingested = ingest(store, sources, progress=progress)
        timings["ingest"] = time.perf_counter() - t0
        say("profiling the catalogue")
        t0 = time.perf_counter()
        catalogue = store.catalogue()
        # Tables only: the report draws the same figures, interactive (`songscope profile` draws PNGs).
        profiled = make_profile(catalogue, clean_report=ingested.report, rejected=ingested.rows_rejected, figures=False)
        paths = write_profile(profiled, out_dir / "profile")
        timings["profile"] = time.perf_counter() - t0
        space = FeatureSpace().fit(catalogue)
        if evidence is not None:  # the sweeps there; this process compares the algorithms at k (`viz.report.gather`)
            evidence.start(space.transform(catalogue), None, store.settings.seed)
        t0 = time.perf_counter()
        clustering = cluster(store, k=k, resamples=resamples, catalogue=catalogue, space=space, progress=progress)
        timings["cluster"] = time.perf_counter() - t0
        if evidence is not None:
            t0 = time.perf_counter()
            written = report(store, clustering.run_id, output=out_dir / "report.html", catalogue=catalogue, profiled=profiled,
                             evidence=evidence.result, progress=progress)
            timings["report"] = time.perf_counter() - t0
    return RunOutcome(ingested, paths, timings, clustering, written)


def _assigned(store: Store, run: ClusterRun, catalogue: pd.DataFrame) -> ClusterRun:
    """`run` with the assignments of those of `catalogue`'s songs it clustered (a copy; the cached
    run is untouched)."""
    import dataclasses

    ids = catalogue["track_id"].astype(str)
    labels = run.labels_of(store, ids, missing=-2)  # -1 is a cluster label (noise)
    found = labels != -2
    return dataclasses.replace(run, assignments=pd.DataFrame({"track_id": ids.to_numpy()[found], "cluster": labels[found]}))


def catalogue_size_or_zero(store: Store) -> int:
    """Tracks already stored (0 for a new database)."""
    from songscope.store.catalogue import NoCatalogue

    try:
        return catalogue_size(store)
    except NoCatalogue:
        return 0


def _run_on_spark(store: Store, sources: list[str], *, out_dir: Path, k: int, resamples: int, with_report: bool,
                  progress: Progress | None) -> RunOutcome:
    """`run` with every stage on Spark (see `run`)."""
    from songscope.backends.spark.profile import profile_on_spark
    from songscope.profile import write_profile

    say = _say(progress)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ingested = ingest(store, sources, engine="spark", progress=progress)
    timings["ingest"] = time.perf_counter() - t0
    say("profiling the catalogue on Spark")
    t0 = time.perf_counter()
    tracks = _spark_catalogue(store)
    profiled = profile_on_spark(tracks, clean_report=ingested.report, rejected=ingested.rows_rejected)
    paths = write_profile(profiled, out_dir / "profile")
    timings["profile"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    clustering = cluster(store, engine="spark", k=k, resamples=resamples, progress=progress)
    timings["cluster"] = time.perf_counter() - t0
    written = None
    if with_report:
        t0 = time.perf_counter()
        run = clustering.run  # its assignments are the sample's: the report is drawn from the sample
        sample = clustering.sample
        written = report(store, run.run_id, run=run, output=out_dir / "report.html", catalogue=sample, profiled=profiled, progress=progress)
        timings["report"] = time.perf_counter() - t0
    return RunOutcome(ingested, paths, timings, clustering, written)


def _one_thread_each():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


# -------------------------------------------------------------------------------------- synth


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

    say = _say(progress)
    output = Path(output)
    if output.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"--out {output}: use a .csv or .parquet file name")
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


# --------------------------------------------------------------------- what the web app shows


#: Up to this many songs the web app's map, song pages and cluster pages use every song; above,
#: a fixed-seed sample of this many, read file by file (a catalogue of millions never loads whole).
WEB_SONGS = 200_000


class _WebCatalogue:
    """The songs the web app's map and pages draw on: the whole catalogue, or a fixed-seed sample."""

    def __init__(self, catalogue: pd.DataFrame, total: int):
        self.catalogue = catalogue.reset_index(drop=True)
        self.total = total
        every = self.catalogue["artists"] if "artists" in self.catalogue else self.catalogue["artist_name"]
        artists = pd.Series(shown(every.where(every.notna(), self.catalogue["artist_name"]).to_numpy(dtype=object)), index=self.catalogue.index)
        self.names = (artists + " - " + self.catalogue["track_name"].astype(str)).to_numpy()
        self.ids = self.catalogue["track_id"].astype(str).to_numpy()
        self.row = pd.Series(np.arange(len(self.catalogue)), index=self.ids)
        self._columns = {column: self.catalogue[column].to_numpy() for column in self.catalogue.columns}

    def values(self, row: int) -> dict[str, Any]:
        """One song's values by column, from per-column arrays (a frame's row took 0.6 ms)."""
        return {column: values[row] for column, values in self._columns.items()}

    @property
    def sampled(self) -> int | None:
        """The sample's size, or None when every song is here."""
        return len(self.catalogue) if len(self.catalogue) < self.total else None


def _index(store: Store) -> _WebCatalogue:
    from songscope.store.catalogue import sample

    _keep_up_with_the_catalogue(store)
    return store.cached("catalogue_index", lambda: _WebCatalogue(*sample(store, WEB_SONGS, seed=store.settings.seed)))


def _web_labels(store: Store, run: ClusterRun) -> np.ndarray:
    """The run's cluster of each song the web app draws on (kept per run)."""
    return store.cached(("web labels", run.run_id), lambda: run.labels_of(store, _index(store).ids))


def _songs(store: Store):
    """The catalogue's songs for lookups by id and name (`recommend.songs.SongTable`), read
    file by file from the lake; one per store, shared by the recommender."""
    from songscope.recommend.songs import SONG_COLUMNS, SongTable

    _keep_up_with_the_catalogue(store)
    return store.cached("songs", lambda: SongTable.from_batches(catalogue_batches(store, SONG_COLUMNS)))


def _song_row(store: Store, track_id: str) -> int:
    """The catalogue row of `track_id`; `NotFound` says how to find a song instead."""
    row = _songs(store).row_of_id(track_id)
    if row is None:
        raise NotFound(f"no song with track id {track_id!r}; search by name: /api/songs?q=...")
    return row


def _map_points(store: Store, run: ClusterRun):
    """The run's feature matrix over the catalogue and its 2-D map (kept per run)."""
    from songscope.features import FeatureSpace
    from songscope.viz import figures as F

    def build():
        X = FeatureSpace.from_dict(run.space).transform(_index(store).catalogue, dtype=np.float32)
        return X, F.project(X, seed=store.settings.seed)

    return store.cached(("map", run.run_id), build)


def runs(store: Store) -> list[dict]:
    """Every cluster run, newest first."""
    return jsonable(run_summaries(store))


def run_details(store: Store, run_id: str | None = None) -> dict:
    """One run: metrics, timings, its clusters in words with their stability, and its evidence
    (which a report adds to: not kept beyond the run itself)."""
    from songscope.evaluate.stability import verdict

    summary = load_run(store, run_id, assignments=False).to_dict()
    for row in summary["clusters"]:
        row["stability"] = None if row["jaccard"] is None else verdict(row["jaccard"])
    return summary


def _stores_version(store: Store) -> tuple:
    """What changes when any process writes the catalogue, a run or a report (which adds a run's
    evidence for k): the newest of each (three indexed reads), so that answers built from them
    can be kept until then."""
    return db.newest_ids(store.autocommit)


def overview(store: Store) -> dict:
    """Catalogue size, the cleaning of every ingest, the current run and past runs (kept until
    an ingest or a run, of this process or another, changes them)."""
    version = _stores_version(store)
    return store.cached(("overview", version), lambda: _overview(store))


def _overview(store: Store) -> dict:
    counts = db.counts(store.db)
    ingests = db.read_table(store.db, db.ingest_runs).sort_values("started_at")
    cleaning = []
    for row in ingests.itertuples():
        report = json.loads(row.report)
        cleaning.append({"ingest": row.run_id, "rows_read": row.rows_read, "rejected": row.rows_rejected,
                         "steps": [{"step": s["name"], "rows_after": s["rows_after"]} for s in report.get("steps", [])],
                         "outliers": report.get("outliers"), "tracks_added": row.tracks_added})
    past = runs(store)
    current = run_details(store, past[0]["run_id"]) if past else None
    return jsonable({"catalogue": {"songs": counts["tracks"], "rejected_rows": counts["rejected_rows"], "duplicates": counts["track_duplicates"]},
                     "cleaning": cleaning, "current_run": current, "runs": past})


def cluster_map(store: Store, run_id: str | None = None) -> dict:
    """The map's figure (Plotly JSON; each point carries its track id) and its trustworthiness."""
    from songscope.viz import figures as F

    run = load_run(store, run_id, assignments=False)
    index = _index(store)
    _, points = _map_points(store, run)
    labels = _web_labels(store, run)
    fig = F.cluster_map(points, labels, index.catalogue, run.descriptions, title=f"Cluster map: run {run.run_id}")
    return {"run_id": run.run_id, "figure": json.loads(fig.to_json()), "trustworthiness": points.trustworthiness,
            "songs": index.total, "drawn_from_sample": index.sampled,
            "points": {"track_id": index.ids[points.rows].tolist(), "x": points.xy[:, 0].round(4).tolist(), "y": points.xy[:, 1].round(4).tolist(),
                       "cluster": labels[points.rows].tolist(), "name": index.names[points.rows].tolist()}}


def search_songs(store: Store, query: str, limit: int = 20) -> list[dict]:
    """Songs whose "artist - title" contains every word of `query` (case-insensitive), most popular first."""
    words = [w for w in query.split() if w]
    if not words:
        return []
    songs = _songs(store)
    shown = songs.search(words, limit)
    return [{"track_id": t, "name": name, "popularity": None if np.isnan(p) else int(p)}
            for t, name, p in zip(songs.ids(shown), songs.labels(shown), songs.popularity[shown].tolist())]


def song(store: Store, track_id: str, run_id: str | None = None, neighbours: int = 10) -> dict:
    """One song: its features, its cluster and its nearest songs in the run's space (among a
    fixed-seed sample when the catalogue is larger than `WEB_SONGS`; `nearest_among` says)."""
    from songscope.features import FeatureSpace
    from songscope.store.catalogue import rows_at

    songs = _songs(store)
    position = _song_row(store, track_id)
    run = load_run(store, run_id, assignments=False)
    index = _index(store)
    X, _ = _map_points(store, run)
    labels = _web_labels(store, run)
    own = int(index.row[track_id]) if track_id in index.row.index else None
    if own is not None:
        track, point = index.values(own), X[own]
    else:
        row = rows_at(store, [position])
        track, point = row.iloc[0].to_dict(), FeatureSpace.from_dict(run.space).transform(row, dtype=np.float32)[0]
    difference = X - point
    distances = np.sqrt(np.einsum("ij,ij->i", difference, difference), dtype=np.float64)
    if own is not None:
        distances[own] = np.inf
    # The few nearest by a partial sort (sorting every distance cost more than the rest of the answer).
    # Ties at the cut go to the lower row, as a stable sort of all would have it.
    closest = np.flatnonzero(distances <= np.partition(distances, neighbours - 1)[neighbours - 1]) if len(distances) > neighbours else np.arange(len(distances))
    nearest = closest[np.argsort(distances[closest], kind="stable")][:neighbours]
    cluster = int(labels[own]) if own is not None else int(run.labels_of(store, [track_id])[0])
    features = {c: track[c] for c in run.space["columns"] if c in track}
    return jsonable({"track_id": track_id, "name": songs.label(position), "artists": songs.all_artist_names([position])[0],
                     "popularity": track.get("popularity"), "features": features,
                     "cluster": cluster, "cluster_description": run.descriptions.get(cluster), "nearest_among": len(index.catalogue),
                     "nearest": [{"track_id": index.ids[r], "name": index.names[r], "distance": round(float(distances[r]), 4),
                                  "cluster": int(labels[r])} for r in nearest]})


def cluster_details(store: Store, cluster: int, run_id: str | None = None, sample: int = 25) -> dict:
    """One cluster: description, stability, top artists, a fixed-seed sample of songs, its profile
    radar (built once per run and cluster: a run never changes, and the songs drawn on are kept
    for the store's life)."""
    run = load_run(store, run_id, assignments=False)
    clusters = run.clusters.set_index("cluster")
    if cluster not in clusters.index:
        raise NotFound(f"run {run.run_id} has clusters 0..{int(clusters.index.max())}, not {cluster}")
    return store.cached(("cluster details", run.run_id, cluster, sample), lambda: _cluster_details(store, run, clusters, cluster, sample))


def _cluster_details(store: Store, run: ClusterRun, clusters: pd.DataFrame, cluster: int, sample: int) -> dict:
    from songscope.evaluate.stability import verdict
    from songscope.viz import figures as F

    index = _index(store)
    labels = _web_labels(store, run)
    features = list(run.space["columns"]) + (["popularity"] if index.catalogue["popularity"].notna().any() else [])
    members = np.flatnonzero(labels == cluster)
    rng = np.random.default_rng(store.settings.seed)
    shown = np.sort(rng.choice(members, min(sample, len(members)), replace=False)) if len(members) else members
    row = clusters.loc[cluster]
    radar = F.cluster_radar(index.catalogue, labels, cluster, features, str(row["description"]))
    return jsonable({"run_id": run.run_id, "cluster": cluster, "size": int(row["size"]), "description": row["description"],
                     "top_artists": row["top_artists"], "jaccard": row["jaccard"], "stability": None if pd.isna(row["jaccard"]) else verdict(row["jaccard"]),
                     "sample": [{"track_id": index.ids[r], "name": index.names[r]} for r in shown], "figure": json.loads(radar.to_json()),
                     "drawn_from_sample": index.sampled})


def save_list(store: Store, name: str, favourites: list[str], dislikes: list[str] | None = None, options: dict | None = None) -> dict:
    """Save a favourites list (track ids) under a new shareable id."""
    import uuid

    for track_id in list(favourites) + list(dislikes or []):
        _song_row(store, track_id)
    if not favourites:
        raise ValueError("a list needs at least one favourite song")
    list_id = uuid.uuid4().hex[:12]
    db.save_favourite_list(store.db, list_id, name or "my favourites", favourites, dislikes or [], options or {})
    return load_list(store, list_id)


def load_list(store: Store, list_id: str) -> dict:
    """A saved favourites list, with the songs' names."""
    found = db.load_favourite_list(store.db, list_id)
    if found is None:
        raise NotFound(f"no favourites list {list_id!r}")
    songs = _songs(store)
    rows = {t: songs.row_of_id(t) for t in found["favourites"] + found["dislikes"]}
    names = {t: songs.label(r) for t, r in rows.items() if r is not None}
    return jsonable(found | {"names": names})
