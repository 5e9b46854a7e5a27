"""What every family of actions shares: progress, the one lookup error, runs kept per store, the backend of a job."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from songscope.errors import UserError
from songscope.store import cache, db
from songscope.store.catalogue import size as catalogue_size
from songscope.store.runs import ClusterRun, RunNotFound, latest_run_id
from songscope.store.store import Store

if TYPE_CHECKING:  # pragma: no cover
    from songscope.backends.base import Backend


Progress = Callable[[str], None]


LABEL_CANDIDATES = ("playlist_genre", "genre", "label")


def say_to(progress: Progress | None) -> Progress:
    return progress or (lambda message: None)


class NotFound(UserError, LookupError):
    """A run, cluster, song or list that does not exist; the message says what does."""


#: How often a long-lived process (the web app) looks whether another process has changed the
#: catalogue since it built what it keeps from it (seconds).
CATALOGUE_CHECK_EVERY_S = 1.0


def keep_up_with_the_catalogue(store: Store) -> None:
    """Forget everything built from the catalogue when another process has ingested songs or
    assigned new songs to a run since: a long-lived web app then serves them within a second of
    their commit. Looked at once a second at most, by one indexed read."""
    now = time.monotonic()
    seen = store.cached(cache.CATALOGUE_SEEN, lambda: {"at": float("-inf"), "version": None})
    if now - seen["at"] < CATALOGUE_CHECK_EVERY_S:
        return
    ingest_id, _, _, assign_id = db.newest_ids(store.autocommit)
    version = (ingest_id, assign_id)
    if seen["version"] not in (None, version):
        store.forget()
        seen = store.cached(cache.CATALOGUE_SEEN, lambda: {"at": now, "version": version})
    seen["at"], seen["version"] = now, version


def load_run(store: Store, run_id: str | None = None, *, assignments: bool = True) -> ClusterRun:
    """A stored run (default: the latest, looked up afresh each time), kept for the store's life
    (until another process changes the catalogue). Without `assignments`, its per-song clusters
    are not read (see `ClusterRun.load`)."""
    keep_up_with_the_catalogue(store)
    try:
        run_id = run_id or latest_run_id(store)
        if not assignments:
            full = store.peek(cache.run(run_id))
            if full is not None:
                return full
            return store.cached(cache.run_summary(run_id), lambda: ClusterRun.load(store, run_id, assignments=False))
        return store.cached(cache.run(run_id), lambda: ClusterRun.load(store, run_id))
    except RunNotFound as exc:
        raise NotFound(str(exc)) from exc


def assigned_of(store: Store, run: ClusterRun, catalogue: pd.DataFrame) -> ClusterRun:
    """`run` with the assignments of those of `catalogue`'s songs it clustered (a copy; the cached
    run is untouched)."""
    import dataclasses

    ids = catalogue["track_id"].astype(str)
    labels = run.labels_of(store, ids, missing=-2)  # -1 is a cluster label (noise)
    found = labels != -2
    return dataclasses.replace(run, assignments=pd.DataFrame({"track_id": ids.to_numpy()[found], "cluster": labels[found]}))


def catalogue_size_or_zero(store: Store) -> int:
    """Tracks already stored (0 for a new database)."""
    from songscope.store.catalogue import NoCatalogue

    try:
        return catalogue_size(store)
    except NoCatalogue:
        return 0


def backend_for(store: Store, requested: str | Backend, *, sources: list[str] | None = None, holds_catalogue_too: bool = False,
                streams: bool = False, ingests: bool = False, progress: Progress | None = None) -> Backend:
    """The backend of a job, chosen once: `requested` itself when it is one already (a job's later
    stages get the backend its first stage chose), else local, spark, or auto by size: the
    `sources`' estimated songs when given, else the stored catalogue's. A local backend is
    refused, before anything is read, when what it must hold (the sources, with the catalogue
    too when `holds_catalogue_too`; nothing for a stage that `streams`; the keys of every row and a
    few batches for an ingest, which `ingests`) would not fit in memory."""
    if not isinstance(requested, str):
        return requested
    from songscope.backends.choice import INGEST_BASE_BYTES, INGEST_BYTES_PER_ROW, choose_backend, estimate_rows

    if requested == "spark":  # no size to estimate: Spark holds any catalogue
        songs = 0
    elif sources is not None:
        songs = estimate_rows(sources, store.settings.s3_endpoint)
    else:
        songs = catalogue_size(store)
    must_hold = 0 if streams else songs + (catalogue_size_or_zero(store) if holds_catalogue_too else 0)
    need = INGEST_BASE_BYTES + songs * INGEST_BYTES_PER_ROW if ingests else None
    backend = choose_backend(requested, songs, store.settings, must_hold=must_hold, need=need)
    if requested == "auto":
        say_to(progress)(f"backend: {backend.reason}")
    return backend


def latest_run_or_none(store: Store) -> ClusterRun | None:
    """The latest run, without its per-song clusters; None before the first clustering."""
    try:
        return load_run(store, None, assignments=False)
    except NotFound:
        return None


def catalogue_features(store: Store):
    """The catalogue's feature set (`schema.FeatureSet`): what every stage describes its songs by."""
    from songscope.schema import feature_set
    from songscope.store.catalogue import feature_set_name

    return feature_set(feature_set_name(store))


def catalogue_space(store: Store, space=None):
    """`space` (default: the standard space) over the catalogue's feature set, not yet fitted
    unless it came fitted."""
    from songscope.features import FeatureSpace

    return (space or FeatureSpace()).for_features(catalogue_features(store).name)
