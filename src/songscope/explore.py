"""What the web app shows, as plain data: the library behind `songscope serve`'s pages and API.

An `Explorer` holds one catalogue (from the lake) and the stores' settings; it caches what is
costly to rebuild per request (the catalogue's feature matrix, each run's 2-D map, the
recommender) and answers with JSON-ready dicts. The web layer only routes and renders.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from songscope import pipeline
from songscope.config import Settings
from songscope.evaluate.stability import verdict
from songscope.features import FeatureSpace
from songscope.store import db


class NotFound(LookupError):
    """A run, cluster, song or list that does not exist; the message says what does."""


def _clean(value: Any) -> Any:
    """Numpy scalars and NaN made JSON-safe."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return value


class Explorer:
    """Answers the app's questions over the configured database and lake."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._catalogue: pd.DataFrame | None = None
        self._maps: dict[str, Any] = {}
        self._runs: dict[str, dict] = {}
        self._recommenders: dict[str | None, Any] = {}
        self._db = None

    # ------------------------------------------------------------------------------ loading

    @property
    def _engine(self):
        """One engine (a connection pool) for the app's life: connecting checks the schema,
        which every request would otherwise pay for."""
        with self._lock:
            if self._db is None:
                self._db = db.connect(self.settings.db_url)
            return self._db

    @property
    def catalogue(self) -> pd.DataFrame:
        with self._lock:
            if self._catalogue is None:
                self._catalogue = pipeline.load_catalogue(self.settings).reset_index(drop=True)
                self._names = (self._catalogue["artist_name"].astype(str) + " - " + self._catalogue["track_name"].astype(str)).to_numpy()
                self._row = pd.Series(np.arange(len(self._catalogue)), index=self._catalogue["track_id"].astype(str))
                self._search_keys = pd.Series(self._names).str.lower()
            return self._catalogue

    def _run(self, run_id: str | None) -> dict:
        run_id = run_id or db.latest_cluster_run(self._engine)
        if run_id is None:
            raise NotFound("no clustering run yet: run `songscope cluster` (or `songscope run`) first")
        if run_id not in self._runs:
            try:
                self._runs[run_id] = db.load_cluster_run(self._engine, run_id)
            except db.DatabaseError as exc:
                raise NotFound(str(exc)) from exc
        return self._runs[run_id]

    def _labels(self, run: dict) -> np.ndarray:
        return pipeline.run_labels(self.catalogue, run)

    def _map(self, run_id: str):
        from songscope.viz import figures as F

        if run_id not in self._maps:
            run = self._run(run_id)
            space = FeatureSpace.from_json(run["run"]["space"])
            X = space.transform(self.catalogue)
            self._maps[run_id] = (X, F.project(X, seed=self.settings.seed))
        return self._maps[run_id]

    def _song_row(self, track_id: str) -> int:
        self.catalogue  # noqa: B018 - loads the indexes
        if track_id not in self._row.index:
            raise NotFound(f"no song with track id {track_id!r}; search by name: /api/songs?q=...")
        return int(self._row[track_id])

    # ------------------------------------------------------------------------------ answers

    def overview(self) -> dict:
        counts = db.counts(self._engine)
        ingests = db.read_table(self._engine, db.ingest_runs).sort_values("started_at")
        runs = db.read_table(self._engine, db.cluster_runs).sort_values("created_at", ascending=False)
        latest = runs["run_id"].iloc[0] if len(runs) else None
        cleaning = []
        for row in ingests.itertuples():
            report = json.loads(row.report)
            cleaning.append({"ingest": row.run_id, "rows_read": row.rows_read, "rejected": row.rows_rejected,
                             "steps": [{"step": s["name"], "rows_after": s["rows_after"]} for s in report.get("steps", [])],
                             "outliers": report.get("outliers"), "tracks_added": row.tracks_added})
        current = self.run(latest) if latest else None
        return _clean({"catalogue": {"songs": counts["tracks"], "rejected_rows": counts["rejected_rows"], "duplicates": counts["track_duplicates"]},
                       "cleaning": cleaning, "current_run": current, "runs": self.runs()})

    def runs(self) -> list[dict]:
        runs = db.read_table(self._engine, db.cluster_runs).sort_values("created_at", ascending=False)
        metrics = db.read_table(self._engine, db.cluster_metrics)
        silhouettes = metrics[metrics["name"] == "silhouette"].set_index("run_id")["value"]
        return _clean([{"run_id": r.run_id, "created_at": r.created_at, "engine": r.engine, "algorithm": r.algorithm, "k": r.n_clusters,
                        "songs": r.n_tracks, "silhouette": silhouettes.get(r.run_id)} for r in runs.itertuples()])

    def run(self, run_id: str | None = None) -> dict:
        run = self._run(run_id)
        info = run["run"]
        clusters = run["centroids"][["cluster", "size", "description", "top_artists", "jaccard"]].to_dict("records")
        return _clean({"run_id": info["run_id"], "engine": info["engine"], "algorithm": info["algorithm"], "k": info["n_clusters"],
                       "songs": info["n_tracks"], "created_at": info["created_at"], "metrics": run["metrics"],
                       "timings": json.loads(info["timings"]), "clusters": clusters})

    def cluster_map(self, run_id: str | None = None) -> dict:
        """The map's figure (Plotly JSON; each point carries its track id) and its points."""
        from songscope.viz import figures as F

        run = self._run(run_id)
        run_id = run["run"]["run_id"]
        X, points = self._map(run_id)
        labels = self._labels(run)
        descriptions = pipeline.run_descriptions(run)
        fig = F.cluster_map(points, labels, self.catalogue, descriptions, title=f"Cluster map: run {run_id}")
        ids = self.catalogue["track_id"].astype(str).to_numpy()
        return {"run_id": run_id, "figure": json.loads(fig.to_json()), "trustworthiness": points.trustworthiness,
                "points": {"track_id": ids[points.rows].tolist(), "x": points.xy[:, 0].round(4).tolist(), "y": points.xy[:, 1].round(4).tolist(),
                           "cluster": labels[points.rows].tolist(), "name": self._names[points.rows].tolist()}}

    def search(self, query: str, limit: int = 20) -> list[dict]:
        """Songs whose "artist - title" contains every word of `query` (case-insensitive), most popular first."""
        words = [w for w in query.lower().split() if w]
        if not words:
            return []
        catalogue = self.catalogue
        mask = np.ones(len(catalogue), dtype=bool)
        for word in words:
            mask &= self._search_keys.str.contains(word, regex=False).to_numpy()
        rows = np.flatnonzero(mask)
        popularity = pd.to_numeric(catalogue["popularity"], errors="coerce").fillna(-1).to_numpy()[rows]
        order = np.argsort(-popularity, kind="stable")[:limit]
        return [{"track_id": str(catalogue["track_id"].iloc[r]), "name": str(self._names[r]), "popularity": _clean(p if p >= 0 else None)}
                for r, p in zip(rows[order], popularity[order])]

    def song(self, track_id: str, run_id: str | None = None, neighbours: int = 10) -> dict:
        row = self._song_row(track_id)
        run = self._run(run_id)
        X, _ = self._map(run["run"]["run_id"])
        labels = self._labels(run)
        distances = np.sqrt(((X - X[row]) ** 2).sum(axis=1))
        distances[row] = np.inf
        nearest = np.argsort(distances, kind="stable")[:neighbours]
        track = self.catalogue.iloc[row]
        cluster = int(labels[row])
        description = pipeline.run_descriptions(run).get(cluster)
        features = {c: track[c] for c in FeatureSpace.from_json(run["run"]["space"]).columns if c in track}
        return _clean({"track_id": track_id, "name": self._names[row], "popularity": track.get("popularity"), "features": features,
                       "cluster": cluster, "cluster_description": description,
                       "nearest": [{"track_id": str(self.catalogue["track_id"].iloc[r]), "name": self._names[r], "distance": round(float(distances[r]), 4),
                                    "cluster": int(labels[r])} for r in nearest]})

    def cluster(self, cluster: int, run_id: str | None = None, sample: int = 25) -> dict:
        from songscope.viz import figures as F

        run = self._run(run_id)
        centroids = run["centroids"].set_index("cluster")
        if cluster not in centroids.index:
            raise NotFound(f"run {run['run']['run_id']} has clusters 0..{int(centroids.index.max())}, not {cluster}")
        labels = self._labels(run)
        space = FeatureSpace.from_json(run["run"]["space"])
        features = list(space.columns) + (["popularity"] if self.catalogue["popularity"].notna().any() else [])
        members = np.flatnonzero(labels == cluster)
        rng = np.random.default_rng(self.settings.seed)
        shown = np.sort(rng.choice(members, min(sample, len(members)), replace=False)) if len(members) else members
        row = centroids.loc[cluster]
        radar = F.cluster_radar(self.catalogue, labels, cluster, features, str(row["description"]))
        return _clean({"run_id": run["run"]["run_id"], "cluster": cluster, "size": int(row["size"]), "description": row["description"],
                       "top_artists": row["top_artists"], "jaccard": row["jaccard"],
                       "stability": None if pd.isna(row["jaccard"]) else verdict(row["jaccard"]),
                       "sample": [{"track_id": str(self.catalogue["track_id"].iloc[r]), "name": self._names[r]} for r in shown],
                       "figure": json.loads(radar.to_json())})

    def recommend(self, favourites: list[str], dislikes: list[str] | None = None, options: dict | None = None, run_id: str | None = None) -> dict:
        """Recommendations with reasons (stored in the database, as the CLI's are), placed on the map."""
        from songscope.recommend.recommender import RecommendOptions

        options = RecommendOptions(**(options or {}))
        try:
            run_id = self._run(run_id)["run"]["run_id"]
        except NotFound:
            if run_id is not None:
                raise
            # No clustering yet: recommendations still work, without cluster reasons.
        with self._lock:
            if run_id not in self._recommenders:  # built once per run: it reads and indexes the catalogue
                self._recommenders[run_id] = pipeline.recommender_for(self.settings, run_id=run_id)[0]
            recommender = self._recommenders[run_id]
        request_id, result = pipeline.recommend(self.settings, favourites, dislikes=dislikes, options=options, run_id=run_id, recommender=recommender)
        items = [{**item.__dict__, "reason": item.reason()} for item in result.items]
        return _clean({"request_id": request_id, "favourites": result.seeds, "dislikes": result.dislikes, "notes": result.notes,
                       "dislike_effect": result.dislike_effect, "recommendations": items})

    def save_list(self, name: str, favourites: list[str], dislikes: list[str] | None = None, options: dict | None = None) -> dict:
        for track_id in list(favourites) + list(dislikes or []):
            self._song_row(track_id)
        if not favourites:
            raise ValueError("a list needs at least one favourite song")
        list_id = uuid.uuid4().hex[:12]
        db.save_favourite_list(self._engine, list_id, name or "my favourites", favourites, dislikes or [], options or {})
        return self.load_list(list_id)

    def load_list(self, list_id: str) -> dict:
        found = db.load_favourite_list(self._engine, list_id)
        if found is None:
            raise NotFound(f"no favourites list {list_id!r}")
        self.catalogue  # noqa: B018 - loads the indexes
        names = {t: self._names[self._row[t]] for t in found["favourites"] + found["dislikes"] if t in self._row.index}
        return _clean(found | {"names": names})

    def compare(self, run_a: str, run_b: str) -> dict:
        from songscope.compare import compare_runs
        from songscope.viz import figures as F

        a, b = self._run(run_a), self._run(run_b)
        comparison = compare_runs(a, b, self.catalogue, seed=self.settings.seed)
        _, points = self._map(a["run"]["run_id"])
        names = (f"A: {a['run']['engine']} {a['run']['algorithm']}", f"B: {b['run']['engine']} {b['run']['algorithm']}")
        maps = F.comparison_maps(points, self._labels(a), self._labels(b), names)
        contingency = F.contingency_heatmap(comparison.contingency, names)
        return _clean({"runs": comparison.runs.to_dict("records"), "agreement": comparison.agreement,
                       "sizes": {"A": comparison.sizes["A"].tolist(), "B": comparison.sizes["B"].tolist()},
                       "figures": {"maps": json.loads(maps.to_json()), "contingency": json.loads(contingency.to_json())}})


def explorer_for(settings: Settings | None = None) -> Explorer:
    return Explorer(settings or Settings.load())


