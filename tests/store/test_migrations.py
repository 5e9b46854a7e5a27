"""Schema migrations with Alembic: a database made by the release before Alembic (schema v5) is
upgraded in place on SQLite, PostgreSQL and MariaDB; older and newer schemas are handled."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from songscope import schema
from songscope.config import Settings
from songscope.identity import near_keys
from songscope.store import db, keys
from songscope.store.catalogue import health as catalogue_health
from songscope.store.catalogue import read_provenance
from songscope.store.lake import Lake, LakeError
from songscope.store.runs import ClusterRun
from songscope.store.store import Store
from songscope.textcolumns import arrow_text
from tests.conftest import ingest, load_catalogue
from tests.test_bad_inputs import HEADER, row

#: Made by songscope 477d4c1 (schema v5): `ingest data/seed/tutorial_data.csv`, `cluster --k 3
#: --resamples 2`, `recommend "Future - Life Is Good (feat. Drake)" -n 3`, a saved list and a report.
V5_DATABASE = Path(__file__).with_name("data") / "songscope-v5.db.gz"
#: The lake's summary.json of that database's run, where v5 kept the run's evidence.
V5_RUN_SUMMARY = Path(__file__).with_name("data") / "songscope-v5-run-summary.json"
V5_TABLES = [name for version in sorted(db.LEGACY_TABLES) for name in db.LEGACY_TABLES[version]]


def _v5_file(folder: Path) -> Path:
    target = folder / "songscope-v5.db"
    with gzip.open(V5_DATABASE) as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    return target


def _v5_database(url: str, folder: Path) -> dict[str, int]:
    """The release's v5 database at `url` (the file itself on SQLite; its schema, as the release's
    migrations created it, and its rows on a server); returns each table's row count."""
    original = sa.create_engine(f"sqlite:///{_v5_file(folder)}")
    with original.connect() as conn:
        tables = {name: pd.read_sql_table(name, conn) for name in ["songscope_schema", *V5_TABLES]}
    original.dispose()
    if url.startswith("sqlite"):
        shutil.copy(folder / "songscope-v5.db", url.removeprefix("sqlite:///"))
    else:
        database = sa.create_engine(url + ("?charset=utf8mb4" if url.startswith("mysql") else ""))
        with database.begin() as conn:
            v5 = [_v5_table(name) for name in V5_TABLES]
            db.metadata.create_all(conn, tables=[db.schema_table, *(t for t in v5 if t.metadata is db.metadata)])
            db.legacy_metadata.create_all(conn, tables=[t for t in v5 if t.metadata is db.legacy_metadata])
            for table in v5:
                if table.metadata not in (db.metadata, db.legacy_metadata):
                    table.create(conn)
            for name, frame in tables.items():
                table = _v5_table(name)
                if "centre" in table.c:  # today's table, as a database completed before Alembic has it
                    frame = frame.rename(columns={"center": "centre"})
                for column in ("created_at", "started_at", "finished_at", "applied_at"):
                    if column in frame:
                        moment = pd.to_datetime(frame[column], utc=True, format="mixed")
                        frame[column] = moment.dt.tz_convert(None) if url.startswith("mysql") else moment  # MariaDB takes no offset
                if len(frame):
                    conn.execute(table.insert(), frame.astype(object).where(frame.notna(), None).to_dict("records"))
        database.dispose()
    return {name: len(frame) for name, frame in tables.items() if name != "songscope_schema"}


#: Columns of today's tables that no database made before Alembic can have: added by a revision
#: that fills them in (an ingest's commit order, 0016), not made by completing a release's tables.
_AFTER_V5 = {"ingest_runs": {"commit_order"}}


