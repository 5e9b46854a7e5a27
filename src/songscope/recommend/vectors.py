"""Building the recommendation space: songs' feature vectors from batches, with the artist's (and
album's) typical sound and the names' coordinates beside them, and each song's cluster."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from songscope.errors import UserError
from songscope.recommend.distance import SongDistance, artist_means
from songscope.recommend.names import NAME_DIMENSIONS
from songscope.recommend.songs import SongTable

CHUNK = 1 << 18  # rows transformed at a time, bounding the temporary arrays


def stacked(parts: Iterable[np.ndarray], rows: int | None) -> np.ndarray:
    """Batches of rows into one float32 matrix with room for the artist context (twice the
    columns): straight into place when the row count is known."""
    X = None
    filled = 0
    chunks = []
    for part in parts:
        if rows is None:
            chunks.append(part.astype(np.float32))
            continue
        if X is None:
            X = np.empty((rows, 2 * part.shape[1]), dtype=np.float32)
        if filled + len(part) > rows:
            raise ValueError(f"the catalogue has more songs than the {rows:,} expected")
        X[filled : filled + len(part), : part.shape[1]] = part
        filled += len(part)
    if rows is None:
        if not chunks:
            raise UserError("no songs to recommend from: the catalogue is empty")
        d = chunks[0].shape[1]
        X = np.empty((sum(len(c) for c in chunks), 2 * d), dtype=np.float32)
        for c in chunks:
            X[filled : filled + len(c), :d] = c
            filled += len(c)
    if X is None:
        raise UserError("no songs to recommend from: the catalogue is empty")
    if filled != len(X):
        raise ValueError(f"the catalogue has {filled:,} songs, not the {len(X):,} expected")
    return X


def artists_mean(values: np.ndarray, songs: SongTable, distance: SongDistance) -> np.ndarray:
    """Each song's mean of `values` over its artist's songs (float32, one row per song): over
    each of its artists' songs, then averaged, where songs have several and `distance` counts
    every artist. What the name context places a song by: its artists' names as a whole."""
    if songs.several_artists and distance.every_artist:
        starts, codes = songs.artist_lists()
        return artist_means(values, codes, starts).astype(np.float32)
    return _per_artist_means(values, songs.artist).astype(np.float32)[songs.artist]


def _per_artist_means(values: np.ndarray, artists: np.ndarray) -> np.ndarray:
    """Each artist's mean of `values`' columns (float64, one row per artist code)."""
    counts = np.maximum(np.bincount(artists), 1)
    return np.column_stack([np.bincount(artists, weights=values[:, j], minlength=len(counts)) for j in range(values.shape[1])]) / counts[:, None]


def with_artist_context(X: np.ndarray, d: int, songs: SongTable, distance: SongDistance) -> np.ndarray:
    """Fill columns d..2d of `X` with each song's artist mean of columns 0..d, times the artist
    context's weight (the same as `SongDistance.embed`, in place, in chunks where songs have one
    artist each; a column at a time where they have several, each song the mean of its artists')."""
    weight = distance.artist_context
    if songs.several_artists and distance.every_artist:
        starts, codes = songs.artist_lists()
        for j in range(d):
            X[:, d + j] = weight * artist_means(X[:, j : j + 1], codes, starts)[:, 0]
        return X
    artists = songs.artist
    means = (weight * _per_artist_means(X[:, :d], artists)).astype(np.float32)
    for start in range(0, len(X), CHUNK):
        X[start : start + CHUNK, d:] = means[artists[start : start + CHUNK]]
    return X


#: Lists the inverted-file index probes per query. The names widen the space (20 to 28 columns),
#: and at 1M songs recall@10 then fell to 0.987 at 16 lists; 24 gave 0.996 (bench/recommend.py).
N_PROBE = 16
NAMES_N_PROBE = 24


def context_blocks(d: int, width: int, distance: SongDistance) -> dict[str, slice]:
    """Where each context sits among a song's `width` columns beyond its `d` features: the
    artist's mean, then the album's (when the songs had albums), then the names' coordinates."""
    blocks, at = {}, d
    names = NAME_DIMENSIONS if distance.name_context else 0
    if distance.artist_context:
        blocks["artist sound"], at = slice(at, at + d), at + d
    if width - at - names >= d:
        blocks["album sound"], at = slice(at, at + d), at + d
    if names:
        blocks["names"] = slice(at, at + names)
    return blocks


#: Columns that name a song's album, most specific first (an id, else the name with the artist).
ALBUM_COLUMNS = ("track_album_id", "album_id", "track_album_name", "album_name", "album")


def album_codes(tracks: pd.DataFrame) -> np.ndarray | None:
    """Each song's album as an integer code, or None when the catalogue names no albums. A
    song without an album is its own album (its context is then its own features)."""
    column = next((c for c in ALBUM_COLUMNS if c in tracks and tracks[c].notna().any()), None)
    if column is None:
        return None
    key = tracks[column].astype("string")
    if "id" not in column:  # "Greatest Hits" by two artists are two albums
        key = tracks["artist_name"].astype("string") + "\x1f" + key
    key = key.fillna(pd.Series([f"\x00{i}" for i in range(len(tracks))], index=tracks.index, dtype="string"))
    return pd.factorize(key)[0].astype(np.int64)


def aligned_clusters(songs: SongTable, clusters: pd.Series | np.ndarray) -> np.ndarray:
    """Each song's cluster (-1: not in the run): `clusters` maps track ids to clusters, or is
    already one cluster per song in the songs' order."""
    if not isinstance(clusters, pd.Series):
        if len(clusters) != len(songs):
            raise ValueError(f"{len(clusters)} clusters for {len(songs)} songs")
        return np.asarray(clusters, dtype=np.int32)
    labels = clusters.reindex(songs.track_id.to_pandas()).fillna(-1)
    return labels.to_numpy(dtype=np.int32)
