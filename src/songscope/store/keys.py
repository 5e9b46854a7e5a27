"""Every lake key songscope writes or reads, named in one place.

The lake holds the bulky, per-song data as Parquet (the catalogue, each ingest's files, each
cluster run's assignments) and the artefacts people open (reports); the database holds the
rest. A key is relative to the lake's root (a folder or an ``s3://`` prefix).
"""

from __future__ import annotations

#: The clean catalogue (every track the database holds).
CATALOGUE = "catalogue/tracks.parquet"
#: The latest `songscope eval-recs`, for the report.
RECOMMENDATION_EVALUATION = "evaluations/recommendations.json"


def ingest_folder(run_id: str) -> str:
    """An ingest run's files: its new tracks, rejected rows, provenance and cleaning report."""
    return f"ingest/{run_id}"


def ingest_file(run_id: str, name: str) -> str:
    return f"{ingest_folder(run_id)}/{name}"


def run_folder(run_id: str) -> str:
    """A cluster run's files."""
    return f"runs/{run_id}"


def run_assignments(run_id: str) -> str:
    """A cluster run's per-song clusters (track_id, cluster), for Spark and lake readers."""
    return f"{run_folder(run_id)}/assignments.parquet"


def legacy_run_summary(run_id: str) -> str:
    """Where releases before schema 6 kept a run's evidence (read, never written: see `runs.ClusterRun.load`)."""
    return f"{run_folder(run_id)}/summary.json"


def report(name: str) -> str:
    return f"reports/{name}.html"
