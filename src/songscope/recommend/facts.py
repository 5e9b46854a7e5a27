"""What the recommender's filters read beyond names: each song's raw feature values (for
``--where``) and its label columns (genres, ``explicit``), loaded on first use and kept.

The recommender holds its songs in the metric's space, where a duration is a scaled logarithm
and a key a point on a circle; a filter reads the values as the catalogue has them. They are
loaded only when a request first filters on them (a float32 column is 4 MB per million songs),
by a loader the caller supplies (the service reads the lake and the database; a frame in memory
gives its own columns).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from songscope.schema import NUMERIC_COLUMNS

#: The columns `--where` may name: every numeric column of the schema.
WHERE_COLUMNS: tuple[str, ...] = tuple(c.name for c in NUMERIC_COLUMNS)

#: How a catalogue writes that a song is explicit (compared in lower case).
EXPLICIT_VALUES = frozenset({"true", "1", "yes", "y", "t", "explicit"})


#: Several genres in one cell: songscope joins them with "|", the Spotify exporters with ",".
_GENRE_SEPARATORS = re.compile(r"[|,]")


def is_genre_column(name: str) -> bool:
    """Whether a label column holds genres (genre, playlist_genre, track_genre, ...)."""
    return "genre" in name.lower()


class SongFacts:
    """Raw feature values and label columns per song (catalogue order), loaded once on demand.

    `load_features()` returns {column: values} for `WHERE_COLUMNS` the catalogue has;
    `load_labels()` returns {label column: Arrow strings, null where a song has none} for the
    label columns filters use (genre columns and ``explicit``); `label_names` lists the
    catalogue's label columns without loading them.
    """

    def __init__(self, load_features: Callable[[], dict[str, np.ndarray]], load_labels: Callable[[], dict[str, pa.Array]],
                 label_names: Iterable[str] = ()):
        self._load_features = load_features
        self._load_labels = load_labels
        self.label_names = tuple(label_names)
        self._features: dict[str, np.ndarray] | None = None
        self._labels: dict[str, pa.Array] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_frame(cls, tracks: pd.DataFrame) -> SongFacts:
        """From a catalogue frame in memory."""
        labels = [c for c in tracks.columns if is_genre_column(c) or c == "explicit"]
        return cls(lambda: {c: tracks[c].to_numpy(dtype=np.float32, na_value=np.nan) for c in WHERE_COLUMNS if c in tracks},
                   lambda: {c: pa.array(tracks[c].astype("string").to_numpy(na_value=None), type=pa.string()) for c in labels}, labels)

    def features(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._features is None:
                self._features = {name: np.asarray(values, dtype=np.float32) for name, values in self._load_features().items()}
            return self._features

    def labels(self) -> dict[str, pa.Array]:
        with self._lock:
            if self._labels is None:
                self._labels = self._load_labels()
            return self._labels

    def genre_columns(self) -> list[str]:
        return [name for name in self.label_names if is_genre_column(name)]

    def carrying(self, rows: np.ndarray, excluded: Iterable[str]) -> np.ndarray:
        """Which of `rows` carry any of the `excluded` genres (any case) in any genre column
        (cells may hold several, joined with ``|`` or ``,``)."""
        wanted = {value.strip().lower() for value in excluded}
        found = np.zeros(len(rows), dtype=bool)
        labels = self.labels()
        taken = pa.array(np.asarray(rows, dtype=np.int64))
        for name in self.genre_columns():
            values = labels[name].take(taken).to_pylist()
            found |= np.array([v is not None and not wanted.isdisjoint(p.strip().lower() for p in _GENRE_SEPARATORS.split(v)) for v in values], dtype=bool)
        return found

    def explicit(self, rows: np.ndarray) -> np.ndarray:
        """Which of `rows` the catalogue marks explicit."""
        values = self.labels()["explicit"].take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()
        return np.array([v is not None and v.strip().lower() in EXPLICIT_VALUES for v in values], dtype=bool)
