"""Provenance lives in the lake alone: ``track_sources`` becomes ``legacy_track_sources``.

Each ingest's provenance (which input row became which track) was kept twice: as rows of
``track_sources`` and as the ingest's ``provenance.parquet`` in the lake. The lake's file is now
the one record. The rows cannot reach the lake from here (a migration knows only the database),
so this revision renames the table, rows and all, and `songscope.store.provenance` moves its rows
into the lake under the catalogue's lock the first time the store is used, then drops it.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("track_sources"):
        op.rename_table("track_sources", "legacy_track_sources")


def downgrade() -> None:
    # Rows already moved into the lake stay there; the table comes back with what was not moved.
    if sa.inspect(op.get_bind()).has_table("legacy_track_sources"):
        op.rename_table("legacy_track_sources", "track_sources")
    else:
        op.create_table("track_sources", sa.Column("track_id", sa.String(64), primary_key=True),
                        sa.Column("source_id", sa.Integer, primary_key=True), sa.Column("line", sa.BigInteger, primary_key=True),
                        mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin", mysql_engine="InnoDB")
        op.create_index("ix_track_sources_source", "track_sources", ["source_id"])
