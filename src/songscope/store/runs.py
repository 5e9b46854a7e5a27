"""`ClusterRun`: one clustering run with everything known about it, saved to and loaded from
both stores by one type.

Where each part lives (nothing is stored twice, but for the per-song assignments, which are in
the database for SQL and in the lake for Spark and other lake readers, as the catalogue is):

- database ``cluster_runs``: engine, algorithm, k, songs, parameters, the fitted feature space,
  timings; ``cluster_centroids``: each cluster's size, centre, description, top artists and
  stability; ``cluster_metrics``: the internal indices; ``cluster_run_details``: the evidence
  (bootstrap stability and seed agreement, the null model, feature tests, external validity);
  ``cluster_assignments``: each song's cluster; ``late_assignments`` and
  ``cluster_assignments_added``: the songs `songscope assign` added later, and its passes.
- lake: ``runs/<run>/assignments.parquet`` (`keys.run_assignments`), and one
  ``runs/<run>/late/<pass>.parquet`` per assign pass (`keys.run_late_assignments`).

Runs made before schema 6 kept their evidence in the lake's ``runs/<run>/summary.json``; it is
read from there while the lake has it.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from songscope.errors import UserError
from songscope.jsonable import dumps, jsonable
from songscope.store import db, keys
from songscope.store.store import Store

#: The lake's file of a run's assignments.
ASSIGNMENT_SCHEMA = pa.schema([("track_id", pa.string()), ("cluster", pa.int64())])
#: The columns of `ClusterRun.clusters`.
CLUSTER_COLUMNS = ("cluster", "size", "centre", "description", "top_artists", "jaccard")


def new_id() -> str:
    """A sortable, unique id for anything the stores record (an ingest run, a cluster run, an
    assign pass, a recommendation request): UTC time to the second and 8 random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


class RunNotFound(UserError, LookupError):
    """No such cluster run; the message names the recent ones."""


