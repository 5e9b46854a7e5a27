"""Each ingest records the feature set its songs are described by (`schema.FEATURE_SETS`).

Every stage reads the catalogue's set from here: the features its ingests share. Ingests before
this revision read Spotify's tables, so their rows say ``spotify``.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database completed from a release before Alembic got today's table, column included.
    if "feature_set" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("ingest_runs")}:
        return
    with op.batch_alter_table("ingest_runs") as batch:
        batch.add_column(sa.Column("feature_set", sa.String(64), nullable=False, server_default="spotify"))


def downgrade() -> None:
    with op.batch_alter_table("ingest_runs") as batch:
        batch.drop_column("feature_set")
