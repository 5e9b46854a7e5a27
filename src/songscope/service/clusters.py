"""Clustering runs: cluster, assign new songs, evaluate the choice of k and algorithm, compare two runs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from songscope import crashpoints
from songscope.jsonable import dumps, jsonable
from songscope.memory import release_freed_memory
from songscope.service.common import (
    LABEL_CANDIDATES,
    NotFound,
    Progress,
    assigned_of,
    backend_for,
    catalogue_space,
    latest_run_or_none,
    load_run,
    say_to,
)
from songscope.service.songs import map_points, web_catalogue, web_labels
from songscope.store import db, keys
from songscope.store.catalogue import size as catalogue_size
from songscope.store.runs import ASSIGNMENT_SCHEMA, ClusterRun, new_id
from songscope.store.store import Store

if TYPE_CHECKING:  # pragma: no cover
    from songscope.backends.base import Backend, Clustering


@dataclass
class ClusterOutcome:
    """A clustering run as stored, and the algorithm's own result (labels, centres, predictor)."""

    run: ClusterRun
    result: Any  # cluster.base.ClusterResult
    #: The songs the run was evaluated on (every song, or a Spark run's sample, by track id):
    #: `run.assignments` are their clusters.
    songs: pd.DataFrame | None = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def to_dict(self) -> dict[str, Any]:
        return self.run.to_dict()


def cluster(
    store: Store,
    *,
    backend: str | Backend = "local",
    algorithm: str = "kmeans",
    k: int = 8,
    params: dict | None = None,
    space=None,
    resamples: int = 20,
    label: str | None = None,
    progress: Progress | None = None,
) -> ClusterOutcome:
    """Cluster the catalogue, evaluate the clustering in the shared space, store the run.

    Metrics are songscope's own (silhouette, Davies-Bouldin, Calinski-Harabasz, SSE) in the
    shared space; stability is bootstrap Jaccard per cluster and ARI across seeds, refitted with
    the local backend's same algorithm (a Spark refit per resample would cost minutes for the
    same answer); the null-model check is the gap statistic at k against k = 1. The clusters
    are numbered as the latest run's clusters they continue (`evaluate.matching`).

    On Spark (`backend` spark, or auto for a big catalogue) the catalogue never comes to this
    process: SSE, Calinski-Harabasz, Davies-Bouldin and the cluster sizes are exact aggregates,
    and the figures that need songs side by side are computed on a fixed-seed sample, whose size
    the run records (``sample_n``).
    """
    say = say_to(progress)
    settings = store.settings
    backend = backend_for(store, backend, progress=progress)
    say(f"clustering {catalogue_size(store):,} songs: {algorithm} on the {backend.name} backend")
    t0 = time.perf_counter()
    space = catalogue_space(store, space)
    if space.centre_ is None:  # a job that has fitted it already (`run`) passes it fitted
        space = backend.fit_space(store, space)
    fitted_s = time.perf_counter() - t0
    previous = latest_run_or_none(store)
    clustering = backend.cluster(store, space, algorithm, k, seed=settings.seed, params=params, previous=previous)
    release_freed_memory()  # the fit's distances and the indices' arrays, before the evidence's
    try:
        timings = {**clustering.timings, "features_s": fitted_s + clustering.timings.get("features_s", 0.0)}
        if clustering.sample_n is not None:
            say(f"evaluating: exact sums over {clustering.total:,} songs, the rest on a sample of {clustering.sample_n:,}")
        else:
            say("evaluating in the shared feature space")
        run = _evaluated_run(store, backend, algorithm, space, clustering, timings, resamples=resamples, label=label, params=params, say=say)
        release_freed_memory()  # the refits' arrays
        if clustering.identities is not None:
            run.identities = {"previous_run": previous.run_id, "clusters": clustering.identities}
        t0 = time.perf_counter()
        run.save(store, clustering.assignment_chunks() if clustering.assignment_chunks is not None else None)
        run.timings["store_s"] = time.perf_counter() - t0
    finally:
        clustering.release()
    return ClusterOutcome(run, clustering.result, clustering.songs)


def _evaluated_run(store: Store, backend: Backend, algorithm: str, space, clustering: Clustering, timings: dict, *, resamples: int,
                   label: str | None, params: dict | None, say) -> ClusterRun:
    """The run's evidence from `clustering.songs` (every song, or a Spark run's sample) and their labels."""
    from songscope.evaluate.cluster_profiles import describe_clusters, feature_tests
    from songscope.evaluate.external import external_indices
    from songscope.evaluate.select import null_model_check
    from songscope.evaluate.stability import bootstrap_jaccard, seed_agreement, verdict

    settings = store.settings
    catalogue, X, result, sizes, metrics = clustering.songs, clustering.points, clustering.result, clustering.sizes, clustering.metrics
    raw_features = list(space.columns) + (["popularity"] if catalogue["popularity"].notna().any() else [])
    tests = feature_tests(catalogue, result.labels, raw_features)
    profiles = describe_clusters(catalogue, result.labels, raw_features, feature_set=space.feature_set)
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
        from songscope.cluster.local import LocalAlgorithm

        def refit(data, seed):  # the same method as the run, on a resample or with another seed
            return LocalAlgorithm(algorithm, n_clusters=result.n_clusters, random_state=seed, params=params or {}).fit(data).labels

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
    clusters = profiles.assign(centre=list(result.centres[profiles["cluster"].to_numpy()]))
    assignments = pd.DataFrame({"track_id": catalogue["track_id"].to_numpy(), "cluster": result.labels})
    return ClusterRun(
        run_id=new_id(), engine=backend.name, algorithm=algorithm, space=space.to_dict(), assignments=assignments,
        clusters=clusters[["cluster", "size", "centre", "description", "top_artists", "jaccard"]], metrics=metrics,
        params=result.params, timings={**timings, **{f"engine_{k}": v for k, v in result.timings.items()}}, stability=stability,
        null_model=null, external=external, feature_tests=jsonable(tests), engine_reason=backend.reason,
        songs=clustering.total if sizes is not None else None,
    )


