"""Recommendations, paths and playlists, and their offline evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from songscope.errors import UserError
from songscope.jsonable import dumps, jsonable
from songscope.service.common import NotFound, Progress, catalogue_space, load_run, say_to
from songscope.service.songs import map_points, songs_of, web_catalogue, web_labels
from songscope.store import cache, db, keys
from songscope.store.catalogue import size as catalogue_size
from songscope.store.catalogue import track_batches as catalogue_batches
from songscope.store.runs import ClusterRun, new_id
from songscope.store.store import Store


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

    def render(self, kind: str, base: Path | None = None) -> str:
        """The playlist as M3U, JSPF or CSV text (audio files named relative to `base`, the
        folder it is written to, where given)."""
        from songscope.recommend import playlists

        return playlists.write(self.songs, kind, title=self.title, base=base)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "songs": [song.__dict__ for song in self.songs]}


def recommendation_playlist(store: Store, outcome: RecommendOutcome) -> Playlist:
    """A recommendation list as a playlist, each song with its reason."""
    from songscope.recommend.playlists import PlaylistSong

    result = outcome.result
    songs = [PlaylistSong(item.track_id, item.shown_artists, item.track_name, item.reason()) for item in result.items]
    return Playlist(f"songscope: for {'; '.join(result.seeds)}"[:200], _with_files(store, songs))


def _with_files(store: Store, songs: list) -> list:
    """The songs, those analysed from audio files with their files and lengths: a player opens those."""
    import dataclasses

    from songscope.store import audio_files

    found = audio_files.located(store.db, [s.track_id for s in songs])
    return [dataclasses.replace(s, location=found[s.track_id][0], seconds=None if found[s.track_id][1] is None else round(found[s.track_id][1] / 1000))
            if s.track_id in found else s for s in songs]


def cluster_playlist(store: Store, cluster: int, run_id: str | None = None, n: int = 100) -> Playlist:
    """The `n` songs of a cluster nearest its centre, nearest first (among the web app's fixed-seed
    sample when the catalogue is larger than `WEB_SONGS`)."""
    from songscope.recommend.playlists import PlaylistSong

    run = load_run(store, run_id, assignments=False)
    clusters = run.clusters.set_index("cluster")
    if cluster not in clusters.index:
        raise NotFound(f"run {run.run_id} has clusters 0..{int(clusters.index.max())}, not {cluster}")
    if not 1 <= n <= MAX_PLAYLIST_SONGS:
        raise UserError(f"n = {n}: a playlist has 1 to {MAX_PLAYLIST_SONGS} songs")
    index = web_catalogue(store)
    X, _ = map_points(store, run)
    members = np.flatnonzero(web_labels(store, run) == cluster)
    centre = np.asarray(clusters.loc[cluster, "centre"], dtype=np.float64)
    difference = X[members].astype(np.float64) - centre
    order = members[np.argsort(np.einsum("ij,ij->i", difference, difference), kind="stable")[:n]]
    songs = songs_of(store)
    rows = songs.rows_of_ids([index.ids[r] for r in order])
    found = [int(r) for r in rows if r >= 0]
    description = str(clusters.loc[cluster, "description"])
    listed = [PlaylistSong(t, a, s, f"cluster {cluster}: {description}")
              for t, a, s in zip(songs.ids(found), (", ".join(names) for names in songs.all_artist_names(found)), songs.track_names(found))]
    return Playlist(f"songscope: run {run.run_id}, cluster {cluster} ({description})"[:200], _with_files(store, listed))


def path(store: Store, start: str, end: str, *, steps: int = 12, per_artist: int | None = 1, run_id: str | None = None):
    """A song path from `start` to `end` (`recommend.path.song_path`), with the clusters of
    `run_id` (default: the latest) in its steps' reasons."""
    from songscope.recommend.path import song_path

    model, _ = recommender(store, run_id)
    return song_path(model, start, end, steps=steps, per_artist=per_artist)


def path_playlist(store: Store, result) -> Playlist:
    """A song path as a playlist, each step with its reason."""
    from songscope.recommend.playlists import PlaylistSong

    songs = [PlaylistSong(step.track_id, step.shown_artists, step.track_name, reason) for step, reason in zip(result.steps, result.reasons())]
    return Playlist(f"songscope: from {result.start} to {result.end}"[:200], _with_files(store, songs))


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
        from songscope.service.names import catalogue_name_coordinates
        from songscope.service.tag_weights import catalogue_tag_weights

        # File by file from the lake: the recommender holds songs and vectors compactly, never
        # the catalogue as a frame (see `Recommender`), so it scales with the catalogue. Its
        # space is the standard one over the catalogue's feature set, fitted on the way.
        space = catalogue_space(store)
        batches = catalogue_batches(store, [*SONG_COLUMNS, *space.input_columns()])
        songs = songs_of(store)
        clusters = run.labels_of(store, songs.track_id) if run is not None else None
        descriptions = run.descriptions if run is not None else None
        from_tags = catalogue_tag_weights(store)
        name_context = from_tags.name_context(store.settings.name_context) if from_tags else store.settings.name_context
        distance = SongDistance(weights=from_tags.weights if from_tags else None, name_context=name_context)
        places = catalogue_name_coordinates(store) if distance.name_context else None
        return Recommender.from_batches(batches, space, rows=catalogue_size(store), clusters=clusters, descriptions=descriptions, songs=songs,
                                        facts=_song_facts(store, songs), distance=distance, name_places=places)

    key = run.run_id if run is not None else None
    return store.cached(cache.recommender(key), build), key


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
    request_id = new_id()
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

    last = store.cached(cache.REQUESTS_FORGOTTEN_AT, lambda: [float("-inf")])
    if clock.monotonic() - last[0] < FORGET_EVERY_S:
        return
    last[0] = clock.monotonic()
    db.forget_requests_before(store.db, datetime.now(UTC) - timedelta(days=store.settings.keep_requests_days))


def eval_recs(store: Store, sources: list[str] | None, *, liked: str | None = None, label: str = "playlist_genre", playlist: str | None = None,
              queries: int = 2_000, playlists: int | None = None, learn_weights: bool = False, target: str = "target", repeats: int = 20,
              seed: int = 0, features: str = "spotify", progress: Progress | None = None):
    """Offline evaluation of the recommendations (`recommend.offline.OfflineReport`) on songs
    described by the feature set `features`, kept in the lake for the report."""
    from songscope.clean import read_and_clean
    from songscope.recommend import offline
    from songscope.seed import seed_paths

    say = say_to(progress)
    if not sources and not liked:
        raise UserError("name a labelled catalogue (and/or --liked FILE) to evaluate on")
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
        liked=liked_tracks, background=background, target=target, repeats=repeats, seed=seed, features=features, progress=say,
    )
    report.saved = store.lake.write_bytes(keys.RECOMMENDATION_EVALUATION, dumps(report.to_dict()).encode())
    return report
