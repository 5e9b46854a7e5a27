"""The local backend of each stage: the whole table in this process (Arrow, pandas, numpy)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from songscope import schema
from songscope.backends.base import ASSIGN_CHUNK, REFERENCE_SONGS, CleanedSources, Clustering, IngestOptions, Placement, Progress, SongSample, place_part_names
from songscope.crashpoints import reach
from songscope.memory import release_freed_memory
from songscope.schema import SPOTIFY, FeatureSet

if TYPE_CHECKING:  # pragma: no cover
    from songscope.audio.analyze import AudioFile, Rejected
    from songscope.cluster.base import ClusterResult
    from songscope.features import FeatureSpace
    from songscope.profile import Profile
    from songscope.recommend.names import NameModel
    from songscope.store.runs import ClusterRun
    from songscope.store.store import Store


class LocalIngest:
    """Ingest and clean in memory (`ingest.read_sources`, then `clean.clean`)."""

    name = "local"

    def read_and_clean(self, sources: Iterable[str], options: IngestOptions, progress: Progress | None = None) -> CleanedSources:
        from songscope.backends.batches import read_and_clean_in_batches
        from songscope.ingest import expand_sources

        urls = expand_sources(sources, options.s3_endpoint)
        data, timings = read_and_clean_in_batches(
            urls, encoding=options.encoding, delimiter=options.delimiter, s3_endpoint=options.s3_endpoint,
            required=schema.required_columns(schema.feature_set(options.features)), outlier_rules=options.outlier_rules, loose=options.loose,
            progress=progress,
        )
        reach("ingest:cleaned")
        return CleanedSources(
            data=data, report=data.report, rows_read=data.rows_read, rows_valid=data.read.rows_valid, rows_rejected=len(data.read.rejected),
            first_rejected=data.read.first_rejected(), timings=timings, release=data.release,
        )


class LocalBackend:
    """Every stage in this process: the catalogue read whole from the lake (kept by the store)."""

    name = "local"

    def __init__(self, reason: str = "local backend, as asked"):
        self.reason = reason
        self._ingest = LocalIngest()

    def read_and_clean(self, sources: Iterable[str], options: IngestOptions, progress: Progress | None = None) -> CleanedSources:
        return self._ingest.read_and_clean(sources, options, progress)

    def analyze(self, files: list[AudioFile], options: IngestOptions, progress: Progress | None = None,
                unreadable: Iterable[Rejected] = ()) -> CleanedSources:
        from songscope.audio.analyze import analyse, progress_text
        from songscope.backends.base import cleaned_analysis

        started = time.perf_counter()

        def tell(done: int, total: int) -> None:
            if progress:
                progress(progress_text(done, total, time.perf_counter() - started))

        results = list(analyse(files, workers=options.workers, progress=tell)) + list(unreadable)
        return cleaned_analysis(results, options, {"analyze": time.perf_counter() - started}, progress)

    def fit_space(self, store: Store, space: FeatureSpace) -> FeatureSpace:
        return space.fit(store.catalogue())

    def sample(self, store: Store, rows: int, seed: int) -> SongSample:
        catalogue = store.catalogue()  # the local backend holds every song: evidence on all of them
        return SongSample(catalogue, len(catalogue))

    def cluster(self, store: Store, space: FeatureSpace, algorithm: str, k: int, *, seed: int, params: dict | None = None,
                previous: ClusterRun | None = None) -> Clustering:
        from songscope.cluster.local import LocalAlgorithm
        from songscope.evaluate.internal import internal_indices

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        catalogue = store.catalogue()
        X = space.transform(catalogue)
        timings["features_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = LocalAlgorithm(algorithm, n_clusters=k, random_state=seed, params=params or {}).fit(X)
        timings["cluster_s"] = time.perf_counter() - t0
        identities = None
        if previous is not None:
            before = previous.labels_of(store, pa.array(catalogue["track_id"].to_numpy(dtype=object), type=pa.string()))
            result, identities = continued(result, before, previous.k)
        t0 = time.perf_counter()
        metrics = internal_indices(X, result.labels, seed=seed)
        timings["metrics_s"] = time.perf_counter() - t0
        return Clustering(result, catalogue, X, metrics, len(catalogue), identities=identities, timings=timings)

    def assign(self, store: Store, run: ClusterRun, centres: np.ndarray, numbers: np.ndarray, *, seed: int) -> Placement:
        from songscope.cluster.base import nearest_centres
        from songscope.evaluate.drift import FitReference
        from songscope.features import FeatureSpace
        from songscope.store.catalogue import rows_at, track_batches

        space = FeatureSpace.from_dict(run.space)
        columns = space.input_columns()  # the circular and binary features it encodes too
        centre_of = {int(c): i for i, c in enumerate(numbers)}
        ids = pa.chunked_array([chunk for part in track_batches(store, ["track_id"]) for chunk in part.column("track_id").chunks],
                               type=pa.string()).combine_chunks()
        labels = run.labels_of(store, ids, missing=-2)
        new_rows, fitted_rows = np.flatnonzero(labels == -2), np.flatnonzero(labels != -2)
        rng = np.random.default_rng(seed)
        reference_rows = np.sort(rng.choice(fitted_rows, min(REFERENCE_SONGS, len(fitted_rows)), replace=False))
        own = labels[reference_rows]
        clustered = np.flatnonzero(own >= 0)
        X = space.transform(rows_at(store, reference_rows[clustered], columns))
        own_centres = centres[[centre_of[int(c)] for c in own[clustered]]]
        reference = FitReference.measure(np.sqrt(((X - own_centres) ** 2).sum(axis=1)), own[clustered])
        assigned: list[pd.DataFrame] = []
        for start in range(0, len(new_rows), ASSIGN_CHUNK):
            chunk = new_rows[start : start + ASSIGN_CHUNK]
            nearest, distance = nearest_centres(space.transform(rows_at(store, chunk, columns)), centres)
            assigned.append(pd.DataFrame({"track_id": ids.take(pa.array(chunk)).to_pylist(), "cluster": numbers[nearest],
                                          "distance": distance}))
        frame = pd.concat(assigned, ignore_index=True) if assigned else pd.DataFrame({"track_id": [], "cluster": [], "distance": []})
        poor = ~reference.fits(frame["distance"].to_numpy(), frame["cluster"].to_numpy()) if len(frame) else np.empty(0, dtype=bool)
        return Placement(reference, len(frame), len(fitted_rows), float(frame["distance"].median()) if len(frame) else None,
                         {int(c): int(n) for c, n in frame["cluster"].value_counts().items()},
                         {int(c): int(n) for c, n in frame.loc[poor, "cluster"].value_counts().items()}, lambda: assigned)

    def profile(self, store: Store, *, feature_set: FeatureSet = SPOTIFY, clean_report=None, rejected: int | None = None,
                figures: bool = True) -> Profile:
        from songscope.profile import profile

        return profile(store.catalogue(), clean_report=clean_report, rejected=rejected, figures=figures, feature_set=feature_set)

    def place_names(self, store: Store, model: NameModel, part_keys: list[str], progress: Progress | None = None) -> int:
        placed = 0
        for i, key in enumerate(part_keys):
            if progress:
                progress(f"placing the names of catalogue file {i + 1:,} of {len(part_keys):,}")
            placed += len(place_part_names(store.lake, model, key))
            release_freed_memory()  # one file's names and their projections (about 400 MB for 250,000 songs)
        return placed


def continued(result: ClusterResult, before: np.ndarray, previous_k: int) -> tuple[ClusterResult, list[dict]]:
    """`result` with its clusters numbered as the previous run's clusters they continue, matched by
    their members (`evaluate.matching`; `before` is each song's previous cluster), so a re-clustered
    catalogue keeps its cluster 3 where it can; and what continues what. A new result: `result` is unchanged."""
    from songscope.evaluate.matching import continuing_numbers

    numbers, identities = continuing_numbers(before, result.labels, previous_k, result.n_clusters)
    clustered = result.labels >= 0
    labels = result.labels.copy()
    labels[clustered] = numbers[labels[clustered]]
    predictor = result.predictor
    if predictor is not None:
        def predictor(points, predict=result.predictor):
            found = np.asarray(predict(points), dtype=np.int64)
            return np.where(found >= 0, numbers[np.maximum(found, 0)], found)

    return dataclasses.replace(result, labels=labels, centres=result.centres[np.argsort(numbers)], predictor=predictor), identities