@dataclass
class AssignOutcome:
    """Songs that arrived after a run, assigned to its clusters, and the drift they show."""

    assign_id: str | None  # None when there was nothing to assign
    run_id: str
    assigned: int
    drift: Any  # evaluate.drift.Drift

    def to_dict(self) -> dict[str, Any]:
        return {"assign_id": self.assign_id, "assigned": self.assigned, **jsonable(self.drift.to_dict())}


def assign(store: Store, run_id: str | None = None, *, backend: str | Backend = "local", progress: Progress | None = None) -> AssignOutcome:
    """Assign the catalogue's songs that arrived after run `run_id` (default: the latest) to its
    nearest cluster centres, in the run's own feature space, and measure the drift
    (`evaluate.drift`): how far they sit from their centres against the songs the run was fitted
    on, and whether it is time to cluster again. The assignments are stored with the run: the
    web app, the report and the recommender then see the new songs' clusters. On the `backend`
    spark (or auto, by catalogue size) the executors do it (`backends.spark.assign`) and no
    column the size of the catalogue comes to this process."""
    from songscope.backends.base import RunWithoutLakeClusters
    from songscope.evaluate.drift import Drift

    say = say_to(progress)
    run = load_run(store, run_id, assignments=False)
    centres = np.array(run.clusters["centre"].tolist(), dtype=np.float64)
    numbers = run.clusters["cluster"].to_numpy(dtype=np.int64)
    backend = backend_for(store, backend, streams=True, progress=progress)
    say(f"assigning the songs that arrived after run {run.run_id} to its {len(numbers)} clusters ({backend.name} backend)")
    try:
        placed = backend.assign(store, run, centres, numbers, seed=store.settings.seed)
    except RunWithoutLakeClusters as exc:
        raise NotFound(str(exc)) from exc
    try:
        reference = placed.reference
        per_cluster = [{"cluster": int(c), "new_songs": placed.new_per_cluster.get(int(c), 0),
                        "fit_no_cluster_well": placed.poor_per_cluster.get(int(c), 0),
                        "limit": round(reference.limits.get(int(c), reference.overall), 4)} for c in numbers]
        poor_share = sum(placed.poor_per_cluster.values()) / placed.new_songs if placed.new_songs else None
        drift = Drift(run.run_id, placed.new_songs, placed.fitted_songs, placed.median_distance_new, reference.median, poor_share, per_cluster)
        if not placed.new_songs:
            return AssignOutcome(None, run.run_id, 0, drift)
        assign_id = new_id()
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


def evaluate(store: Store, *, ks: list[int], references: int = 10, density: bool = True, space=None, backend: str | Backend = "local",
             progress: Progress | None = None) -> EvaluateOutcome:
    """The k sweep (elbow, silhouette, gap statistic), the density sweep and the algorithms at the
    recommended k. On Spark (`backend` spark, or auto for a big catalogue) the feature space is
    fitted from aggregates over every song and the sweeps run on a fixed-seed sample, whose size
    the outcome reports."""
    from songscope.backends.base import SAMPLE_ROWS
    from songscope.evaluate.select import Evidence, compare_algorithms, density_sweep, k_sweep

    say = say_to(progress)
    seed = store.settings.seed
    backend = backend_for(store, backend, progress=progress)
    say(f"fitting the feature space, and reading the songs to evaluate on ({backend.name} backend)")
    space = backend.fit_space(store, catalogue_space(store, space))
    chosen = backend.sample(store, SAMPLE_ROWS, seed)
    X = space.transform(chosen.songs)
    sweep = k_sweep(X, ks, seed=seed, references=references, progress=say)
    say("density sweep (HDBSCAN, DBSCAN)")
    dense = density_sweep(X, seed=seed) if density else None
    say(f"the algorithms at k = {sweep.recommended_k}")
    methods = compare_algorithms(X, sweep.recommended_k, seed=seed)
    return EvaluateOutcome(chosen.total, Evidence(sweep, dense, methods), chosen.sample_n)


def compare(store: Store, run_a: str, run_b: str, *, figures: bool = False):
    """Two runs side by side in run A's feature space (`compare.Comparison`); with `figures`, both
    colourings of one map and the contingency heat map (Plotly figures, for the web app)."""
    from songscope.compare import compare_runs

    # Over the songs the web app draws on: every song, or a fixed-seed sample of a big catalogue
    # (`agreement.songs` says how many), each run's clusters read for just those songs.
    catalogue = web_catalogue(store).catalogue
    a, b = (assigned_of(store, load_run(store, r, assignments=False), catalogue) for r in (run_a, run_b))
    comparison = compare_runs(a, b, catalogue, seed=store.settings.seed)
    if figures:
        from songscope.viz import figures as F

        _, points = map_points(store, a)
        names = (f"A: {a.engine} {a.algorithm}", f"B: {b.engine} {b.algorithm}")
        comparison.figures = {
            "maps": F.comparison_maps(points, web_labels(store, a), web_labels(store, b), names),
            "contingency": F.contingency_heatmap(comparison.contingency, names),
        }
    return comparison
