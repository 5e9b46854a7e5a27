"""Each ingest carries the order it committed in: ``ingest_runs.commit_order`` (1, 2, 3, ...).

"Ingest order" (the provenance files read in turn, the catalogue's first feature set) was the
order of ``started_at``, a clock: MySQL/MariaDB keep it to the second, so ingests within one
second tied, and an ingest that starts first may commit last. The writer now numbers each ingest
under the catalogue's lock, where commits are serial, so the order is exact on every database.

Existing ingests are numbered by the best the database kept: the time each finished (set under
the same lock), then the time it started, then the first source it read (sources are numbered
as first read), then its id.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_UNIQUE = "uq_ingest_runs_commit_order"


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def _number_existing_ingests() -> None:
    runs = sa.table("ingest_runs", sa.column("run_id"), sa.column("started_at"), sa.column("finished_at"), sa.column("commit_order"))
    sources = sa.table("sources", sa.column("source_id"), sa.column("first_run_id"))
    first_source = (sa.select(sources.c.first_run_id, sa.func.min(sources.c.source_id).label("first_source"))
                    .group_by(sources.c.first_run_id).subquery())
    query = (sa.select(runs.c.run_id, runs.c.finished_at, runs.c.started_at, first_source.c.first_source)
             .join_from(runs, first_source, runs.c.run_id == first_source.c.first_run_id, isouter=True))
    bind = op.get_bind()
    rows = list(bind.execute(query))
    # In Python, not SQL: NULLs sort differently per database, and a source-less ingest (a prune,
    # a re-read of known files) goes after those of the same instant that read one.
    unknown = float("inf")
    rows.sort(key=lambda r: (r.finished_at, r.started_at, unknown if r.first_source is None else r.first_source, r.run_id))
    for number, row in enumerate(rows, start=1):
        bind.execute(runs.update().where(runs.c.run_id == row.run_id).values(commit_order=number))


def upgrade() -> None:
    if "commit_order" not in _columns("ingest_runs"):
        with op.batch_alter_table("ingest_runs") as batch:
            batch.add_column(sa.Column("commit_order", sa.BigInteger, nullable=True))
        _number_existing_ingests()
        with op.batch_alter_table("ingest_runs") as batch:
            batch.alter_column("commit_order", existing_type=sa.BigInteger, nullable=False)
            batch.create_unique_constraint(_UNIQUE, ["commit_order"])


def downgrade() -> None:
    with op.batch_alter_table("ingest_runs") as batch:
        batch.drop_constraint(_UNIQUE, type_="unique")
        batch.drop_column("commit_order")
