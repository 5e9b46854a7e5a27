"""A cluster run's evidence in the database: bootstrap stability and seed agreement, the null
model, feature tests, external validity (before: a ``summary.json`` in the lake that only the
report read).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_run_details",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("details", sa.Text().with_variant(mysql.LONGTEXT(), "mysql"), nullable=False),
        mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin", mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("cluster_run_details")
