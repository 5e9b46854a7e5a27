"""What the web app shows, as typed results: each a frozen dataclass whose ``to_dict()`` is the
JSON the API answers (written by `songscope.jsonable`). `browse` builds them; the web shell only
renders them (the service never imports the shell)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from songscope.jsonable import jsonable


@dataclass(frozen=True)
class SongRef:
    """A song as a link: its id and "artist - title"."""

    track_id: str
    name: str


@dataclass(frozen=True)
class SongMatch:
    """A search hit, with its popularity (None when the catalogue has none)."""

    track_id: str
    name: str
    popularity: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunSummary:
    """A run in the list of runs."""

    run_id: str
    created_at: Any
    engine: str
    algorithm: str
    k: int
    songs: int
    silhouette: float | None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class RunDetails:
    """One run (`store.runs.ClusterRun`, without its per-song assignments) and each cluster's
    stability in words (None where it was not measured)."""

    run: Any  # store.runs.ClusterRun
    stability: dict[int, str | None]

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def to_dict(self) -> dict[str, Any]:
        summary = self.run.to_dict()
        summary["clusters"] = [row | {"stability": self.stability.get(row["cluster"])} for row in summary["clusters"]]
        return summary


@dataclass(frozen=True)
class IngestCleaning:
    """What one ingest read, rejected and kept, step by step."""

    ingest: str
    rows_read: int
    rejected: int
    steps: tuple[tuple[str, int], ...]  # (step, rows after it)
    outliers: Any
    tracks_added: int
    feature_set: str

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self) | {"steps": [{"step": step, "rows_after": rows} for step, rows in self.steps]})


@dataclass(frozen=True)
class Overview:
    """The catalogue's size and feature set, the cleaning of every ingest, the current run and past runs."""

    songs: int
    rejected_rows: int
    duplicates: int
    feature_set: Any  # schema.FeatureSet
    cleaning: tuple[IngestCleaning, ...]
    current_run: RunDetails | None
    runs: tuple[RunSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        features = [{"name": c.name, "transform": c.transform, "unit": c.unit, "high": c.high, "low": c.low} for c in self.feature_set.columns]
        return jsonable({"catalogue": {"songs": self.songs, "rejected_rows": self.rejected_rows, "duplicates": self.duplicates,
                                       "feature_set": {"name": self.feature_set.name, "features": features}},
                         "cleaning": [c.to_dict() for c in self.cleaning],
                         "current_run": None if self.current_run is None else self.current_run.to_dict(),
                         "runs": [r.to_dict() for r in self.runs]})


@dataclass(frozen=True)
class ClusterMap:
    """The map of a run: its Plotly figure, how faithful the 2-D layout is (trustworthiness),
    and its points (drawn from a fixed-seed sample of that many of the `songs` when `drawn_from_sample` is set), column
    by column, as the page's script reads them: point i is the song `track_ids[i]` at
    (`x[i]`, `y[i]`) in cluster `clusters[i]`."""

    run_id: str
    figure: dict[str, Any]
    trustworthiness: float
    songs: int
    drawn_from_sample: int | None  # the sample's size, None when every song is drawn
    track_ids: np.ndarray
    names: np.ndarray
    x: np.ndarray
    y: np.ndarray
    clusters: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        # Plain values already (the figure is Plotly's own JSON): not walked again in Python.
        return {"run_id": self.run_id, "figure": self.figure, "trustworthiness": float(self.trustworthiness), "songs": int(self.songs),
                "drawn_from_sample": self.drawn_from_sample,
                "points": {"track_id": self.track_ids.tolist(), "x": self.x.round(4).tolist(), "y": self.y.round(4).tolist(),
                           "cluster": self.clusters.tolist(), "name": self.names.tolist()}}


@dataclass(frozen=True)
class Neighbour:
    """A song near another, at `distance` in the run's space."""

    track_id: str
    name: str
    distance: float
    cluster: int


@dataclass(frozen=True)
class SongDetails:
    """One song: its features, its cluster and its nearest songs (found among `nearest_among`)."""

    track_id: str
    name: str
    artists: list[str]
    popularity: float | None
    features: dict[str, Any]
    cluster: int
    cluster_description: str | None
    nearest_among: int
    nearest: tuple[Neighbour, ...]
    #: Where the web app plays the song (its audio file, `browse.song_audio`); None for a song read from a table.
    audio: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class ClusterDetails:
    """One cluster of a run: its size, words, stability, top artists, a sample of its songs and its radar figure."""

    run_id: str
    cluster: int
    size: int
    description: str
    top_artists: Any
    jaccard: float | None
    stability: str | None
    sample: tuple[SongRef, ...]
    figure: dict[str, Any]
    drawn_from_sample: int | None  # the sample's size, None when every song is drawn

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class FavouriteList:
    """A saved favourites list, with the names of its songs."""

    list_id: str
    name: str
    created_at: str | None
    favourites: list[str]
    dislikes: list[str]
    options: dict[str, Any]
    names: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class SongAudio:
    """A song's audio file, as the web app serves it."""

    track_id: str
    path: str
    media_type: str