def _v5_table(name: str):
    """A table as release v5 had it: today's (less the columns of `_AFTER_V5`), or the one a later
    schema replaced."""
    table = db.metadata.tables.get(name, db.legacy_metadata.tables.get(name))
    if name not in _AFTER_V5:
        return table
    columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable,
                         server_default=c.server_default.arg if c.server_default is not None else None)
               for c in table.columns if c.name not in _AFTER_V5[name]]
    return sa.Table(name, sa.MetaData(), *columns, **db.TABLE_OPTIONS)


def test_release_v5_database_is_upgraded_in_place(db_url, tmp_path):
    before = _v5_database(db_url, tmp_path)
    assert before["tracks"] == 1_742 and before["cluster_runs"] == 1 and before["recommendations"] == 3
    probe = sa.create_engine(db_url + ("?charset=utf8mb4" if db_url.startswith("mysql") else ""))
    assert db.schema_version(probe) == 5
    probe.dispose()

    with Store(Settings(db_url=db_url, lake_url=str(tmp_path / "lake"))) as store:
        assert db.schema_version(store.db) == db.SCHEMA_VERSION == 16
        with store.db.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == db.SCHEMA_REVISION
            # Releases from before Alembic read this table: they now refuse the newer database.
            assert conn.execute(sa.select(sa.func.max(db.schema_table.c.version))).scalar() == 16
            after = {name: conn.execute(sa.select(sa.func.count()).select_from(db.metadata.tables[name])).scalar()
                     for name in V5_TABLES if name not in ("recommendations", "track_sources")}
            requests = db.read_table(store.db, db.recommendation_requests)
        # Nothing lost, nothing added: revisions 8 and 10 carried every recommended song over, and
        # the store moved the provenance that revision 14 set aside into the lake.
        after["recommendations"] = sum(len(db.recommended_songs(items)) for items in requests["items"])
        after["track_sources"] = len(read_provenance(store))
        assert not sa.inspect(store.db).has_table("legacy_track_sources")
        assert after == before
        assert len(requests) == 1 and json.loads(requests["request"].iloc[0])["favourites"]  # the request once
        old = ClusterRun.load(store)
        assert old.k == 3 and old.n_tracks == 1_742 and old.metrics["silhouette"] > 0
        assert old.stability == {} and old.null_model == {}  # a v5 run kept its evidence in the lake, not in the database ...
        # ... in a summary.json, read when the lake still has it.
        store.lake.write_bytes(keys.legacy_run_summary(old.run_id), V5_RUN_SUMMARY.read_bytes())
        old = ClusterRun.load(store)
        assert old.null_model["k"] == 3 and old.null_model["structure"] is True and old.stability["resamples"] == 2
        assert [t["feature"] for t in old.feature_tests][:2] and len(old.feature_tests) == 11
        # The new table is there: a run saved now keeps its evidence in the database.
        assert sa.inspect(store.db).has_table("cluster_run_details")
        # Revision 7 keyed every stored track for near duplicates across ingests.
        tracks = db.read_table(store.db, db.tracks)
        assert tracks["near_key"].notna().all()
        assert (tracks["near_key"].astype("int64").to_numpy() == near_keys(tracks["artist_name"], tracks["track_name"], tracks["duration_ms"])).all()
        # Revision 12: the ingests from before feature sets read Spotify's tables, and say so.
        assert set(db.read_table(store.db, db.ingest_runs)["feature_set"]) == {"spotify"}
        # Revision 13: every feature column takes songs of any set; the audio set's own are there, and its files.
        columns = {c["name"]: c for c in sa.inspect(store.db).get_columns("tracks")}
        assert columns["danceability"]["nullable"] and columns["tempo"]["nullable"] and columns["mfcc_13"]["nullable"]
        assert sa.inspect(store.db).has_table("track_files")
        assert (tracks["danceability"].notna()).all()  # the Spotify songs keep every value
    again = db.connect(db_url)  # a second connect changes nothing
    assert db.schema_version(again) == 16
    again.dispose()


