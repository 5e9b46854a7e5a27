"""Every lake key songscope writes or reads, named in one place.

The lake holds the bulky, per-song data as Parquet (the catalogue, each ingest's files, each
cluster run's assignments) and the artefacts people open (reports); the database holds the
rest. A key is relative to the lake's root (a folder or an ``s3://`` prefix).
"""

from __future__ import annotations

#: The clean catalogue: immutable files, one folder per ingest, listed in the database's manifest
#: (``catalogue_files``); readers read exactly the listed files (`songscope.store.catalogue`).
CATALOGUE_FOLDER = "catalogue"
#: Where releases before schema 7 kept the whole catalogue in one file, rewritten by every ingest
#: (migrated into the table on first use, then removed).
LEGACY_CATALOGUE = f"{CATALOGUE_FOLDER}/tracks.parquet"
#: Each ingest's own record: rejected rows, provenance, the cleaning report.
INGEST_FOLDER = "ingest"
#: Derived data, rebuilt from the catalogue whenever missing: the name model (`recommend.names`)
#: and, under its version, each catalogue file's name coordinates (`service.names`).
NAMES_FOLDER = "names"
NAME_MODEL = f"{NAMES_FOLDER}/model.npz"
#: Derived data too: the recommender's feature weights learned from the catalogue's genre tags
#: (`service.tag_weights`), one file, named by the catalogue it was learned from.
TAG_WEIGHTS_FOLDER = "metric"
#: The latest `songscope eval-recs`, for the report.
RECOMMENDATION_EVALUATION = "evaluations/recommendations.json"


def catalogue_part(run_id: str, number: int) -> str:
    """One of the catalogue files an ingest added (its new tracks)."""
    return f"{CATALOGUE_FOLDER}/{run_id}/part-{number:05d}.parquet"


def catalogue_labels(run_id: str, number: int) -> str:
    """Labels an ingest merged into tracks stored before it (their whole merged values)."""
    return f"{CATALOGUE_FOLDER}/{run_id}/labels-{number:05d}.parquet"


def name_coordinates(version: str, catalogue_key: str) -> str:
    """The name coordinates of the songs of one catalogue file, placed by model `version`."""
    return f"{NAMES_FOLDER}/{version}/{catalogue_key}"


def tag_weights(catalogue_version: str) -> str:
    """The feature weights learned from the genre tags of one version of the catalogue."""
    return f"{TAG_WEIGHTS_FOLDER}/tag-weights-{catalogue_version}.json"


def ingest_folder(run_id: str) -> str:
    """An ingest run's files: its rejected rows, provenance and cleaning report."""
    return f"{INGEST_FOLDER}/{run_id}"


def ingest_file(run_id: str, name: str) -> str:
    return f"{ingest_folder(run_id)}/{name}"


def ingest_provenance(run_id: str) -> str:
    """Which row of which source became which track, for one ingest (`store.provenance`)."""
    return ingest_file(run_id, "provenance.parquet")


def run_folder(run_id: str) -> str:
    """A cluster run's files."""
    return f"runs/{run_id}"


def run_assignments(run_id: str) -> str:
    """A cluster run's per-song clusters (track_id, cluster), for Spark and lake readers."""
    return f"{run_folder(run_id)}/assignments.parquet"


def run_late_assignments(run_id: str, assign_id: str) -> str:
    """Songs one `songscope assign` pass put into a cluster run after it was fitted (track_id,
    cluster), listed by the database's ``cluster_assignments_added``."""
    return f"{run_folder(run_id)}/late/{assign_id}.parquet"


def legacy_run_summary(run_id: str) -> str:
    """Where releases before schema 6 kept a run's evidence (read, never written: see `runs.ClusterRun.load`)."""
    return f"{run_folder(run_id)}/summary.json"


def report(name: str) -> str:
    return f"reports/{name}.html"
