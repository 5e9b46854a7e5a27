"""The songs the service keeps per store for lookups, the web app's pages and its map (read file by file from the lake)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from songscope.artists import shown
from songscope.service.common import NotFound, keep_up_with_the_catalogue
from songscope.store import cache
from songscope.store.catalogue import track_batches as catalogue_batches
from songscope.store.runs import ClusterRun
from songscope.store.store import Store

#: Up to this many songs the web app's map, song pages and cluster pages use every song; above,
#: a fixed-seed sample of this many, read file by file (a catalogue of millions never loads whole).
WEB_SONGS = 200_000


class WebCatalogue:
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


def web_catalogue(store: Store) -> WebCatalogue:
    from songscope.store.catalogue import sample

    keep_up_with_the_catalogue(store)
    return store.cached(cache.WEB_CATALOGUE, lambda: WebCatalogue(*sample(store, WEB_SONGS, seed=store.settings.seed)))


def web_labels(store: Store, run: ClusterRun) -> np.ndarray:
    """The run's cluster of each song the web app draws on (kept per run)."""
    return store.cached(cache.web_labels(run.run_id), lambda: run.labels_of(store, web_catalogue(store).ids))


def songs_of(store: Store):
    """The catalogue's songs for lookups by id and name (`recommend.songs.SongTable`), read
    file by file from the lake; one per store, shared by the recommender."""
    from songscope.recommend.songs import SONG_COLUMNS, SongTable

    keep_up_with_the_catalogue(store)
    return store.cached(cache.SONGS, lambda: SongTable.from_batches(catalogue_batches(store, SONG_COLUMNS)))


def song_row(store: Store, track_id: str) -> int:
    """The catalogue row of `track_id`; `NotFound` says how to find a song instead."""
    row = songs_of(store).row_of_id(track_id)
    if row is None:
        raise NotFound(f"no song with track id {track_id!r}; search by name: /api/songs?q=...")
    return row


def map_points(store: Store, run: ClusterRun):
    """The run's feature matrix over the catalogue and its 2-D map (kept per run)."""
    from songscope.features import FeatureSpace
    from songscope.viz import figures as F

    def build():
        X = FeatureSpace.from_dict(run.space).transform(web_catalogue(store).catalogue, dtype=np.float32)
        return X, F.project(X, seed=store.settings.seed)

    return store.cached(cache.map_points(run.run_id), build)


def web_index(store: Store, run: ClusterRun):
    """The nearest-neighbour index (`recommend.index.ExactIndex`) over the run's points of the
    songs the web app draws on (kept per run): the song page's nearest songs."""
    from songscope.recommend.index import ExactIndex

    return store.cached(cache.web_index(run.run_id), lambda: ExactIndex().fit(map_points(store, run)[0]))
