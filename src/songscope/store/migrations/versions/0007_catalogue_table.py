"""The lake catalogue as a table of immutable files, with the database as its manifest.

Adds ``catalogue_files`` (the Parquet files readers read, committed with their tracks), ``locks``
(the row a catalogue writer holds until it commits) and ``tracks.near_key`` (so a later ingest
finds a known artist, track name and duration through an index instead of loading the catalogue),
computed here for the tracks already stored. The lake's single ``catalogue/tracks.parquet`` of
earlier releases is moved into the table on first use (`songscope.store.catalogue`), since that
needs the lake, which a schema migration does not know.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from songscope.identity import near_keys

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_CHUNK = 50_000


def upgrade() -> None:
    op.create_table(
        "catalogue_files",
        sa.Column("file_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lake_key", sa.String(255), nullable=False, unique=True),
        sa.Column("ingest_run_id", sa.String(32)),
        sa.Column("content", sa.String(16), nullable=False, server_default="tracks"),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        **_OPTIONS,
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(32)),
        sa.Column("since", sa.DateTime(timezone=True)),
        **_OPTIONS,
    )
    # A database from before Alembic has its tables completed from today's definitions (see
    # `db.migrate`), which already carry the column: add only what is missing.
    inspector = sa.inspect(op.get_bind())
    if "near_key" not in {c["name"] for c in inspector.get_columns("tracks")}:
        with op.batch_alter_table("tracks") as batch:
            batch.add_column(sa.Column("near_key", sa.BigInteger))
    if "ix_tracks_near_key" not in {i["name"] for i in inspector.get_indexes("tracks")}:
        op.create_index("ix_tracks_near_key", "tracks", ["near_key"])
    _fill_near_keys(op.get_bind())


def _fill_near_keys(conn) -> None:
    tracks = sa.table("tracks", sa.column("track_id"), sa.column("artist_name"), sa.column("track_name"),
                      sa.column("duration_ms"), sa.column("near_key"))
    rows = conn.execute(sa.select(tracks.c.track_id, tracks.c.artist_name, tracks.c.track_name, tracks.c.duration_ms)).all()
    update = tracks.update().where(tracks.c.track_id == sa.bindparam("id")).values(near_key=sa.bindparam("key"))
    import pandas as pd

    for start in range(0, len(rows), _CHUNK):
        part = pd.DataFrame(rows[start : start + _CHUNK], columns=["track_id", "artist_name", "track_name", "duration_ms"])
        keys = near_keys(part["artist_name"], part["track_name"], part["duration_ms"])
        conn.execute(update, [{"id": i, "key": int(k)} for i, k in zip(part["track_id"], keys)])


def downgrade() -> None:
    op.drop_index("ix_tracks_near_key", "tracks")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("near_key")
    op.drop_table("locks")
    op.drop_table("catalogue_files")
