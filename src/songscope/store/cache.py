"""Every key of what a `Store` keeps for its life (`Store.cached`), in one place, typed.

A long-lived process (the web app) keeps what is costly to rebuild: the catalogue, the runs, the
recommender, the web app's sample and map. Each is kept under one of these keys, so what is kept,
and what `Store.forget` drops when the stores change, reads in one module (as `store.keys` does
for the lake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CacheKey:
    """What is kept (`kind`) and for which run, version or page (`parts`)."""

    kind: str
    parts: tuple[Any, ...] = ()


#: The whole catalogue as a frame (the local backend's; `Store.catalogue`).
CATALOGUE = CacheKey("catalogue")
#: When this process last looked whether another changed the catalogue, and what it saw.
CATALOGUE_SEEN = CacheKey("catalogue seen")
#: The catalogue's songs for lookups by id and name (`recommend.songs.SongTable`).
SONGS = CacheKey("songs")
#: The songs the web app draws on: every song, or a fixed-seed sample.
WEB_CATALOGUE = CacheKey("web catalogue")
#: When this process last deleted requests past their retention.
REQUESTS_FORGOTTEN_AT = CacheKey("requests forgotten at")


def run(run_id: str) -> CacheKey:
    """A run with its per-song clusters."""
    return CacheKey("run", (run_id,))


def run_summary(run_id: str) -> CacheKey:
    """A run without its per-song clusters."""
    return CacheKey("run summary", (run_id,))


def web_labels(run_id: str) -> CacheKey:
    """The run's cluster of each song the web app draws on."""
    return CacheKey("web labels", (run_id,))


def map_points(run_id: str) -> CacheKey:
    """The run's points of the web app's songs and their 2-D map."""
    return CacheKey("map", (run_id,))


def web_index(run_id: str) -> CacheKey:
    """The nearest-neighbour index over the run's points of the web app's songs."""
    return CacheKey("web index", (run_id,))


def recommender(run_id: str | None) -> CacheKey:
    """The recommender with the run's clusters (None: before any clustering)."""
    return CacheKey("recommender", (run_id,))


def overview(version: tuple) -> CacheKey:
    """The web app's overview as of the stores' `version` (`db.newest_ids`)."""
    return CacheKey("overview", (version,))


def cluster_details(run_id: str, cluster: int, sample: int) -> CacheKey:
    """A cluster's page."""
    return CacheKey("cluster details", (run_id, cluster, sample))