def test_database_from_an_early_release_is_completed_then_upgraded(db_url):
    database = sa.create_engine(db_url + ("?charset=utf8mb4" if db_url.startswith("mysql") else ""))
    with database.begin() as conn:  # schema v1: the catalogue tables only
        tables = [_v5_table(name) for name in db.LEGACY_TABLES[1]]
        db.metadata.create_all(conn, tables=[db.schema_table, *(t for t in tables if t.metadata is db.metadata)])
        db.legacy_metadata.create_all(conn, tables=[t for t in tables if t.metadata is db.legacy_metadata])
        conn.execute(db.schema_table.insert().values(version=1, applied_at=db.now()))
    assert db.schema_version(database) == 1
    database.dispose()
    database = db.connect(db_url)
    assert db.schema_version(database) == db.SCHEMA_VERSION == 16
    assert all(sa.inspect(database).has_table(t) for t in ("cluster_runs", "recommendation_requests", "reports", "favourite_lists", "cluster_run_details"))
    assert not sa.inspect(database).has_table("recommendations")  # carried over by 0008, then dropped
    assert sa.inspect(database).has_table("legacy_track_sources")  # set aside by 0014, for the store to move into the lake
    database.dispose()


def test_revision_10_moves_each_request_s_songs_into_its_row_and_back(db_url):
    """Revision 0010: a request's songs, one row each before, become its ``items`` JSON in rank
    order, every value as it was; going back down restores the rows."""
    from alembic import command

    database = db.connect(db_url)
    with database.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0009")
    songs = sa.table("recommendation_items", sa.column("request_id"), sa.column("rank"), sa.column("track_id"), sa.column("score"),
                     sa.column("reason"))
    requests = sa.table("recommendation_requests", sa.column("request_id"), sa.column("created_at"), sa.column("request"))
    before = pd.DataFrame({"request_id": ["r1", "r1", "r1", "r2", "r2"], "rank": [2, 1, 3, 1, 2],
                           "track_id": ["b", "a", "c\u00e9\"", "a", "d"], "score": [0.5, 0.75, 1 / 3, 0.9, 0.1],
                           "reason": ['{"reason":"close to x"}', '{"reason":"\u00e9","cluster":2}', "{}", '{"k":[1,2]}', '{"k":null}']})
    with database.begin() as conn:
        conn.execute(requests.insert(), [{"request_id": r, "created_at": db.now(), "request": "{}"} for r in ("r1", "r2", "r3")])
        conn.execute(songs.insert(), before.to_dict("records"))
    database.dispose()

    database = db.connect(db_url)  # up to today's schema
    stored = db.read_table(database, db.recommendation_requests).set_index("request_id")
    assert not sa.inspect(database).has_table("recommendation_items")
    for request_id in ("r1", "r2"):
        expected = before[before["request_id"] == request_id].sort_values("rank")
        got = db.recommended_songs(stored.loc[request_id, "items"])
        assert list(got["rank"]) == list(expected["rank"]) and list(got["track_id"]) == list(expected["track_id"])
        assert list(got["score"]) == list(expected["score"]) and list(got["reason"]) == [json.loads(r) for r in expected["reason"]]
    assert len(db.recommended_songs(stored.loc["r3", "items"])) == 0  # a request with no songs: an empty list

    with database.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0009")
    with database.connect() as conn:
        back = pd.read_sql(sa.select(songs).order_by(songs.c.request_id, songs.c.rank), conn)
    database.dispose()
    expected = before.sort_values(["request_id", "rank"]).reset_index(drop=True)
    columns = ["request_id", "rank", "track_id", "score"]
    pd.testing.assert_frame_equal(back[columns], expected[columns], check_dtype=False, check_exact=True)
    assert [json.loads(r) for r in back["reason"]] == [json.loads(r) for r in expected["reason"]]


