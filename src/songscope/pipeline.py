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

import numpy as np
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
    clustering: ClusterOutcome | None = None
    report: dict[str, str] | None = None


def run(
    patterns: Iterable[str],
    settings: Settings,
    *,
    out_dir: Path = Path("reports"),
    k: int = 8,
    resamples: int = 10,
    report: bool = True,
    progress: Progress | None = None,
) -> RunOutcome:
    """The end-to-end job: ingest and clean the sources, profile the catalogue, cluster it (k-means
    on the local engine, evaluated and stored; `songscope evaluate` chooses k with evidence), and
    write the HTML report (``out_dir/report.html``, also in the lake and noted in the database)."""
    from songscope.eda import profile, write_profile
    from songscope.features import FeatureSpace

    # Started first, so the second process's imports overlap the ingest.
    evidence = _BackgroundEvidence() if report else None
    timings: dict[str, float] = {}
    written = None
    try:
        t0 = time.perf_counter()
        outcome = ingest(patterns, settings, progress=progress)
        timings["ingest"] = time.perf_counter() - t0
        if progress:
            progress("profiling the catalogue")
        t0 = time.perf_counter()
        catalogue = load_catalogue(settings)
        # Tables only: the report draws the same figures, interactive (`songscope profile` draws PNGs).
        result = profile(catalogue, clean_report=outcome.cleaned.report, rejected=len(outcome.ingest.rejected), figures=False)
        paths = write_profile(result, out_dir / "profile")
        timings["profile"] = time.perf_counter() - t0
        space = FeatureSpace().fit(catalogue)
        if evidence is not None:
            evidence.start(space.transform(catalogue), k, settings.seed)
        t0 = time.perf_counter()
        clustering = cluster_catalogue(settings, k=k, resamples=resamples, catalogue=catalogue, space=space, progress=progress)
        timings["cluster"] = time.perf_counter() - t0
        if evidence is not None:
            from songscope.viz.report import build_report, write_report

            t0 = time.perf_counter()
            built = build_report(settings, clustering.run_id, catalogue=catalogue, profiled=result, evidence=evidence.result, progress=progress)
            written = write_report(built, settings, out_dir / "report.html")
            timings["report"] = time.perf_counter() - t0
    finally:
        if evidence is not None:
            evidence.close()
    return RunOutcome(outcome, paths, timings, clustering, written)


