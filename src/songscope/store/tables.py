"""The database's tables (SQLAlchemy Core) in one `metadata`; the migrations (`store/migrations`) create and change them.

Tracks with their labels, rejected rows, duplicates, artists and audio files; the catalogue's files
and lock; clustering runs; recommendation requests, reports and saved lists.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from songscope import schema

# MySQL's TEXT holds 64 KiB: rejected rows keep their raw content, which may be larger.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")
# Ids compare byte by byte on PostgreSQL too: its "C" collation sorts by memcmp, where a server's
# locale (en_US.UTF-8 on many a cloud database, even C.UTF-8) sorts through strcoll. Measured on
# 1,000,000 Spotify ids: the primary key built in 1.0-1.4 s in "C", 2.8-4.5 s in C.UTF-8.
TrackId = sa.String(schema.MAX_ID_LENGTH).with_variant(postgresql.VARCHAR(schema.MAX_ID_LENGTH, collation="C"), "postgresql")
RunId = sa.String(32)

# Spotify ids are case-sensitive: MySQL's default collation would make "abc" and "ABC" collide.
TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}

metadata = sa.MetaData()

schema_table = sa.Table(
    "songscope_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    **TABLE_OPTIONS,
)

ingest_runs = sa.Table(
    "ingest_runs",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sources", LongText, nullable=False),  # JSON list of URIs
    sa.Column("rows_read", sa.BigInteger, nullable=False),
    sa.Column("rows_rejected", sa.BigInteger, nullable=False),
    sa.Column("rows_clean", sa.BigInteger, nullable=False),
    sa.Column("tracks_added", sa.BigInteger, nullable=False),
    sa.Column("report", LongText, nullable=False),  # JSON CleanReport
    sa.Column("lake_uri", sa.Text),
    # The feature set (`schema.FEATURE_SETS`) the ingest's songs are described by.
    sa.Column("feature_set", sa.String(64), nullable=False, server_default="spotify"),
    # 1, 2, 3, ... in the order ingests committed, numbered under the catalogue's lock: "ingest
    # order" everywhere (a clock ties within MySQL's second, and the first to start may commit last).
    sa.Column("commit_order", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("commit_order", name="uq_ingest_runs_commit_order"),
    **TABLE_OPTIONS,
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("source_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("uri_sha256", sa.String(64), nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("first_run_id", RunId, nullable=False),
    sa.UniqueConstraint("uri_sha256", "content_sha256", name="uq_sources_uri_content"),
    **TABLE_OPTIONS,
)


def _track_columns() -> list[sa.Column]:
    columns: list[sa.Column] = [
        sa.Column("track_id", TrackId, primary_key=True),
        sa.Column("artist_name", sa.Text, nullable=False),
        sa.Column("track_name", sa.Text, nullable=False),
    ]
    for column in schema.NUMERIC_COLUMNS:
        if column.name == "duration_ms":
            kind: sa.types.TypeEngine = sa.BigInteger()
        elif column.integer:
            kind = sa.Integer()
        else:
            kind = sa.Double()  # MySQL FLOAT is single precision: values must round-trip exactly
        # Nullable, each: a song of one feature set has none of another's (`schema.required_columns`
        # says what a set's songs must have, and validation holds them to it).
        columns.append(sa.Column(column.name, kind, nullable=True))
    columns += [
        sa.Column("is_outlier", sa.Boolean, nullable=False),
        sa.Column("outlier_rules", sa.Text, nullable=False),
        sa.Column("ingest_run_id", RunId, nullable=False),
        # `identity.near_keys`: finds a known (artist, track name, duration) without reading the catalogue.
        sa.Column("near_key", sa.BigInteger),
    ]
    return columns


tracks = sa.Table("tracks", metadata, *_track_columns(), sa.Index("ix_tracks_near_key", "near_key"), **TABLE_OPTIONS)

# The audio files songs were analysed from (`songscope.audio`): what a later ingest of the same
# folder skips when unchanged (same path, size and modification time), and what the web app
# plays. A path is keyed by its SHA-256 (paths are longer than an index may be).
track_files = sa.Table(
    "track_files",
    metadata,
    sa.Column("path_sha256", sa.String(64), primary_key=True),
    sa.Column("path", LongText, nullable=False),
    sa.Column("track_id", TrackId, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("ingest_run_id", RunId, nullable=False),
    sa.Index("ix_track_files_track", "track_id"),
    **TABLE_OPTIONS,
)

track_labels = sa.Table(
    "track_labels",
    metadata,
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("name", sa.String(schema.MAX_LABEL_NAME_LENGTH), primary_key=True),
    sa.Column("value", LongText, nullable=False),  # several values joined with "|"
    **TABLE_OPTIONS,
)

rejected_rows = sa.Table(
    "rejected_rows",
    metadata,
    sa.Column("rejected_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ingest_run_id", RunId, nullable=False),
    sa.Column("source_id", sa.Integer, nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("reason", LongText, nullable=False),
    sa.Column("raw", LongText, nullable=False),
    sa.UniqueConstraint("source_id", "line", name="uq_rejected_source_line"),
    **TABLE_OPTIONS,
)

track_duplicates = sa.Table(
    "track_duplicates",
    metadata,
    sa.Column("duplicate_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ingest_run_id", RunId, nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("kept_track_id", TrackId, nullable=False),
    sa.Column("dropped_track_id", TrackId, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    # How many input rows this merge dropped: a track id listed three times is one record of two.
    sa.Column("dropped_rows", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("rule", "kept_track_id", "dropped_track_id", name="uq_duplicates_pair"),
    **TABLE_OPTIONS,
)

#: The artists of each song that has several, or whose file gave artist ids, in order (position 0
#: is ``tracks.artist_name``, its display name), with each one's id where the file gave it. A song
#: of one artist and no id has no row: its artist is its ``tracks.artist_name``. (A row for every
#: song cost 6-8 s per million songs at ingest, for no information.)
track_artists = sa.Table(
    "track_artists",
    metadata,
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("artist_id", sa.String(schema.MAX_ID_LENGTH)),
    **TABLE_OPTIONS,
)


#: The lake catalogue's manifest: the Parquet files readers read, committed in the same transaction
#: as the tracks they hold. A file in the lake that is not listed here is a crashed ingest's orphan.
catalogue_files = sa.Table(
    "catalogue_files",
    metadata,
    sa.Column("file_id", sa.Integer, primary_key=True, autoincrement=True),  # reading order
    sa.Column("lake_key", sa.String(255), nullable=False, unique=True),
    sa.Column("ingest_run_id", RunId),  # None: written when a lake from before schema 7 was migrated
    # "tracks": new tracks; "labels": stored tracks' label columns after a later ingest merged into them.
    sa.Column("content", sa.String(16), nullable=False, server_default="tracks"),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    **TABLE_OPTIONS,
)

#: One row per lock; a writer of the catalogue updates the ``catalogue`` row first, and holds it
#: (a row lock on PostgreSQL and MariaDB, the write lock on SQLite) until it commits or dies.
locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("holder", RunId),
    sa.Column("since", sa.DateTime(timezone=True)),
    **TABLE_OPTIONS,
)
CATALOGUE_LOCK = "catalogue"


cluster_runs = sa.Table(
    "cluster_runs",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("engine", sa.String(32), nullable=False),
    sa.Column("algorithm", sa.String(32), nullable=False),
    sa.Column("n_clusters", sa.Integer, nullable=False),
    sa.Column("n_tracks", sa.BigInteger, nullable=False),
    sa.Column("params", LongText, nullable=False),  # JSON
    sa.Column("space", LongText, nullable=False),  # JSON FeatureSpace, enough to rebuild it
    sa.Column("timings", LongText, nullable=False),  # JSON, seconds per stage
    sa.Column("lake_uri", sa.Text),
    **TABLE_OPTIONS,
)

cluster_assignments = sa.Table(
    "cluster_assignments",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("cluster", sa.Integer, nullable=False),
    sa.Index("ix_cluster_assignments_cluster", "run_id", "cluster"),
    **TABLE_OPTIONS,
)
#: Songs assigned to a run after it was fitted (`songscope assign`), each with its distance to
#: its cluster's centre; one row per assignment pass with its drift summary (JSON).
cluster_assignments_added = sa.Table(
    "cluster_assignments_added",
    metadata,
    sa.Column("assign_id", RunId, primary_key=True),
    sa.Column("run_id", RunId, nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("songs", sa.Integer, nullable=False),
    sa.Column("drift", LongText, nullable=False),
    **TABLE_OPTIONS,
)
late_assignments = sa.Table(
    "late_assignments",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("track_id", TrackId, primary_key=True),
    sa.Column("cluster", sa.Integer, nullable=False),
    sa.Column("distance", sa.Double, nullable=False),
    sa.Column("assign_id", RunId, nullable=False),
    **TABLE_OPTIONS,
)

cluster_centroids = sa.Table(
    "cluster_centroids",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("cluster", sa.Integer, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("centre", LongText, nullable=False),  # JSON list, in the run's feature space
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("top_artists", sa.Text, nullable=False),
    sa.Column("jaccard", sa.Double),  # bootstrap stability, when measured
    **TABLE_OPTIONS,
)

cluster_metrics = sa.Table(
    "cluster_metrics",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Double),
    **TABLE_OPTIONS,
)


cluster_run_details = sa.Table(
    "cluster_run_details",
    metadata,
    sa.Column("run_id", RunId, primary_key=True),
    sa.Column("details", LongText, nullable=False),  # JSON: stability, null model, feature tests, external validity
    **TABLE_OPTIONS,
)


#: One row per recommendation request: its JSON, and its songs in rank order as compact JSON
#: (``[[track_id, score, reason], ...]``), so recording a request is one insert; requests older than
#: the retention (`Settings.keep_requests_days`) are deleted.
recommendation_requests = sa.Table(
    "recommendation_requests",
    metadata,
    sa.Column("request_id", RunId, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("request", LongText, nullable=False),  # JSON: favourites, dislikes, options, cluster run
    sa.Column("items", LongText, nullable=False),  # JSON: the songs; reason = nearest seed, contributions, cluster
    **TABLE_OPTIONS,
)

#: Tables of schemas before Alembic that today's schema replaced: a database at one of those
#: versions is completed with them, and Alembic's migrations carry their rows over.
legacy_metadata = sa.MetaData()
sa.Table(
    "recommendations",  # schema 3 to 7: the request's JSON repeated on every song's row
    legacy_metadata,
    sa.Column("request_id", RunId, primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request", LongText, nullable=False),
    sa.Column("track_id", TrackId, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("reason", LongText, nullable=False),
    **TABLE_OPTIONS,
)

def _provenance_columns() -> list:
    return [sa.Column("track_id", TrackId, primary_key=True), sa.Column("source_id", sa.Integer, primary_key=True),
            sa.Column("line", sa.BigInteger, primary_key=True)]


# Schema 1 to revision 0013: each input row's track (its provenance), in the database as well as
# in the lake. Revision 0014 renames it `legacy_track_sources`; `store.provenance` moves its rows
# into the lake, where provenance now lives alone, and drops it.
sa.Table("track_sources", legacy_metadata, *_provenance_columns(), sa.Index("ix_track_sources_source", "source_id"), **TABLE_OPTIONS)
legacy_track_sources = sa.Table("legacy_track_sources", legacy_metadata, *_provenance_columns(), **TABLE_OPTIONS)


reports = sa.Table(
    "reports",
    metadata,
    sa.Column("report_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", RunId, nullable=False),
    sa.Column("compare_run_id", RunId),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("lake_uri", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("figures", LongText, nullable=False),  # JSON list of figure names
    **TABLE_OPTIONS,
)


favourite_lists = sa.Table(
    "favourite_lists",
    metadata,
    sa.Column("list_id", RunId, primary_key=True),  # shareable: /favourites/<list_id>
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("favourites", LongText, nullable=False),  # JSON list of track ids
    sa.Column("dislikes", LongText, nullable=False),  # JSON list of track ids
    sa.Column("options", LongText, nullable=False),  # JSON recommendation options
    **TABLE_OPTIONS,
)