@dataclass
class ClusterRun:
    """A clustering run as stored: who made it, how, its clusters and the evidence about them."""

    run_id: str
    engine: str
    algorithm: str
    space: dict[str, Any]  # `FeatureSpace.to_dict()`: enough to rebuild the fitted space
    assignments: pd.DataFrame | None  # track_id, cluster (-1: noise); None when loaded without them
    clusters: pd.DataFrame  # CLUSTER_COLUMNS, one row per cluster; centre in the run's space
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    stability: dict[str, Any] = field(default_factory=dict)
    null_model: dict[str, Any] = field(default_factory=dict)
    external: dict[str, Any] | None = None
    feature_tests: list[dict[str, Any]] = field(default_factory=list)
    engine_reason: str = ""
    selection: dict[str, Any] | None = None  # the evidence for k and the algorithm, once a report has shown it
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    lake_uri: str | None = None
    #: Songs the run clustered, when `assignments` holds only some of them (a Spark run's sample).
    songs: int | None = None
    #: Which earlier run's clusters this run's continue (`evaluate.matching.continuing_numbers`).
    identities: dict[str, Any] | None = None

    @property
    def k(self) -> int:
        return int(len(self.clusters))

    @property
    def n_tracks(self) -> int:
        return int(len(self.assignments)) if self.songs is None else int(self.songs)

    def labels_for(self, catalogue: pd.DataFrame) -> np.ndarray:
        """Each catalogue song's cluster; -1 for songs the run did not cluster (added after it)."""
        if self.assignments is None:
            raise RuntimeError(f"run {self.run_id} was loaded without its assignments")
        assigned = catalogue[["track_id"]].merge(self.assignments, on="track_id", how="left")
        return assigned["cluster"].fillna(-1).astype(int).to_numpy()

    @functools.cached_property
    def descriptions(self) -> dict[int, str]:
        return dict(zip(self.clusters["cluster"].astype(int).tolist(), self.clusters["description"]))

    def to_dict(self) -> dict[str, Any]:
        """Everything but the per-song assignments, as JSON-ready data."""
        return jsonable({
            "run_id": self.run_id, "created_at": self.created_at, "engine": self.engine, "algorithm": self.algorithm, "k": self.k,
            "songs": self.n_tracks, "params": self.params, "metrics": self.metrics, "timings": self.timings,
            "clusters": self.clusters.drop(columns=["centre"]), "stability": self.stability, "null_model": self.null_model,
            "external": self.external, "feature_tests": self.feature_tests, "engine_reason": self.engine_reason, "lake_uri": self.lake_uri,
            "selection": self.selection, "identities": self.identities,
        })

    # ------------------------------------------------------------------------------ persistence

    def save(self, store: Store, assignment_chunks: Iterable[pd.DataFrame] | None = None) -> None:
        """Write the run to the lake and the database, in one database transaction (a run is
        listed only once all of it is there). `assignment_chunks`, when given, are every song's
        cluster in chunks (a Spark run's, which the driver never holds at once); otherwise
        `assignments` holds them all."""
        self.lake_uri = store.lake.uri(keys.run_folder(self.run_id))
        if assignment_chunks is None:
            assignment_chunks = [self.assignments]
        with store.db.begin() as conn:
            def stored(chunks):  # each chunk into the database as it goes to the lake
                for chunk in chunks:
                    chunk = chunk[["track_id", "cluster"]]
                    db.bulk_insert(conn, db.cluster_assignments, chunk.assign(run_id=self.run_id))
                    yield pa.Table.from_pandas(chunk, schema=ASSIGNMENT_SCHEMA, preserve_index=False)

            uri, songs = store.lake.write_tables(keys.run_assignments(self.run_id), stored(assignment_chunks), ASSIGNMENT_SCHEMA)
            if self.songs is None:
                self.songs = songs
            self._save_rows(conn, uri)

    def _save_rows(self, conn: sa.Connection, uri: str) -> None:
        centroids = self.clusters.assign(centre=[dumps([round(float(v), 6) for v in c]) for c in self.clusters["centre"]])
        details = {"stability": self.stability, "null_model": self.null_model, "external": self.external,
                   "feature_tests": self.feature_tests, "engine_reason": self.engine_reason, "assignments_uri": uri,
                   "identities": self.identities}
        conn.execute(db.cluster_runs.insert().values(
            run_id=self.run_id, created_at=self.created_at, engine=self.engine, algorithm=self.algorithm, n_clusters=self.k,
            n_tracks=self.n_tracks, params=dumps(self.params), space=dumps(self.space), timings=dumps(self.timings), lake_uri=self.lake_uri,
        ))
        conn.execute(db.cluster_run_details.insert().values(run_id=self.run_id, details=dumps(details)))
        db.bulk_insert(conn, db.cluster_centroids, centroids[list(CLUSTER_COLUMNS)].assign(run_id=self.run_id))
        finite = {k: (float(v) if v is not None and np.isfinite(v) else None) for k, v in self.metrics.items() if isinstance(v, (int, float))}
        db.bulk_insert(conn, db.cluster_metrics, pd.DataFrame({"run_id": self.run_id, "name": list(finite), "value": list(finite.values())}))

    def save_selection(self, store: Store, selection: dict[str, Any]) -> None:
        """Keep the evidence for k and the algorithm that a report showed for this run (the k
        sweep, the density sweep, the algorithms compared, the rationale), so the web app shows it too."""
        self.selection = jsonable(selection)
        table = db.cluster_run_details
        with store.db.begin() as conn:
            found = conn.execute(sa.select(table.c.details).where(table.c.run_id == self.run_id)).scalar()
            details = json.loads(found) if found else {
                "stability": self.stability, "null_model": self.null_model, "external": self.external, "feature_tests": self.feature_tests,
                "engine_reason": self.engine_reason,
            }
            conn.execute(table.delete().where(table.c.run_id == self.run_id))
            conn.execute(table.insert().values(run_id=self.run_id, details=dumps(details | {"selection": self.selection})))

    def assignment_table(self, store: Store) -> pa.Table:
        """Every song's cluster (track_id, cluster) as Arrow, from the run's lake file (from the
        database for a run stored before the lake kept them)."""
        key = keys.run_assignments(self.run_id)
        with store.db.connect() as conn:
            late = pa.Table.from_pandas(_read_late_assignments(conn, self.run_id), schema=ASSIGNMENT_SCHEMA, preserve_index=False)
            if not store.lake.exists(key):
                fitted = pa.Table.from_pandas(_read_assignments(conn, self.run_id, late=False), schema=ASSIGNMENT_SCHEMA, preserve_index=False)
        if store.lake.exists(key):
            fitted = store.lake.read_table(key, columns=["track_id", "cluster"]).cast(ASSIGNMENT_SCHEMA)
        return pa.concat_tables([fitted, late]) if late.num_rows else fitted

    def assignment_uris(self, store: Store) -> list[str]:
        """Where the lake holds every song's cluster (absolute paths or ``s3://`` URLs, in
        `ASSIGNMENT_SCHEMA`), for readers such as Spark: the fitted songs' file, then one file per
        committed `songscope assign` pass. Empty for a run stored before the lake kept its
        clusters; an assign pass made before the lake kept them is in the database only."""
        fitted = keys.run_assignments(self.run_id)
        if not store.lake.exists(fitted):
            return []
        table = db.cluster_assignments_added
        with store.db.connect() as conn:
            passes = conn.execute(sa.select(table.c.assign_id).where((table.c.run_id == self.run_id) & (table.c.songs > 0))
                                  .order_by(table.c.created_at, table.c.assign_id)).scalars().all()
        late = [keys.run_late_assignments(self.run_id, assign_id) for assign_id in passes]
        return [store.lake.uri(key) for key in [fitted, *late] if key == fitted or store.lake.exists(key)]

    def labels_of(self, store: Store, track_ids: pa.Array | pa.ChunkedArray | Iterable[str], *, missing: int = -1) -> np.ndarray:
        """The cluster of each of `track_ids` (`missing` where the run has no such song), from the
        assignments in memory or else the run's lake file, matched by Arrow's hash join (no
        per-song objects)."""
        if self.assignments is not None:
            table = pa.Table.from_pandas(self.assignments[["track_id", "cluster"]], schema=ASSIGNMENT_SCHEMA, preserve_index=False)
        else:
            table = self.assignment_table(store)
        if not isinstance(track_ids, (pa.Array, pa.ChunkedArray)):
            track_ids = pa.array(list(track_ids), type=pa.string())
        position = pc.index_in(track_ids, value_set=table["track_id"].combine_chunks().cast(pa.string()))
        if isinstance(position, pa.ChunkedArray):
            position = position.combine_chunks()
        found = position.is_valid().to_numpy(zero_copy_only=False)
        labels = np.full(len(track_ids), missing, dtype=np.int64)
        labels[found] = table["cluster"].combine_chunks().to_numpy(zero_copy_only=False)[position.drop_null().to_numpy()]
        return labels

    @classmethod
    def load(cls, store: Store, run_id: str | None = None, *, assignments: bool = True) -> ClusterRun:
        """The run `run_id` (default: the latest); `RunNotFound` names the recent runs. Without
        `assignments` the per-song clusters are not read (a Spark run's are millions of rows):
        `assignments` is then None, and `assignment_table` reads them as Arrow when needed."""
        run_id = run_id or latest_run_id(store)
        with store.db.connect() as conn:
            row = conn.execute(sa.select(db.cluster_runs).where(db.cluster_runs.c.run_id == run_id)).mappings().first()
            if row is None:
                recent = [r[0] for r in conn.execute(sa.select(db.cluster_runs.c.run_id).order_by(db.cluster_runs.c.created_at.desc()).limit(10))]
                raise RunNotFound(f"no clustering run {run_id!r}; recent runs: {', '.join(recent) or 'none (run songscope cluster first)'}")
            per_song = _read_assignments(conn, run_id) if assignments else None
            clusters = pd.read_sql(
                sa.select(*[db.cluster_centroids.c[c] for c in CLUSTER_COLUMNS]).where(db.cluster_centroids.c.run_id == run_id).order_by(db.cluster_centroids.c.cluster),
                conn,
            )
            metrics = {r.name: r.value for r in conn.execute(sa.select(db.cluster_metrics).where(db.cluster_metrics.c.run_id == run_id))}
            found = conn.execute(sa.select(db.cluster_run_details.c.details).where(db.cluster_run_details.c.run_id == run_id)).scalar()
        details = json.loads(found) if found else _legacy_details(store, run_id)
        clusters["centre"] = [json.loads(c) for c in clusters["centre"]]
        clusters["jaccard"] = clusters["jaccard"].astype(float)
        created = row["created_at"]
        return cls(
            run_id=row["run_id"], engine=row["engine"], algorithm=row["algorithm"], space=json.loads(row["space"]), assignments=per_song,
            clusters=clusters, metrics={k: (np.nan if v is None else v) for k, v in metrics.items()}, params=json.loads(row["params"]),
            timings=json.loads(row["timings"]), stability=details.get("stability") or {}, null_model=details.get("null_model") or {},
            external=details.get("external"), feature_tests=details.get("feature_tests") or [], engine_reason=details.get("engine_reason", ""),
            selection=details.get("selection"), songs=row["n_tracks"], identities=details.get("identities"),
            created_at=created if created is None or created.tzinfo else created.replace(tzinfo=UTC), lake_uri=row["lake_uri"],
        )