class _BackgroundEvidence:
    """The report's evidence for k and the algorithm (`select.selection_evidence`) computed in a
    second process.

    It needs only the feature matrix, and it is the longest part of `run`: in a process of its own
    it uses the second core from the start (its imports, scikit-learn's among them, happen while
    `run` ingests) without holding this process's GIL. If the process cannot start or fails, the
    evidence is computed here instead, so the report never depends on it.
    """

    def __init__(self) -> None:
        import os
        import subprocess
        import sys

        self.X: np.ndarray | None = None
        self.k: int | None = None
        self.seed = 0
        self.sender = None
        # The child finds this very songscope, however the caller's path was set up.
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p))
        try:
            self.process: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-m", "songscope.evaluate.evidence_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
            )
        except OSError:
            self.process = None

    def start(self, X: np.ndarray, k: int, seed: int) -> None:
        self.X, self.k, self.seed = X, k, seed
        if self.process is not None:
            import threading

            # From a thread: the matrix is larger than the pipe's buffer, and the worker may still be
            # importing; a plain write would block this process until it reads.
            self.sender = threading.Thread(target=self._send, args=((X, k, seed),), name="songscope-evidence-send", daemon=True)
            self.sender.start()

    def _send(self, message) -> None:
        import pickle

        try:
            pickle.dump(message, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.close()
        except (OSError, ValueError):  # the worker is gone; `result` computes the evidence here
            pass

    def result(self):
        import pickle

        from songscope.evaluate.select import selection_evidence

        if self.process is not None:
            try:
                status, value = pickle.load(self.process.stdout)
                if status == "ok":
                    return value
            except (EOFError, OSError, pickle.UnpicklingError):
                pass
            self.close()
        return selection_evidence(self.X, k=self.k, seed=self.seed)

    def close(self) -> None:
        if self.process is not None:
            # Its work is done or no longer wanted: stop it rather than wait for its interpreter to
            # wind down (a second or more with scikit-learn loaded).
            self.process.kill()
            self.process.wait()
            if self.sender is not None:
                self.sender.join()
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.process = None


# ------------------------------------------------------------------------------------ clustering

#: `--engine auto` picks Spark from this many songs up. Measured by bench/spark.py on 2 cores
#: (local[2], k = 20, 10 iterations): local 0.40 s vs Spark 17.6 s at 1M songs, 4.3 s vs 89.5 s
#: at 10M, so no crossover below 10M here; 20M is where the local engine's memory (about 1 GiB per
#: 10M songs in float32, twice that while transforming) starts to matter. On a real cluster,
#: lower it with SONGSCOPE_SPARK_MIN_ROWS.
SPARK_MIN_ROWS = int(__import__("os").environ.get("SONGSCOPE_SPARK_MIN_ROWS", "20000000"))
LABEL_CANDIDATES = ("playlist_genre", "genre", "label")


@dataclass
class ClusterOutcome:
    run_id: str
    result: object
    metrics: dict[str, float]
    profiles: pd.DataFrame
    feature_tests: pd.DataFrame
    stability: dict[str, object]
    null_model: dict[str, object]
    external: dict[str, float] | None
    engine_reason: str
    lake_keys: dict[str, str]
    timings: dict[str, float]


def choose_engine(requested: str, n_tracks: int) -> tuple[str, str]:
    """The engine to use and why (for `auto`: by catalogue size)."""
    if requested != "auto":
        return requested, f"{requested} engine, as asked"
    if n_tracks >= SPARK_MIN_ROWS:
        return "spark", f"spark: {n_tracks:,} songs is at or above the {SPARK_MIN_ROWS:,}-song crossover"
    return "local", f"local: {n_tracks:,} songs is below the {SPARK_MIN_ROWS:,}-song crossover where Spark starts to pay (bench/spark.py)"


def make_engine(kind: str, algorithm: str, k: int, seed: int, settings: Settings, params: dict | None = None):
    if kind == "spark":
        from songscope.engines.spark import SparkEngine

        return SparkEngine(algorithm, n_clusters=k, random_state=seed, master=settings.spark_master, params=params or {})
    from songscope.engines.local import LocalEngine

    return LocalEngine(algorithm, n_clusters=k, random_state=seed, params=params or {})


def cluster_catalogue(
    settings: Settings,
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
    """Cluster the catalogue, evaluate the clustering in the shared space, persist everything.

    Metrics are songscope's own (silhouette, Davies-Bouldin, Calinski-Harabasz, SSE) in the
    shared space; stability is bootstrap Jaccard per cluster and ARI across seeds, refitted with
    the local engine's same algorithm (a Spark refit per resample would cost minutes for the
    same answer); the null-model check is the gap statistic at k against k = 1.
    """

    from songscope.evaluate.external import external_indices
    from songscope.evaluate.internal import internal_indices
    from songscope.evaluate.profile import describe_clusters, feature_tests
    from songscope.evaluate.select import null_model_check
    from songscope.evaluate.stability import bootstrap_jaccard, seed_agreement, verdict
    from songscope.features import FeatureSpace

    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if catalogue is None:  # `run` passes the one it has just profiled
        say("reading the catalogue")
        catalogue = load_catalogue(settings)
    space = space or FeatureSpace()
    X = space.fit_transform(catalogue)
    timings["features_s"] = time.perf_counter() - t0
    kind, reason = choose_engine(engine, len(catalogue))
    say(f"clustering {len(catalogue):,} songs: {algorithm} on the {kind} engine")
    t0 = time.perf_counter()
    runner = make_engine(kind, algorithm, k, settings.seed, settings, params)
    if kind == "spark":
        lake = Lake(settings.lake_url, settings.s3_endpoint)
        result, ids = runner.fit_parquet(lake.uri(CATALOGUE_KEY), space, s3_endpoint=settings.s3_endpoint)
        position = pd.Series(np.arange(len(ids)), index=ids)
        result.labels = result.labels[position.loc[catalogue["track_id"]].to_numpy()]
    else:
        result = runner.fit(X)
    timings["cluster_s"] = time.perf_counter() - t0

    say("evaluating in the shared feature space")
    t0 = time.perf_counter()
    metrics = internal_indices(X, result.labels, seed=settings.seed)
    timings["metrics_s"] = time.perf_counter() - t0
    raw_features = [c for c in space.columns] + (["popularity"] if catalogue["popularity"].notna().any() else [])
    tests = feature_tests(catalogue, result.labels, raw_features)
    profiles = describe_clusters(catalogue, result.labels, raw_features)

    stability: dict[str, object] = {}
    if algorithm not in ("hdbscan", "dbscan") and resamples > 0:
        say(f"stability: {resamples} bootstrap refits")
        t0 = time.perf_counter()
        from songscope.engines.local import LocalEngine

        def refit(data, seed):
            return LocalEngine(algorithm, n_clusters=result.n_clusters, random_state=seed, params=params or {}).fit(data).labels

        jaccard = bootstrap_jaccard(X, result.labels, refit, resamples=resamples, seed=settings.seed)
        stability = {
            "resamples": resamples,
            "jaccard": jaccard.tolist(),
            "verdicts": [verdict(j) for j in jaccard],
            "seeds": seed_agreement(X, refit, [settings.seed + i for i in range(3)]),
        }
        profiles["jaccard"] = jaccard
        profiles["stability"] = stability["verdicts"]
        timings["stability_s"] = time.perf_counter() - t0
    null = null_model_check(X, max(result.n_clusters, 2), seed=settings.seed)
    external = None
    label = label or next((c for c in LABEL_CANDIDATES if c in catalogue and catalogue[c].notna().any()), None)
    if label:
        external = external_indices(result.labels, catalogue[label]) | {"label": label}

    say("storing the run")
    t0 = time.perf_counter()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    lake = Lake(settings.lake_url, settings.s3_endpoint)
    assignments = pd.DataFrame({"track_id": catalogue["track_id"].to_numpy(), "cluster": result.labels})
    lake_keys = {
        "assignments": lake.write_table(f"runs/{run_id}/assignments.parquet", pa.Table.from_pandas(assignments, preserve_index=False)),
        "space": lake.write_bytes(f"runs/{run_id}/space.json", space.to_json().encode()),
    }
    summary = {
        "run_id": run_id, "engine": kind, "algorithm": algorithm, "k": result.n_clusters, "metrics": metrics,
        "stability": stability, "null_model": null, "external": external, "feature_tests": tests.to_dict("records"),
        "profiles": profiles.drop(columns=["shifts"]).to_dict("records"), "params": result.params,
    }
    lake_keys["summary"] = lake.write_bytes(f"runs/{run_id}/summary.json", json.dumps(summary, indent=2, default=_json_default).encode())
    centroids = pd.DataFrame(
        {
            "cluster": profiles["cluster"],
            "size": profiles["size"],
            "center": [json.dumps([round(float(v), 6) for v in c]) for c in result.centers[profiles["cluster"].to_numpy()]],
            "description": profiles["description"],
            "top_artists": profiles["top_artists"],
            "jaccard": profiles["jaccard"] if "jaccard" in profiles else None,
        }
    )
    all_timings = {**timings, **{f"engine_{k}": v for k, v in result.timings.items()}}
    engine_db = db.connect(settings.db_url)
    db.record_cluster_run(
        engine_db,
        run={
            "run_id": run_id, "created_at": datetime.now(UTC), "engine": kind, "algorithm": algorithm,
            "n_clusters": result.n_clusters, "n_tracks": len(catalogue), "params": json.dumps(result.params, default=_json_default),
            "space": space.to_json(), "timings": json.dumps(all_timings), "lake_uri": lake.uri(f"runs/{run_id}"),
        },
        assignments=assignments,
        centroids=centroids,
        metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
    )
    engine_db.dispose()
    all_timings["store_s"] = time.perf_counter() - t0
    return ClusterOutcome(run_id, result, metrics, profiles, tests, stability, null, external, reason, lake_keys, all_timings)


def _json_default(value: object) -> object:

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# -------------------------------------------------------------------------------- recommendation


def run_labels(catalogue: pd.DataFrame, run: dict) -> np.ndarray:
    """Each catalogue song's cluster in a stored run (`store.db.load_cluster_run`); -1 for songs
    the run did not cluster (added to the catalogue after it)."""
    assigned = catalogue[["track_id"]].merge(run["assignments"], on="track_id", how="left")
    return assigned["cluster"].fillna(-1).astype(int).to_numpy()


def run_descriptions(run: dict) -> dict[int, str]:
    """Each cluster of a stored run described in words."""
    return dict(zip(run["centroids"]["cluster"].astype(int), run["centroids"]["description"]))


def recommender_for(settings: Settings, *, run_id: str | None = None, index_kind: str = "auto"):
    """A Recommender over the catalogue, with the clusters of `run_id` (default: the latest run)."""
    from songscope.features import FeatureSpace
    from songscope.recommend.recommender import Recommender

    catalogue = load_catalogue(settings)
    engine = db.connect(settings.db_url)
    try:
        run_id = run_id or db.latest_cluster_run(engine)
        clusters, descriptions, space = None, None, FeatureSpace()
        if run_id is not None:
            run = db.load_cluster_run(engine, run_id)
            clusters = run["assignments"].set_index("track_id")["cluster"]
            descriptions = run_descriptions(run)
    finally:
        engine.dispose()
    return Recommender(catalogue, space.fit(catalogue), clusters=clusters, descriptions=descriptions, index_kind=index_kind), run_id


_REASON_FIELDS = ("reason", "nearest_seed", "similar_in", "differs_in", "contributions", "cluster", "cluster_description")


def recommend(settings: Settings, favourites: list[str], *, dislikes: list[str] | None = None, options=None, run_id: str | None = None, recommender=None):
    """Recommend for `favourites` and store the request and its songs in the database.

    `recommender` (with `run_id`) reuses one built by `recommender_for`, as the web app does:
    building it reads the catalogue and indexes it, which a long-running process does once."""
    from songscope.recommend.recommender import RecommendOptions

    options = options or RecommendOptions()
    if recommender is None:
        recommender, run_id = recommender_for(settings, run_id=run_id)
    result = recommender.recommend(favourites, options, dislikes=dislikes)
    request_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    frame = result.to_frame()
    if len(frame):
        items = pd.DataFrame(
            {
                "rank": frame["rank"],
                "track_id": frame["track_id"],
                "score": frame["score"],
                "reason": [json.dumps({k: row[k] for k in _REASON_FIELDS}, default=_json_default) for row in frame.to_dict("records")],
            }
        )
        engine = db.connect(settings.db_url)
        db.record_recommendations(
            engine, request_id,
            {
                "favourites": result.seeds, "dislikes": result.dislikes, "options": options.__dict__, "cluster_run": run_id,
                "favourite_ids": result.seed_ids,
            },
            items,
        )
        engine.dispose()
    return request_id, result