def test_revision_11_splits_list_literal_artists_and_counts_merges(db_url):
    """Revision 0011: a stored song whose artist text is a list literal (what earlier releases
    stored from the 1921-2020 dumps) gets its artists, the first as its artist_name, and the near
    key of its artists as a set; a song of several gets its rows in ``track_artists``; merge
    records count one row. Going back down writes several artists back as their literal, key and all."""
    from alembic import command

    from songscope.identity import near_keys

    database = db.connect(db_url)
    with database.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0010")
    texts = ["['Dick Haymes', 'Bing Crosby']", "[\"Guns N' Roses\"]", "[spunge]", "Bing Crosby", "['Broken'"]
    rows = pd.DataFrame({"track_id": [f"t{i}" for i in range(len(texts))], "artist_name": texts, "track_name": "Song",
                         "duration_ms": 200_000})
    old_keys = near_keys(rows["artist_name"], rows["track_name"], rows["duration_ms"])
    audio_only = {c.name for c in schema.AUDIO_ONLY_COLUMNS}  # revision 13's: not there at 10
    values = {c.name: 0.5 for c in db.tracks.columns if c.name not in ("artist_name", "track_name", "track_id", "duration_ms") and c.name not in audio_only}
    values |= {"key": 1, "mode": 1, "popularity": 3, "time_signature": 4, "is_outlier": False, "outlier_rules": "", "ingest_run_id": "r"}
    duplicates = sa.table("track_duplicates", sa.column("ingest_run_id"), sa.column("rule"), sa.column("kept_track_id"),
                          sa.column("dropped_track_id"), sa.column("detail"))
    with database.begin() as conn:
        conn.execute(db.tracks.insert(), [values | r | {"near_key": int(k)} for r, k in zip(rows.to_dict("records"), old_keys)])
        conn.execute(duplicates.insert().values(ingest_run_id="r", rule="same track_id, conflicting values", kept_track_id="t0",
                                                dropped_track_id="t0", detail="popularity: kept 3, dropped 2"))
    database.dispose()

    database = db.connect(db_url)  # up to today's schema
    with database.connect() as conn:
        artists = pd.read_sql(sa.select(db.track_artists).order_by(db.track_artists.c.track_id, db.track_artists.c.position), conn)
        tracks = pd.read_sql(sa.select(db.tracks.c.track_id, db.tracks.c.artist_name, db.tracks.c.near_key).order_by(db.tracks.c.track_id), conn)
        merges = pd.read_sql(sa.select(db.track_duplicates.c.dropped_rows), conn)
    assert {t: list(group["name"]) for t, group in artists.groupby("track_id")} == {"t0": ["Dick Haymes", "Bing Crosby"]}
    assert artists["artist_id"].isna().all() and list(artists["position"]) == [0, 1]
    assert list(tracks["artist_name"]) == ["Dick Haymes", "Guns N' Roses", "[spunge]", "Bing Crosby", "['Broken'"]
    new_keys = near_keys(pd.Series(["Bing Crosby\x1fDick Haymes", "Guns N' Roses", *texts[2:]]), rows["track_name"], rows["duration_ms"])
    assert list(tracks["near_key"]) == [int(k) for k in new_keys]
    assert list(merges["dropped_rows"]) == [1]

    with database.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0010")
    with database.connect() as conn:
        back = pd.read_sql(sa.select(db.tracks.c.artist_name, db.tracks.c.near_key).order_by(db.tracks.c.track_id), conn)
        assert not sa.inspect(conn).has_table("track_artists")
    database.dispose()
    # A song of several artists is written back as their literal; one of one artist keeps its name.
    assert list(back["artist_name"]) == ["['Dick Haymes', 'Bing Crosby']", "Guns N' Roses", "[spunge]", "Bing Crosby", "['Broken'"]
    assert list(back["near_key"]) == [int(old_keys[0])] + [int(k) for k in new_keys[1:]]