def _read_assignments(conn: sa.Connection, run_id: str, *, late: bool = True) -> pd.DataFrame:
    """A run's per-song clusters (track_id, cluster) from the database: the songs it was fitted
    on, and (`late`) those assigned to it since (`songscope assign`)."""
    table = db.cluster_assignments
    fitted = pd.read_sql(sa.select(table.c.track_id, table.c.cluster).where(table.c.run_id == run_id), conn)
    if not late:
        return fitted
    added = _read_late_assignments(conn, run_id)
    return pd.concat([fitted, added], ignore_index=True) if len(added) else fitted


def _read_late_assignments(conn: sa.Connection, run_id: str) -> pd.DataFrame:
    table = db.late_assignments
    return pd.read_sql(sa.select(table.c.track_id, table.c.cluster).where(table.c.run_id == run_id), conn)


#: Built once: the web app asks it on every request, and building a statement costs more than
#: SQLite takes to answer it.
_NEWEST_RUN = sa.select(db.cluster_runs.c.run_id).order_by(db.cluster_runs.c.created_at.desc()).limit(1)


def latest_run_id(store: Store) -> str:
    """The id of the newest cluster run, asked of the database each time (another process may
    have just made one); `RunNotFound` when there is none."""
    with store.autocommit.connect() as conn:
        found = conn.execute(_NEWEST_RUN).scalar()
    if found is None:
        raise RunNotFound("no clustering run yet: run `songscope cluster` (or `songscope run`) first")
    return found


