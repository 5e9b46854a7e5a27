"""A song has one or more artists; a merge record counts the rows it dropped.

``track_artists`` holds the artists, in order, of each song that has several or whose file gave
their ids (position 0 is ``tracks.artist_name``, the display name); a song of one artist and no
id has no row. A stored song whose artist text is a Python list literal (``['Dick Haymes', 'Bing
Crosby']``, as the public "Spotify Dataset 1921-2020" dumps write it, which earlier releases
stored as one artist) is split: its ``artist_name`` becomes the first artist, its near-duplicate
key is computed again from the artists as a set, and a song of several gets its rows. ``track_duplicates.dropped_rows`` counts the input rows one merge dropped (a
track id listed three times is one record of two rows; earlier releases crashed on it).

Downgrade writes a split song's artists back as the list literal they were read from.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
#: Songs split per statement: bounds the memory a big catalogue takes.
_BATCH = 5_000

_tracks = sa.table("tracks", sa.column("track_id"), sa.column("artist_name"), sa.column("track_name"), sa.column("duration_ms"),
                   sa.column("near_key"))
_artists = sa.table("track_artists", sa.column("track_id"), sa.column("position"), sa.column("name"), sa.column("artist_id"))


def _near_keys(artist_sets, names, durations):
    import pandas as pd

    from songscope.artists import set_keys
    from songscope.identity import near_keys

    return near_keys(pd.Series(set_keys(artist_sets), dtype=object), pd.Series(names, dtype=object), pd.Series(durations, dtype=object))


def upgrade() -> None:
    from songscope.artists import SEPARATOR, looks_like_list, parse

    # A database completed from a release before Alembic got today's table, column included.
    if "dropped_rows" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("track_duplicates")}:
        with op.batch_alter_table("track_duplicates") as batch:
            batch.add_column(sa.Column("dropped_rows", sa.Integer, nullable=False, server_default="1"))
    op.create_table(
        "track_artists",
        sa.Column("track_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("artist_id", sa.String(64)),
        **_OPTIONS,
    )
    conn = op.get_bind()
    bracketed = _tracks.c.artist_name.like("[%")  # only these can be list literals
    after = ""
    while True:
        rows = list(conn.execute(sa.select(_tracks.c.track_id, _tracks.c.artist_name, _tracks.c.track_name, _tracks.c.duration_ms)
                                 .where(bracketed, _tracks.c.track_id > after).order_by(_tracks.c.track_id).limit(_BATCH)))
        if not rows:
            break
        names = [parse(r.artist_name).names if looks_like_list(r.artist_name) else () for r in rows]
        names = [found if found else (r.artist_name,) for found, r in zip(names, rows)]
        keys = _near_keys([SEPARATOR.join(n) for n in names], [r.track_name for r in rows], [r.duration_ms for r in rows])
        several = [{"track_id": r.track_id, "position": p, "name": name, "artist_id": None}
                   for r, found in zip(rows, names) if len(found) > 1 for p, name in enumerate(found)]
        if several:
            conn.execute(_artists.insert(), several)
        changed = [{"id": r.track_id, "first": found[0], "key": int(key)} for r, found, key in zip(rows, names, keys) if found[0] != r.artist_name]
        if changed:
            conn.execute(_tracks.update().where(_tracks.c.track_id == sa.bindparam("id")).values(
                artist_name=sa.bindparam("first"), near_key=sa.bindparam("key")), changed)
        after = rows[-1].track_id


def downgrade() -> None:
    conn = op.get_bind()
    several = (sa.select(_artists.c.track_id).where(_artists.c.position > 0).distinct()).subquery()
    after = ""
    while True:
        ids = list(conn.execute(sa.select(several.c.track_id).where(several.c.track_id > after).order_by(several.c.track_id).limit(_BATCH)).scalars())
        if not ids:
            break
        found: dict[str, list[str]] = {}
        for row in conn.execute(sa.select(_artists.c.track_id, _artists.c.name).where(_artists.c.track_id.in_(ids))
                                .order_by(_artists.c.track_id, _artists.c.position)):
            found.setdefault(row.track_id, []).append(row.name)
        details = {r.track_id: r for r in conn.execute(sa.select(_tracks.c.track_id, _tracks.c.track_name, _tracks.c.duration_ms)
                                                         .where(_tracks.c.track_id.in_(ids)))}
        written = {track_id: repr(names) for track_id, names in found.items() if track_id in details}
        keys = _near_keys(list(written.values()), [details[t].track_name for t in written], [details[t].duration_ms for t in written])
        if written:
            conn.execute(_tracks.update().where(_tracks.c.track_id == sa.bindparam("id")).values(
                artist_name=sa.bindparam("text"), near_key=sa.bindparam("key")),
                [{"id": t, "text": text, "key": int(k)} for (t, text), k in zip(written.items(), keys)])
        after = ids[-1]
    op.drop_table("track_artists")
    with op.batch_alter_table("track_duplicates") as batch:
        batch.drop_column("dropped_rows")
