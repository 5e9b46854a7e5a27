"""Songs analysed from audio files: their descriptors, and the files themselves.

``tracks`` gains the `audio` feature set's own columns (`schema.AUDIO_ONLY_COLUMNS`), and every
feature column becomes nullable: a song of one set has none of another's (validation holds each
set's songs to its own columns). ``track_files`` lists the files songs were analysed from.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")
_TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
#: Spotify's columns that were NOT NULL (revision 0005 on): (name, type).
_SPOTIFY_REQUIRED = [(name, sa.Double()) for name in ("danceability", "energy", "loudness", "speechiness", "acousticness",
                                                        "instrumentalness", "liveness", "valence", "tempo")] + [
    ("key", sa.Integer()), ("mode", sa.Integer()), ("duration_ms", sa.BigInteger())]
#: The audio set's own columns, as of this revision: (name, type).
_AUDIO_ONLY = [(name, sa.Double()) for name in ("tempo_confidence", "key_strength", "loudness_range", "onset_rate", "dfa_exponent",
                                                "spectral_centroid", "spectral_rolloff", "spectral_flatness", "spectral_contrast",
                                                "zero_crossing_rate", *(f"mfcc_{i}" for i in range(1, 14)))]


def _columns(table: str) -> dict[str, dict]:
    return {c["name"]: c for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    present = _columns("tracks")
    with op.batch_alter_table("tracks") as batch:
        for name, kind in _SPOTIFY_REQUIRED:
            if name in present and not present[name]["nullable"]:
                batch.alter_column(name, existing_type=kind, nullable=True)
        for name, kind in _AUDIO_ONLY:
            if name not in present:
                batch.add_column(sa.Column(name, kind, nullable=True))
    if not sa.inspect(op.get_bind()).has_table("track_files"):
        op.create_table(
            "track_files",
            sa.Column("path_sha256", sa.String(64), primary_key=True),
            sa.Column("path", _LONG_TEXT, nullable=False),
            sa.Column("track_id", sa.String(64), nullable=False),
            sa.Column("size_bytes", sa.BigInteger, nullable=False),
            sa.Column("mtime_ns", sa.BigInteger, nullable=False),
            sa.Column("content_sha256", sa.String(64), nullable=False),
            sa.Column("ingest_run_id", sa.String(32), nullable=False),
            **_TABLE_OPTIONS,
        )
        op.create_index("ix_track_files_track", "track_files", ["track_id"])


def downgrade() -> None:
    op.drop_index("ix_track_files_track", table_name="track_files")
    op.drop_table("track_files")
    with op.batch_alter_table("tracks") as batch:
        for name, _ in _AUDIO_ONLY:
            batch.drop_column(name)
        # Songs of the audio set have no Spotify scores: the columns stay nullable.
