"""Songs assigned to a clustering run after it was fitted (`songscope assign`).

A catalogue keeps growing after it is clustered. ``late_assignments`` holds each later song's
cluster in a run, with its distance to that cluster's centre (for drift), and
``cluster_assignments_added`` one row per assignment pass with its drift summary.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")


def upgrade() -> None:
    op.create_table(
        "cluster_assignments_added",
        sa.Column("assign_id", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("songs", sa.Integer, nullable=False),
        sa.Column("drift", _LONG_TEXT, nullable=False),
        **_OPTIONS,
    )
    op.create_index("ix_cluster_assignments_added_run_id", "cluster_assignments_added", ["run_id"])
    op.create_table(
        "late_assignments",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("track_id", sa.String(64), primary_key=True),
        sa.Column("cluster", sa.Integer, nullable=False),
        sa.Column("distance", sa.Double, nullable=False),
        sa.Column("assign_id", sa.String(32), nullable=False),
        **_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("late_assignments")
    op.drop_table("cluster_assignments_added")