def test_revision_14_moves_provenance_into_the_lake_with_nothing_lost(db_url, settings_factory, tmp_path, monkeypatch):
    """Revision 0014: the provenance a database held (``track_sources``, up to 0013) moves into the
    lake on the store's first use: each source's rows into the file of the ingest that first read
    it, replacing the raw copy that ingest wrote; an ingest of known sources only keeps no file. A
    failure midway leaves every row in the database, and the next use moves them all."""
    from alembic import command

    settings = settings_factory(db_url=db_url)
    first, later = tmp_path / "first.csv", tmp_path / "later.csv"
    first.write_text(f"{HEADER}\n{row('orig00000000000000000001', 'Nina Simone', 'Feeling Good')}\n"
                     f"{row('other0000000000000000001', 'Nina Simone', 'Sinnerman')}\n")
    later.write_text(f"{HEADER}\n{row('reissue00000000000000001', 'Nina Simone', 'Feeling Good')}\n"
                     f"{row('new000000000000000000001', 'Someone', 'New')}\n")
    runs = [ingest([str(path)], settings).record.run_id for path in (first, later, later)]
    with Store(settings) as store:
        expected = read_provenance(store)
    assert list(expected["track_id"]) == ["orig00000000000000000001", "other0000000000000000001",
                                          "orig00000000000000000001", "new000000000000000000001"]  # the reissue credited

    # As a release before 0014 left it: the rows in the database, a raw copy of each ingest's in the lake.
    database = db.connect(db_url)
    with database.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0013")
    with database.begin() as conn:
        legacy = sa.table("track_sources", sa.column("track_id"), sa.column("source_id"), sa.column("line"))
        conn.execute(legacy.insert(), expected[["track_id", "source_id", "line"]].astype(object).to_dict("records"))
    database.dispose()
    lake = Lake(settings.lake_url)
    for run_id in runs:
        lake.write_table(keys.ingest_provenance(run_id), pa.table({"track_id": ["raw"], "source": ["x"], "line": [2]}))

    original = Lake.write_tables
    written: list[str] = []

    def fails_on_the_second_file(self, key, *args, **kwargs):
        if written:
            raise LakeError(f"cannot write {key}: no space left on device")
        written.append(key)
        return original(self, key, *args, **kwargs)

    with Store(settings) as store:
        monkeypatch.setattr(Lake, "write_tables", fails_on_the_second_file)
        with pytest.raises(LakeError, match="no space left"):
            read_provenance(store)
        monkeypatch.setattr(Lake, "write_tables", original)
        assert db.read_table(store.db, db.legacy_track_sources).shape[0] == len(expected)  # every row still there
    with Store(settings) as store:
        moved = read_provenance(store)
        assert not sa.inspect(store.db).has_table("legacy_track_sources") and not sa.inspect(store.db).has_table("track_sources")
    pd.testing.assert_frame_equal(moved, expected)
    assert not lake.exists(keys.ingest_provenance(runs[2]))  # it read a known source: the database kept none of its rows
    with Store(settings) as store:
        assert catalogue_health(store).in_step and len(read_provenance(store)) == 4  # once moved, left alone


def _commit_orders(database) -> dict[str, int]:
    with database.connect() as conn:
        return dict(conn.execute(sa.select(db.ingest_runs.c.run_id, db.ingest_runs.c.commit_order)).all())


