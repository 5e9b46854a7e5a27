"""The Spark backend: every stage as Spark jobs, and nothing the size of the catalogue in the driver.

The catalogue is read by the executors from the lake's files (`catalogue.read_catalogue`); what
comes back to this process is aggregates, a fixed-seed sample of at most `base.SAMPLE_ROWS`
songs, and files in a scratch folder that the stores read one at a time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from songscope.backends.base import REFERENCE_SONGS, CleanedSources, Clustering, IngestOptions, Placement, Progress, RunWithoutLakeClusters, SongSample
from songscope.schema import SPOTIFY, FeatureSet

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from songscope.audio.analyze import AudioFile, Rejected
    from songscope.config import Settings
    from songscope.features import FeatureSpace
    from songscope.profile import Profile
    from songscope.recommend.names import NameModel
    from songscope.store.runs import ClusterRun
    from songscope.store.store import Store


class SparkBackend:
    """Every stage on the Spark master of the settings (``local[*]``, ``spark://``, ``sc://``)."""

    name = "spark"

    def __init__(self, settings: Settings, reason: str = "spark backend, as asked"):
        self.settings = settings
        self.reason = reason

    def _catalogue(self, store: Store) -> DataFrame:
        """The stored catalogue as a Spark DataFrame, read by the executors from the lake's files."""
        from songscope.backends.spark.catalogue import read_catalogue
        from songscope.backends.spark.session import spark_session
        from songscope.store.catalogue import file_uris, label_columns

        return read_catalogue(spark_session(self.settings.spark_master), file_uris(store), label_columns(store), self.settings.s3_endpoint)

    def read_and_clean(self, sources: Iterable[str], options: IngestOptions, progress: Progress | None = None) -> CleanedSources:
        from songscope.backends.spark.ingest import SparkIngest

        return SparkIngest(master=self.settings.spark_master, scratch=self.settings.spark_scratch).read_and_clean(sources, options, progress)

    def analyze(self, files: list[AudioFile], options: IngestOptions, progress: Progress | None = None,
                unreadable: Iterable[Rejected] = ()) -> CleanedSources:
        from songscope.backends.base import cleaned_analysis
        from songscope.backends.spark.analyze import analyse_on_spark
        from songscope.backends.spark.session import spark_session

        started = time.perf_counter()
        if progress:
            progress(f"analysing {len(files):,} audio files on Spark ({self.settings.spark_master})")
        results = analyse_on_spark(spark_session(self.settings.spark_master), files) + list(unreadable)
        return cleaned_analysis(results, options, {"analyze": time.perf_counter() - started}, progress)

    def fit_space(self, store: Store, space: FeatureSpace) -> FeatureSpace:
        from songscope.backends.spark.cluster import fit_space

        return fit_space(self._catalogue(store), space)

    def sample(self, store: Store, rows: int, seed: int) -> SongSample:
        from songscope.backends.spark.cluster import sample_songs

        songs, total = sample_songs(self._catalogue(store), rows, seed)
        return SongSample(songs, total, len(songs))

    def cluster(self, store: Store, space: FeatureSpace, algorithm: str, k: int, *, seed: int, params: dict | None = None,
                previous: ClusterRun | None = None) -> Clustering:
        from songscope.backends.base import SAMPLE_ROWS  # read at each call: tests lower it
        from songscope.backends.spark.catalogue import read_lake_files
        from songscope.backends.spark.cluster import cluster_on_spark
        from songscope.backends.spark.mllib import MLlibAlgorithm
        from songscope.backends.spark.scratch import read_scratch, scratch_folder
        from songscope.evaluate.silhouette import silhouette
        from songscope.store.runs import ASSIGNMENT_SCHEMA

        settings = self.settings
        tracks = self._catalogue(store)
        previous_uris = previous.assignment_uris(store) if previous is not None else []
        previous_songs = read_lake_files(tracks.sparkSession, previous_uris, ASSIGNMENT_SCHEMA, settings.s3_endpoint) if previous_uris else None
        algorithm_run = MLlibAlgorithm(algorithm, n_clusters=k, random_state=seed, master=settings.spark_master, params=params or {})
        folder, remove = scratch_folder(settings.spark_scratch, f"assignments-{uuid.uuid4().hex}", settings.s3_endpoint)
        try:
            t0 = time.perf_counter()
            clustered = cluster_on_spark(tracks, space, algorithm_run, seed=seed, staging=folder, s3_endpoint=settings.s3_endpoint,
                                         sample_rows=SAMPLE_ROWS, previous=previous_songs, previous_k=previous.k if previous_uris else 0)
            timings = {"cluster_s": time.perf_counter() - t0}
            t0 = time.perf_counter()
            sample, result = clustered.sample, clustered.result
            X = space.transform(sample)
            metrics = dict(clustered.metrics)
            metrics["silhouette"] = silhouette(X, result.labels, seed=seed) if len(np.unique(result.labels)) > 1 else float("nan")
            metrics["silhouette_n"] = metrics["sample_n"] = int(len(sample))
            timings["metrics_s"] = time.perf_counter() - t0
        except BaseException:
            remove()
            raise
        files = clustered.assignment_files
        return Clustering(result, sample, X, metrics, clustered.songs, sizes=clustered.sizes, identities=clustered.identities,
                          assignment_chunks=lambda: (read_scratch(uri, settings.s3_endpoint) for uri, _ in files), timings=timings,
                          release=remove)

    def assign(self, store: Store, run: ClusterRun, centres: np.ndarray, numbers: np.ndarray, *, seed: int) -> Placement:
        from songscope.backends.spark.assign import assign_on_spark
        from songscope.backends.spark.catalogue import read_lake_files
        from songscope.backends.spark.scratch import scratch_folder
        from songscope.store.runs import ASSIGNMENT_SCHEMA

        settings = self.settings
        tracks = self._catalogue(store)
        uris = run.assignment_uris(store)
        if not uris:
            raise RunWithoutLakeClusters(f"run {run.run_id} was stored before the lake kept its clusters: assign with --engine local")
        assigned = read_lake_files(tracks.sparkSession, uris, ASSIGNMENT_SCHEMA, settings.s3_endpoint)
        folder, remove = scratch_folder(settings.spark_scratch, f"assignments-{uuid.uuid4().hex}", settings.s3_endpoint)
        try:
            return assign_on_spark(tracks, assigned, run.space, centres, numbers, seed=seed, reference_songs=REFERENCE_SONGS,
                                   staging=folder, s3_endpoint=settings.s3_endpoint, release=remove)
        except BaseException:
            remove()
            raise

    def profile(self, store: Store, *, feature_set: FeatureSet = SPOTIFY, clean_report=None, rejected: int | None = None,
                figures: bool = True) -> Profile:
        from songscope.backends.spark.profile import profile_on_spark

        return profile_on_spark(self._catalogue(store), clean_report=clean_report, rejected=rejected, seed=self.settings.seed, figures=figures,
                                feature_set=feature_set)

    def place_names(self, store: Store, model: NameModel, part_keys: list[str], progress: Progress | None = None) -> int:
        from songscope.backends.spark.names import place_names_on_spark
        from songscope.backends.spark.session import spark_session

        if progress:
            progress(f"placing the names of {len(part_keys):,} catalogue files on Spark ({self.settings.spark_master})")
        return place_names_on_spark(spark_session(self.settings.spark_master), store.lake, model, part_keys)