def _legacy_details(store: Store, run_id: str) -> dict[str, Any]:
    """The evidence of a run made before schema 6, from the summary the lake kept of it (nothing
    if the lake no longer has it)."""
    key = keys.legacy_run_summary(run_id)
    if not store.lake.exists(key):
        return {}
    summary = json.loads(store.lake.read_bytes(key))
    return {name: summary.get(name) for name in ("stability", "null_model", "external", "feature_tests")}


def run_summaries(store: Store) -> list[dict[str, Any]]:
    """Every cluster run, newest first, with its silhouette (None when not computed), as plain
    rows of run_id, created_at, engine, algorithm, k, songs, silhouette: one query."""
    runs, metrics = db.cluster_runs, db.cluster_metrics
    silhouette = metrics.c.name == "silhouette"
    query = (sa.select(runs.c.run_id, runs.c.created_at, runs.c.engine, runs.c.algorithm, runs.c.n_clusters.label("k"),
                       runs.c.n_tracks.label("songs"), metrics.c.value.label("silhouette"))
             .select_from(runs.outerjoin(metrics, (metrics.c.run_id == runs.c.run_id) & silhouette))
             .order_by(runs.c.created_at.desc(), runs.c.run_id.desc()))
    with store.autocommit.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def list_runs(store: Store) -> pd.DataFrame:
    """`run_summaries` as a frame."""
    return pd.DataFrame(run_summaries(store), columns=["run_id", "created_at", "engine", "algorithm", "k", "songs", "silhouette"])
