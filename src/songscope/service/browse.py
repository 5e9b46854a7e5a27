"""What the web app shows: runs, the overview, the map, songs, clusters, saved lists (kept until
the stores change), each as a typed result of `views`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from songscope.errors import UserError
from songscope.service.common import NotFound, catalogue_features, load_run
from songscope.service.songs import map_points, song_row, songs_of, web_catalogue, web_index, web_labels
from songscope.service.views import (
    ClusterDetails,
    ClusterMap,
    FavouriteList,
    IngestCleaning,
    Neighbour,
    Overview,
    RunDetails,
    RunSummary,
    SongAudio,
    SongDetails,
    SongMatch,
    SongRef,
)
from songscope.store import audio_files, cache, db
from songscope.store.runs import ClusterRun, run_summaries
from songscope.store.store import Store


def runs(store: Store) -> list[RunSummary]:
    """Every cluster run, newest first."""
    return [RunSummary(**row) for row in run_summaries(store)]


def run_details(store: Store, run_id: str | None = None) -> RunDetails:
    """One run: metrics, timings, its clusters in words with their stability, and its evidence
    (which a report adds to: not kept beyond the run itself)."""
    from songscope.evaluate.stability import verdict

    run = load_run(store, run_id, assignments=False)
    stability = {int(row.cluster): None if pd.isna(row.jaccard) else verdict(row.jaccard) for row in run.clusters.itertuples()}
    return RunDetails(run, stability)


def stores_version(store: Store) -> tuple:
    """What changes when any process writes the catalogue, a run or a report (which adds a run's
    evidence for k): the newest of each (three indexed reads), so that answers built from them
    can be kept until then."""
    return db.newest_ids(store.autocommit)


def overview(store: Store) -> Overview:
    """Catalogue size, the cleaning of every ingest, the current run and past runs (kept until
    an ingest or a run, of this process or another, changes them)."""
    version = stores_version(store)
    return store.cached(cache.overview(version), lambda: _overview(store))


def _overview(store: Store) -> Overview:
    counts = db.counts(store.db)
    ingests = db.read_table(store.db, db.ingest_runs).sort_values("started_at")
    cleaning = []
    for row in ingests.itertuples():
        report = json.loads(row.report)
        steps = tuple((s["name"], int(s["rows_after"])) for s in report.get("steps", []))
        cleaning.append(IngestCleaning(row.run_id, int(row.rows_read), int(row.rows_rejected), steps, report.get("outliers"),
                                       int(row.tracks_added), row.feature_set))
    past = tuple(runs(store))
    current = run_details(store, past[0].run_id) if past else None
    return Overview(int(counts["tracks"]), int(counts["rejected_rows"]), int(counts["track_duplicates"]), catalogue_features(store),
                    tuple(cleaning), current, past)


def cluster_map(store: Store, run_id: str | None = None) -> ClusterMap:
    """The map's figure (Plotly JSON; each point carries its track id) and its trustworthiness."""
    from songscope.viz import figures as F

    run = load_run(store, run_id, assignments=False)
    index = web_catalogue(store)
    _, points = map_points(store, run)
    labels = web_labels(store, run)
    fig = F.cluster_map(points, labels, index.catalogue, run.descriptions, title=f"Cluster map: run {run.run_id}")
    return ClusterMap(run.run_id, json.loads(fig.to_json()), float(points.trustworthiness), int(index.total), index.sampled,
                      track_ids=index.ids[points.rows], names=index.names[points.rows], x=points.xy[:, 0], y=points.xy[:, 1],
                      clusters=labels[points.rows])


def search_songs(store: Store, query: str, limit: int = 20) -> list[SongMatch]:
    """Songs whose "artist - title" contains every word of `query` (case-insensitive), most popular first."""
    words = [w for w in query.split() if w]
    if not words:
        return []
    songs = songs_of(store)
    shown = songs.search(words, limit)
    return [SongMatch(t, name, None if np.isnan(p) else int(p))
            for t, name, p in zip(songs.ids(shown), songs.labels(shown), songs.popularity[shown].tolist())]


