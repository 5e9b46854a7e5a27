"""What the web app shows: runs, the overview, the map, songs, clusters, saved lists (kept until the stores change)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from songscope.errors import UserError
from songscope.jsonable import jsonable
from songscope.service.common import NotFound, catalogue_features, load_run
from songscope.service.songs import map_points, song_row, songs_of, web_catalogue, web_index, web_labels
from songscope.store import cache, db
from songscope.store.runs import ClusterRun, run_summaries
from songscope.store.store import Store


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


def stores_version(store: Store) -> tuple:
    """What changes when any process writes the catalogue, a run or a report (which adds a run's
    evidence for k): the newest of each (three indexed reads), so that answers built from them
    can be kept until then."""
    return db.newest_ids(store.autocommit)


def overview(store: Store) -> dict:
    """Catalogue size, the cleaning of every ingest, the current run and past runs (kept until
    an ingest or a run, of this process or another, changes them)."""
    version = stores_version(store)
    return store.cached(cache.overview(version), lambda: _overview(store))


def _overview(store: Store) -> dict:
    counts = db.counts(store.db)
    ingests = db.read_table(store.db, db.ingest_runs).sort_values("started_at")
    cleaning = []
    for row in ingests.itertuples():
        report = json.loads(row.report)
        cleaning.append({"ingest": row.run_id, "rows_read": row.rows_read, "rejected": row.rows_rejected,
                         "steps": [{"step": s["name"], "rows_after": s["rows_after"]} for s in report.get("steps", [])],
                         "outliers": report.get("outliers"), "tracks_added": row.tracks_added, "feature_set": row.feature_set})
    past = runs(store)
    current = run_details(store, past[0]["run_id"]) if past else None
    features = catalogue_features(store)
    described = [{"name": c.name, "transform": c.transform, "unit": c.unit, "high": c.high, "low": c.low} for c in features.columns]
    return jsonable({"catalogue": {"songs": counts["tracks"], "rejected_rows": counts["rejected_rows"], "duplicates": counts["track_duplicates"],
                                   "feature_set": {"name": features.name, "features": described}},
                     "cleaning": cleaning, "current_run": current, "runs": past})


def cluster_map(store: Store, run_id: str | None = None) -> dict:
    """The map's figure (Plotly JSON; each point carries its track id) and its trustworthiness."""
    from songscope.viz import figures as F

    run = load_run(store, run_id, assignments=False)
    index = web_catalogue(store)
    _, points = map_points(store, run)
    labels = web_labels(store, run)
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
    songs = songs_of(store)
    shown = songs.search(words, limit)
    return [{"track_id": t, "name": name, "popularity": None if np.isnan(p) else int(p)}
            for t, name, p in zip(songs.ids(shown), songs.labels(shown), songs.popularity[shown].tolist())]


def song(store: Store, track_id: str, run_id: str | None = None, neighbours: int = 10) -> dict:
    """One song: its features, its cluster and its nearest songs in the run's space (among a
    fixed-seed sample when the catalogue is larger than `WEB_SONGS`; `nearest_among` says)."""
    from songscope.features import FeatureSpace
    from songscope.store.catalogue import rows_at

    songs = songs_of(store)
    position = song_row(store, track_id)
    run = load_run(store, run_id, assignments=False)
    index = web_catalogue(store)
    X, _ = map_points(store, run)
    labels = web_labels(store, run)
    own = int(index.row[track_id]) if track_id in index.row.index else None
    if own is not None:
        track, point = index.values(own), X[own]
    else:
        row = rows_at(store, [position])
        track, point = row.iloc[0].to_dict(), FeatureSpace.from_dict(run.space).transform(row, dtype=np.float32)[0]
    found, _ = web_index(store, run).search(point[None, :], neighbours + 1)
    candidates = np.array([r for r in found[0] if r != own][:neighbours], dtype=np.int64)
    # The index finds them; their distances are measured exactly, and ties go to the lower row.
    distances = np.sqrt(((X[candidates].astype(np.float64) - np.asarray(point, dtype=np.float64)) ** 2).sum(axis=1))
    order = np.lexsort((candidates, distances))
    nearest, nearest_distances = candidates[order], distances[order]
    cluster = int(labels[own]) if own is not None else int(run.labels_of(store, [track_id])[0])
    features = {c: track[c] for c in run.space["columns"] if c in track}
    return jsonable({"track_id": track_id, "name": songs.label(position), "artists": songs.all_artist_names([position])[0],
                     "popularity": track.get("popularity"), "features": features,
                     "cluster": cluster, "cluster_description": run.descriptions.get(cluster), "nearest_among": len(index.catalogue),
                     "nearest": [{"track_id": index.ids[r], "name": index.names[r], "distance": round(float(d), 4),
                                  "cluster": int(labels[r])} for r, d in zip(nearest, nearest_distances)]})


def cluster_details(store: Store, cluster: int, run_id: str | None = None, sample: int = 25) -> dict:
    """One cluster: description, stability, top artists, a fixed-seed sample of songs, its profile
    radar (built once per run and cluster: a run never changes, and the songs drawn on are kept
    for the store's life)."""
    run = load_run(store, run_id, assignments=False)
    clusters = run.clusters.set_index("cluster")
    if cluster not in clusters.index:
        raise NotFound(f"run {run.run_id} has clusters 0..{int(clusters.index.max())}, not {cluster}")
    return store.cached(cache.cluster_details(run.run_id, cluster, sample), lambda: _cluster_details(store, run, clusters, cluster, sample))


def _cluster_details(store: Store, run: ClusterRun, clusters: pd.DataFrame, cluster: int, sample: int) -> dict:
    from songscope.evaluate.stability import verdict
    from songscope.viz import figures as F

    index = web_catalogue(store)
    labels = web_labels(store, run)
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
        song_row(store, track_id)
    if not favourites:
        raise UserError("a list needs at least one favourite song")
    list_id = uuid.uuid4().hex[:12]
    db.save_favourite_list(store.db, list_id, name or "my favourites", favourites, dislikes or [], options or {})
    return load_list(store, list_id)


def load_list(store: Store, list_id: str) -> dict:
    """A saved favourites list, with the songs' names."""
    found = db.load_favourite_list(store.db, list_id)
    if found is None:
        raise NotFound(f"no favourites list {list_id!r}")
    songs = songs_of(store)
    rows = {t: songs.row_of_id(t) for t in found["favourites"] + found["dislikes"]}
    names = {t: songs.label(r) for t, r in rows.items() if r is not None}
    return jsonable(found | {"names": names})