def test_revision_16_numbers_ingests_in_the_order_they_committed(db_url, settings_factory, tmp_path):
    """Revision 0016: each ingest is numbered as it commits, and "ingest order" is that number, not
    a clock. Ingests made before it are numbered by finish time, then by the first source each read
    (MySQL kept times to the second, so several ingests may tie), a source-less one last."""
    from alembic import command

    settings = settings_factory(db_url=db_url)
    files = []
    for number in range(3):
        path = tmp_path / f"part{number}.csv"
        path.write_text(f"{HEADER}\n{row(f'song{number}000000000000000001', f'Artist {number}', 'Song')}\n")
        files.append(path)
    runs = [ingest([str(path)], settings).record.run_id for path in [*files, files[0]]]  # the last reads a known file
    database = db.connect(db_url)
    assert _commit_orders(database) == {run: number for number, run in enumerate(runs, start=1)}
    with pytest.raises(sa.exc.IntegrityError), database.begin() as conn:  # one number, one ingest
        conn.execute(sa.update(db.ingest_runs).where(db.ingest_runs.c.run_id == runs[1]).values(commit_order=1))

    with database.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0015")
    assert "commit_order" not in {c["name"] for c in sa.inspect(database).get_columns("ingest_runs")}
    same_second = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    old_runs = sa.table("ingest_runs", sa.column("run_id"), sa.column("started_at"), sa.column("finished_at"))
    with database.begin() as conn:  # as a release on MySQL left them: three tied, the first finished last
        conn.execute(old_runs.update().values(started_at=same_second, finished_at=same_second))
        conn.execute(old_runs.update().where(old_runs.c.run_id == runs[0]).values(finished_at=same_second + timedelta(seconds=1)))
    database.dispose()
    database = db.connect(db_url)  # up again
    assert _commit_orders(database) == {runs[1]: 1, runs[2]: 2, runs[3]: 3, runs[0]: 4}
    database.dispose()
    with Store(settings) as store:
        assert list(read_provenance(store)["track_id"]) == ["song1000000000000000001", "song2000000000000000001", "song0000000000000000001"]
    ingest([str(files[1])], settings)  # a new ingest goes after every numbered one
    database = db.connect(db_url)
    assert sorted(_commit_orders(database).values()) == [1, 2, 3, 4, 5]
    database.dispose()


def _track_id_collations(database) -> dict[tuple[str, str], str | None]:
    with database.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name IN ('track_id', 'kept_track_id', 'dropped_track_id')"))
        return {(table, column): collation for table, column, collation in rows}


def test_revision_15_makes_every_track_id_compare_bytewise_on_postgresql(postgres_url, settings_factory, seed_files):
    """Revision 0015: on PostgreSQL every track id column takes the "C" collation (made so, and
    migrated so from 0014 with its rows and keys), and back to the server's default going down."""
    from alembic import command

    settings = settings_factory(db_url=postgres_url)
    ingest(seed_files, settings)
    database = db.connect(postgres_url)
    made = _track_id_collations(database)
    assert made and set(made.values()) == {"C"}, made
    with database.begin() as conn:
        command.downgrade(db.alembic_config(conn), "0014")
    assert set(_track_id_collations(database).values()) == {None}  # the server's default
    database.dispose()
    database = db.connect(postgres_url)  # up again, rows and keys kept
    assert _track_id_collations(database) == made
    assert db.counts(database)["tracks"] == 15_626
    with pytest.raises(sa.exc.IntegrityError), database.begin() as conn:
        conn.execute(sa.text("INSERT INTO tracks SELECT * FROM tracks LIMIT 1"))
    database.dispose()


@pytest.mark.parametrize("newer", ["alembic", "legacy"])
def test_newer_schema_is_refused_untouched(sqlite_url, newer):
    database = db.connect(sqlite_url)
    with database.begin() as conn:
        if newer == "alembic":  # a revision after this songscope's head
            conn.execute(sa.text(f"UPDATE alembic_version SET version_num = '{db.SCHEMA_VERSION + 1:04d}'"))
        else:
            conn.execute(db.schema_table.insert().values(version=db.SCHEMA_VERSION + 1, applied_at=db.now()))
    with pytest.raises(db.DatabaseError, match="newer than this songscope"):
        db.migrate(database)
    database.dispose()


def test_alembic_head_is_the_revision_the_code_expects():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(Path(db.__file__).with_name("migrations")))
    assert script.get_current_head() == db.SCHEMA_REVISION
    assert [r.revision for r in script.walk_revisions()][-1] == db.LEGACY_REVISION


