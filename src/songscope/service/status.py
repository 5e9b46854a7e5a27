"""What the stores hold, and sweeping what dead jobs left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from songscope.config import redact
from songscope.store import db
from songscope.store.catalogue import CatalogueHealth, feature_set_name, health
from songscope.store.catalogue import sweep as sweep_lake
from songscope.store.runs import list_runs
from songscope.store.store import Store


@dataclass
class Status:
    database: str  # the URL, password hidden
    schema_version: int
    counts: dict[str, int]
    ingests: pd.DataFrame
    runs: pd.DataFrame
    lake: str
    catalogue: CatalogueHealth
    #: The feature set the catalogue's songs are described by (`schema.feature_set`).
    feature_set: str

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "schema_version": self.schema_version, "counts": self.counts,
                "lake": self.lake, "catalogue": self.catalogue.to_dict(), "feature_set": self.feature_set,
                "runs": self.ingests.drop(columns=["report"]), "cluster_runs": self.runs}


def status(store: Store) -> Status:
    """What the stores hold: counts, the catalogue's size in the database and in the lake, the
    ingest runs, the cluster runs (with their silhouette)."""
    ingests = db.read_table(store.db, db.ingest_runs).sort_values("started_at", ignore_index=True)
    return Status(redact(store.settings.db_url), db.schema_version(store.db), db.counts(store.db), ingests, list_runs(store),
                  store.settings.lake_url, health(store), feature_set_name(store))


@dataclass
class SweepOutcome:
    """What a sweep removed from the lake: the leftovers of ingests and assign passes that died
    before committing."""

    removed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"removed": self.removed}


def sweep(store: Store) -> SweepOutcome:
    """Remove lake files that no committed ingest or assign pass lists (one that died left them),
    and Spark's staged files older than a day under the scratch location, when one is set."""
    removed = sweep_lake(store)
    if store.settings.spark_scratch:
        from songscope.backends.spark.scratch import sweep_scratch

        removed += sweep_scratch(store.settings.spark_scratch, store.settings.s3_endpoint)
    return SweepOutcome(removed)
