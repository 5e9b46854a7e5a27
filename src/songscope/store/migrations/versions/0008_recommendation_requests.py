"""Recommendation requests stored once, their songs compactly.

Schema 3 to 7 kept one ``recommendations`` row per recommended song, each repeating the whole
request's JSON: 2,479 requests of ten songs wrote 24,790 rows and grew the database from 7.6 to
42.5 MB. Now ``recommendation_requests`` holds each request once (indexed by time, for retention)
and ``recommendation_items`` its songs. The rows of the old table are carried over, then it goes.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")


def upgrade() -> None:
    op.create_table(
        "recommendation_requests",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request", _LONG_TEXT, nullable=False),
        **_OPTIONS,
    )
    op.create_index("ix_recommendation_requests_created_at", "recommendation_requests", ["created_at"])
    op.create_table(
        "recommendation_items",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("rank", sa.Integer, primary_key=True),
        sa.Column("track_id", sa.String(64), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("reason", _LONG_TEXT, nullable=False),
        **_OPTIONS,
    )
    conn = op.get_bind()
    if not sa.inspect(conn).has_table("recommendations"):
        return
    old = sa.table("recommendations", sa.column("request_id"), sa.column("rank"), sa.column("created_at"), sa.column("request"),
                   sa.column("track_id"), sa.column("score"), sa.column("reason"))
    requests = sa.table("recommendation_requests", sa.column("request_id"), sa.column("created_at"), sa.column("request"))
    items = sa.table("recommendation_items", sa.column("request_id"), sa.column("rank"), sa.column("track_id"), sa.column("score"),
                     sa.column("reason"))
    first = sa.select(old.c.request_id, sa.func.min(old.c.rank).label("rank")).group_by(old.c.request_id).subquery()
    conn.execute(requests.insert().from_select(
        ["request_id", "created_at", "request"],
        sa.select(old.c.request_id, old.c.created_at, old.c.request).join(first, sa.and_(first.c.request_id == old.c.request_id,
                                                                                          first.c.rank == old.c.rank))))
    conn.execute(items.insert().from_select(["request_id", "rank", "track_id", "score", "reason"],
                                            sa.select(old.c.request_id, old.c.rank, old.c.track_id, old.c.score, old.c.reason)))
    op.drop_table("recommendations")


def downgrade() -> None:
    op.create_table(
        "recommendations",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("rank", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request", _LONG_TEXT, nullable=False),
        sa.Column("track_id", sa.String(64), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("reason", _LONG_TEXT, nullable=False),
        **_OPTIONS,
    )
    op.execute(
        "INSERT INTO recommendations (request_id, rank, created_at, request, track_id, score, reason) "
        "SELECT i.request_id, i.rank, r.created_at, r.request, i.track_id, i.score, i.reason "
        "FROM recommendation_items i JOIN recommendation_requests r ON r.request_id = i.request_id"
    )
    op.drop_table("recommendation_items")
    op.drop_index("ix_recommendation_requests_created_at", "recommendation_requests")
    op.drop_table("recommendation_requests")