#: Made by songscope 95ed92c (schema 6): `ingest data/seed/tutorial_data.csv`; its lake holds the
#: whole catalogue in one file, catalogue/tracks.parquet, and the ingest's own folder.
V6_DATABASE = Path(__file__).with_name("data") / "songscope-v6.db.gz"
V6_LAKE = Path(__file__).with_name("data") / "songscope-v6-lake.tar.gz"


def _v6_stores(folder: Path) -> Settings:
    import tarfile

    with gzip.open(V6_DATABASE) as source, open(folder / "songscope.db", "wb") as sink:
        shutil.copyfileobj(source, sink)
    with tarfile.open(V6_LAKE) as archive:
        archive.extractall(folder, filter="data")
    return Settings(db_url=f"sqlite:///{folder / 'songscope.db'}", lake_url=str(folder / "lake"))


def test_release_v6_lake_is_moved_into_the_catalogue_table_on_first_use(tmp_path):
    settings = _v6_stores(tmp_path)
    # Its text read as the catalogue reads text (Arrow-backed strings).
    legacy = pq.read_table(tmp_path / "lake" / keys.LEGACY_CATALOGUE).to_pandas(types_mapper=arrow_text)
    old_ingest_files = sorted(p.relative_to(tmp_path / "lake").as_posix() for p in (tmp_path / "lake" / "ingest").rglob("*") if p.is_file())
    with Store(settings) as store:
        catalogue = store.catalogue()
        health = catalogue_health(store)
        lake_keys = store.lake.keys()
    # Every value, label column and row order kept; the songs' artists read from their artist text.
    pd.testing.assert_frame_equal(catalogue.drop(columns=["artists"]), legacy)
    assert catalogue["artists"].tolist() == legacy["artist_name"].tolist()
    assert health.in_step and health.database_tracks == health.lake_tracks == 1_742 and health.files == 1
    assert keys.LEGACY_CATALOGUE not in lake_keys  # moved, not copied
    assert [k for k in lake_keys if k.startswith("ingest/")] == old_ingest_files  # a committed ingest's record stays
    again = ingest([str(Path("data/seed/world_data.csv").resolve())], settings)
    assert again.stored.swept == []
    assert len(load_catalogue(settings)) == again.catalogue_rows == 1_742 + again.record.tracks_added


def test_a_split_v6_lake_is_repaired_from_the_database(tmp_path):
    """The earlier release could leave the lake's file ahead of, or behind, the database (a crash
    between its two writes): the migration takes the database's tracks, whatever the file holds."""
    settings = _v6_stores(tmp_path)
    legacy = pd.read_parquet(tmp_path / "lake" / keys.LEGACY_CATALOGUE)
    ghost = legacy.iloc[:5].assign(track_id=[f"ghost{i:017d}" for i in range(5)])  # in the lake only
    pd.concat([legacy.iloc[10:], ghost]).to_parquet(tmp_path / "lake" / keys.LEGACY_CATALOGUE, index=False)  # 10 missing
    with Store(settings) as store:
        catalogue = store.catalogue()
        assert catalogue_health(store).in_step
    assert sorted(catalogue["track_id"]) == sorted(legacy["track_id"])
    restored = catalogue.set_index("track_id").loc[legacy["track_id"].iloc[:10]]
    expected = legacy.set_index("track_id").iloc[:10]
    for column in ("artist_name", "track_name", "danceability", "tempo", "duration_ms", "is_outlier"):
        assert list(restored[column]) == list(expected[column]), column


def test_a_lake_lost_altogether_is_rebuilt_from_the_database(tmp_path):
    settings = _v6_stores(tmp_path)
    legacy = pd.read_parquet(tmp_path / "lake" / keys.LEGACY_CATALOGUE)
    shutil.rmtree(tmp_path / "lake")
    with Store(settings) as store:
        assert sorted(store.catalogue()["track_id"]) == sorted(legacy["track_id"])
        assert catalogue_health(store).in_step
