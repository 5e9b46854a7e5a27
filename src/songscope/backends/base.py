"""The Backend protocol: one method per stage, and what each returns.

A backend (local or Spark) is chosen once per job (`backends.choice`, from ``--engine
local|spark|auto`` and the catalogue's size) and runs every stage of it; the service never asks
which kind it holds. Every backend gives the same answer on the same input, which one contract
suite checks (tests/backends/). A result is made once and never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from songscope import schema
from songscope.clean import CleanReport
from songscope.errors import UserError
from songscope.schema import SPOTIFY, FeatureSet
from songscope.store.clean_ingest import CleanIngest

if TYPE_CHECKING:  # pragma: no cover
    from songscope.audio.analyze import AudioFile, Rejected
    from songscope.cluster.base import ClusterResult
    from songscope.evaluate.drift import FitReference
    from songscope.features import FeatureSpace
    from songscope.profile import Profile
    from songscope.recommend.names import NameModel
    from songscope.store.lake import Lake
    from songscope.store.runs import ClusterRun
    from songscope.store.store import Store

Progress = Callable[[str], None]


@dataclass
class CleanedSources:
    """Sources read, validated and cleaned, ready for the stores (`data` streams it in chunks)."""

    data: CleanIngest
    report: CleanReport
    rows_read: int
    rows_valid: int
    rows_rejected: int
    #: The first rejected row (source, line, reason), to show; None when every row was valid.
    first_rejected: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: Called once the stores hold the data (the Spark backend removes its staged files).
    release: Callable[[], None] = field(default=lambda: None, repr=False)
    #: The audio files the songs were analysed from (`store.audio_files.record`'s rows), when
    #: they were; None for table sources.
    audio_files: pd.DataFrame | None = None


@dataclass(frozen=True)
class IngestOptions:
    """How to read and clean: the CSV encoding and delimiter, the outlier rules, whether to remove
    loose near duplicates, and the S3 endpoint of ``s3://`` sources."""

    encoding: str = "utf-8"
    delimiter: str = ","
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES
    loose: bool = False
    s3_endpoint: str | None = None
    #: The feature set the sources' songs are described by (`schema.FEATURE_SETS`): a table must have its columns.
    features: str = "spotify"
    #: Processes analysing audio files at once on this machine (None: one per core).
    workers: int | None = None


@dataclass(frozen=True)
class SongSample:
    """The songs a stage computes its evidence on: every song on the local backend, a fixed-seed
    sample (by track id) on Spark."""

    songs: pd.DataFrame
    #: Songs in the catalogue.
    total: int
    #: The sample's size when `songs` is one (a Spark backend's), else None.
    sample_n: int | None = None