def song(store: Store, track_id: str, run_id: str | None = None, neighbours: int = 10) -> SongDetails:
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
    playable = audio_files.of_track(store.db, track_id) is not None
    popularity = track.get("popularity")
    return SongDetails(track_id, songs.label(position), list(songs.all_artist_names([position])[0]),
                       None if popularity is None or pd.isna(popularity) else float(popularity), features,
                       cluster, run.descriptions.get(cluster), len(index.catalogue),
                       tuple(Neighbour(str(index.ids[r]), str(index.names[r]), round(float(d), 4), int(labels[r]))
                             for r, d in zip(nearest, nearest_distances)),
                       audio_url(track_id) if playable else None)


#: Media types of the audio files a library holds, by extension (the standard library's table lacks several).
AUDIO_MEDIA_TYPES = {".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
                     ".m4a": "audio/mp4", ".mp4": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav", ".aif": "audio/aiff",
                     ".aiff": "audio/aiff", ".aifc": "audio/aiff", ".wma": "audio/x-ms-wma"}


def audio_url(track_id: str) -> str:
    from urllib.parse import quote

    return f"/api/songs/{quote(track_id, safe='')}/audio"


def song_audio(store: Store, track_id: str) -> SongAudio:
    """The audio file of a song of the catalogue: never any other path (the web app serves the
    library through this alone)."""
    from pathlib import Path

    song_row(store, track_id)  # a song of the catalogue, or NotFound
    path = audio_files.of_track(store.db, track_id)
    if path is None:
        raise NotFound(f"song {track_id} was read from a table, not analysed from an audio file: there is nothing to play")
    if not Path(path).is_file():
        raise NotFound(f"the audio file of song {track_id} is no longer at {path}; ingest its folder again")
    return SongAudio(track_id, path, AUDIO_MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream"))


def cluster_details(store: Store, cluster: int, run_id: str | None = None, sample: int = 25) -> ClusterDetails:
    """One cluster: description, stability, top artists, a fixed-seed sample of songs, its profile
    radar (built once per run and cluster: a run never changes, and the songs drawn on are kept
    for the store's life)."""
    run = load_run(store, run_id, assignments=False)
    clusters = run.clusters.set_index("cluster")
    if cluster not in clusters.index:
        raise NotFound(f"run {run.run_id} has clusters 0..{int(clusters.index.max())}, not {cluster}")
    return store.cached(cache.cluster_details(run.run_id, cluster, sample), lambda: _cluster_details(store, run, clusters, cluster, sample))


def _cluster_details(store: Store, run: ClusterRun, clusters: pd.DataFrame, cluster: int, sample: int) -> ClusterDetails:
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
    jaccard = None if pd.isna(row["jaccard"]) else float(row["jaccard"])
    return ClusterDetails(run.run_id, cluster, int(row["size"]), str(row["description"]), row["top_artists"], jaccard,
                          None if jaccard is None else verdict(jaccard), tuple(SongRef(str(index.ids[r]), str(index.names[r])) for r in shown),
                          json.loads(radar.to_json()), index.sampled)


def save_list(store: Store, name: str, favourites: list[str], dislikes: list[str] | None = None, options: dict | None = None) -> FavouriteList:
    """Save a favourites list (track ids) under a new shareable id."""
    import uuid

    for track_id in list(favourites) + list(dislikes or []):
        song_row(store, track_id)
    if not favourites:
        raise UserError("a list needs at least one favourite song")
    list_id = uuid.uuid4().hex[:12]
    db.save_favourite_list(store.db, list_id, name or "my favourites", favourites, dislikes or [], options or {})
    return load_list(store, list_id)


def load_list(store: Store, list_id: str) -> FavouriteList:
    """A saved favourites list, with the songs' names."""
    found = db.load_favourite_list(store.db, list_id)
    if found is None:
        raise NotFound(f"no favourites list {list_id!r}")
    songs = songs_of(store)
    rows = {t: songs.row_of_id(t) for t in found["favourites"] + found["dislikes"]}
    names = {t: songs.label(r) for t, r in rows.items() if r is not None}
    return FavouriteList(**found, names=names)
