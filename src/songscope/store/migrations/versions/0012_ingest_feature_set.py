"""Each ingest records the feature set its songs are described by; a cluster's centre is spelled so.

``ingest_runs.feature_set`` names the set (`schema.FEATURE_SETS`): every stage reads the
catalogue's set from here, the features its ingests share. Ingests before this revision read
Spotify's tables, so their rows say ``spotify``.

``cluster_centroids.center`` becomes ``centre``: songscope spells the word one way throughout.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def _rename_centre(old: str, new: str) -> None:
    # A database completed from a release before Alembic got today's tables, names included.
    if old in _columns("cluster_centroids"):
        with op.batch_alter_table("cluster_centroids") as batch:
            batch.alter_column(old, new_column_name=new, existing_type=_LONG_TEXT, existing_nullable=False)


def upgrade() -> None:
    if "feature_set" not in _columns("ingest_runs"):
        with op.batch_alter_table("ingest_runs") as batch:
            batch.add_column(sa.Column("feature_set", sa.String(64), nullable=False, server_default="spotify"))
    _rename_centre("center", "centre")


def downgrade() -> None:
    _rename_centre("centre", "center")
    with op.batch_alter_table("ingest_runs") as batch:
        batch.drop_column("feature_set")