@dataclass(frozen=True)
class Clustering:
    """A clustering of the catalogue, with what the service needs to evaluate and store it.

    `result.labels` are the clusters of `songs` (every song, or a Spark backend's sample), in
    their order; `points` are `songs` in the fitted feature space."""

    result: ClusterResult
    songs: pd.DataFrame
    points: np.ndarray
    #: Internal indices in the shared space: exact over every song (the silhouette of a sample on Spark).
    metrics: dict[str, Any]
    #: Songs in the catalogue.
    total: int
    #: Songs per cluster over every song, when `songs` is a sample; None when it is every song.
    sizes: np.ndarray | None = None
    #: What continues what, when the clusters were numbered as the previous run's.
    identities: list[dict] | None = None
    #: Every song's (track_id, cluster) in chunks, when `songs` is a sample; None: `songs` and their labels are all.
    assignment_chunks: Callable[[], Iterable[pd.DataFrame]] | None = field(default=None, repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    #: Called once the stores hold the run (the Spark backend removes its scratch folder).
    release: Callable[[], None] = field(default=lambda: None, repr=False)

    @property
    def sample_n(self) -> int | None:
        return None if self.sizes is None else int(len(self.songs))


@dataclass(frozen=True)
class Placement:
    """Songs that arrived after a run, placed in its clusters before they are stored: the drift's
    figures, and the songs themselves as chunks of (track_id, cluster, distance)."""

    reference: FitReference
    new_songs: int
    fitted_songs: int
    median_distance_new: float | None
    new_per_cluster: dict[int, int]
    poor_per_cluster: dict[int, int]
    chunks: Callable[[], Iterable[pd.DataFrame]]
    release: Callable[[], None] = field(default=lambda: None, repr=False)


#: Songs a Spark backend brings to the driver for what needs songs side by side (the silhouette,
#: the cluster profiles, stability, the k sweep, the report).
SAMPLE_ROWS = 50_000

#: Fitted songs the drift's reference is measured on (a fixed-seed sample), and new songs placed at a time.
REFERENCE_SONGS = 5_000
ASSIGN_CHUNK = 100_000


class RunWithoutLakeClusters(UserError, LookupError):
    """A run stored before the lake kept its clusters: a Spark backend cannot read them."""


class Backend(Protocol):
    """Runs every stage of a job, on one machine (`backends.local`) or on Spark (`backends.spark`)."""

    #: "local" or "spark", as runs record it.
    name: str
    #: Why this backend runs the job (shown to the user, stored with a clustering run).
    reason: str

    def read_and_clean(self, sources: Iterable[str], options: IngestOptions, progress: Progress | None = None) -> CleanedSources:
        """Read CSV and Parquet sources (paths, folders, globs, ``file://``, ``s3://``), validate them
        against `songscope.schema` (each rejected row kept with its source, line and reason), and
        clean them by the rules of `songscope.clean`."""
        ...

    def analyze(self, files: list[AudioFile], options: IngestOptions, progress: Progress | None = None,
                unreadable: Iterable[Rejected] = ()) -> CleanedSources:
        """Describe audio files (`audio.analyze`) by the `audio` feature set, validate the rows as
        any source's (a file that cannot be described is a rejected row with its reason, as are the
        `unreadable` ones found but not readable) and clean them; `audio_files` lists the files described."""
        ...

    def fit_space(self, store: Store, space: FeatureSpace) -> FeatureSpace:
        """`space` fitted on the stored catalogue."""
        ...

    def sample(self, store: Store, rows: int, seed: int) -> SongSample:
        """The songs evidence is computed on: at most about `rows` of the catalogue on Spark, every song locally."""
        ...

    def cluster(self, store: Store, space: FeatureSpace, algorithm: str, k: int, *, seed: int, params: dict | None = None,
                previous: ClusterRun | None = None) -> Clustering:
        """Cluster the catalogue in the fitted `space`, numbered as `previous`'s clusters where they continue them."""
        ...

    def assign(self, store: Store, run: ClusterRun, centres: np.ndarray, numbers: np.ndarray, *, seed: int) -> Placement:
        """Place the songs that arrived after `run` in its nearest clusters (`centres`, numbered `numbers`)."""
        ...

    def profile(self, store: Store, *, feature_set: FeatureSet = SPOTIFY, clean_report=None, rejected: int | None = None,
                figures: bool = True) -> Profile:
        """Describe the stored catalogue (`profile.profile`), its songs by `feature_set`."""
        ...

    def place_names(self, store: Store, model: NameModel, part_keys: list[str], progress: Progress | None = None) -> int:
        """Place the songs of the catalogue files `part_keys` by the name `model` and keep their
        coordinates in the lake beside them (`place_part_names`); returns how many songs."""
        ...


def place_part_names(lake: Lake, model: NameModel, part_key: str) -> np.ndarray:
    """The name coordinates of the songs of one catalogue file (`part_key`), placed by `model`
    and written to the lake (`keep_part_names`): what each backend runs per file, the local one
    in this process and Spark's on its executors."""
    found = part_name_coordinates(lake, model, part_key)
    keep_part_names(lake, model, part_key, found)
    return found


#: Songs whose names are placed at a time: their texts, lowered copies and offsets are about
#: 250 bytes a song, 60 MB more at the peak for a whole file of 250,000.
PLACE_ROWS = 65_536


def part_name_coordinates(lake: Lake, model: NameModel, part_key: str) -> np.ndarray:
    """The name coordinates of the songs of one catalogue file (`part_key`), placed by `model`; nothing is written."""
    from songscope.recommend.names import NAME_COLUMNS, name_text_array
    from songscope.store.catalogue import read_part

    names = read_part(lake, part_key, NAME_COLUMNS)
    if names.num_rows <= PLACE_ROWS:
        return model.project(name_text_array(names))
    return np.concatenate([model.project(name_text_array(names.slice(start, PLACE_ROWS))) for start in range(0, names.num_rows, PLACE_ROWS)])


def keep_part_names(lake: Lake, model: NameModel, part_key: str, coordinates: np.ndarray) -> None:
    """Write one catalogue file's name coordinates (`part_name_coordinates`) beside it (`keys.name_coordinates`)."""
    import pyarrow as pa

    from songscope.store import keys

    lake.write_table(keys.name_coordinates(model.version, part_key),
                     pa.table({f"name_{j + 1}": coordinates[:, j] for j in range(model.dimensions)}), continuous=True)


def cleaned_analysis(results: list, options: IngestOptions, timings: dict[str, float], progress: Progress | None = None) -> CleanedSources:
    """Analysed audio files (`audio.analyze` results, from either backend) validated and cleaned,
    as one ingest's sources: what `Backend.analyze` returns."""
    import time

    from songscope.clean import clean
    from songscope.ingest.audio import file_rows, read_analysed
    from songscope.store.clean_ingest import InMemoryIngest

    started = time.perf_counter()
    read = read_analysed(results, schema.feature_set(options.features))
    if progress:
        progress(f"cleaning {read.rows_valid:,} analysed songs")
    cleaned = clean(read.frame, outlier_rules=options.outlier_rules, loose=options.loose)
    timings = timings | {"clean": time.perf_counter() - started}
    return CleanedSources(data=InMemoryIngest(read, cleaned), report=cleaned.report, rows_read=read.rows_read, rows_valid=read.rows_valid,
                          rows_rejected=len(read.rejected), first_rejected=read.first_rejected(), timings=timings,
                          audio_files=file_rows(results))
