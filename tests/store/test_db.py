"""The database store on SQLite, PostgreSQL and MariaDB: schema, idempotence, transactions, text safety."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import sqlalchemy as sa

from songscope.store import catalogue, db, keys
from songscope.store.lake import Lake
from songscope.store.store import Store
from tests.conftest import ingest, load_catalogue
from tests.test_bad_inputs import GOOD, HEADER, row


def _counts(url: str) -> dict[str, int]:
    database = db.connect(url)
    try:
        return db.counts(database)
    finally:
        database.dispose()


def _provenance(settings):
    with Store(settings) as store:
        return catalogue.read_provenance(store)


def test_schema_is_created_at_the_head_revision(db_url):
    database = db.connect(db_url)
    assert db.schema_version(database) == db.SCHEMA_VERSION
    assert db.migrate(database) == db.SCHEMA_VERSION  # a second run changes nothing
    assert all(sa.inspect(database).has_table(t.name) for t in db.metadata.sorted_tables)
    database.dispose()


def test_seed_ingest_is_stored_and_idempotent(db_url, settings_factory, seed_files):
    settings = settings_factory(db_url=db_url)
    first = ingest(seed_files, settings)
    assert first.record.tracks_added == 15_626
    counts = _counts(db_url)
    assert counts["tracks"] == 15_626
    assert first.record.provenance_added == len(_provenance(settings)) == 20_301  # every row read points at its track
    assert counts["sources"] == 3
    assert counts["track_duplicates"] == 41 + 153
    assert counts["ingest_runs"] == 1

    again = ingest(seed_files, settings)
    assert again.record.tracks_added == 0
    assert again.record.tracks_already_known == 15_626
    after = _counts(db_url)
    assert {k: v for k, v in after.items() if k != "ingest_runs"} == {k: v for k, v in counts.items() if k != "ingest_runs"}
    assert again.record.provenance_added == 0 and len(_provenance(settings)) == 20_301  # read before: recorded once
    assert after["ingest_runs"] == 2
    assert again.catalogue_rows == 15_626

    database = db.connect(db_url)
    tracks = db.read_table(database, db.tracks)
    database.dispose()
    assert int(tracks["is_outlier"].sum()) == 609
    beethoven = tracks[tracks["artist_name"] == "Ludwig van Beethoven"]
    assert len(beethoven) == 1_206


def test_failed_ingest_leaves_database_and_catalogue_as_they_were(db_url, settings_factory, seed_files, monkeypatch):
    settings = settings_factory(db_url=db_url)
    ingest(seed_files[2:], settings)
    before = _counts(db_url)
    catalogue_before = load_catalogue(settings)
    written = []

    def broken_write(self, key, data, **kwargs):
        if key.startswith(keys.INGEST_FOLDER):  # after the catalogue's file: fail the lake half-way
            raise OSError("disk full (simulated)")
        written.append(key)
        return original(self, key, data, **kwargs)

    def recorded_tables(self, key, tables, schema):
        written.append(key)
        return original_tables(self, key, tables, schema)

    original, original_tables = Lake.write_bytes, Lake.write_tables
    monkeypatch.setattr(Lake, "write_bytes", broken_write)
    monkeypatch.setattr(Lake, "write_tables", recorded_tables)
    with pytest.raises(OSError, match="simulated"):
        ingest(seed_files, settings)
    monkeypatch.setattr(Lake, "write_bytes", original)
    monkeypatch.setattr(Lake, "write_tables", original_tables)
    assert _counts(db_url) == before
    assert load_catalogue(settings).equals(catalogue_before)  # the new file is in the lake, but not listed
    assert written and all(Lake(settings.lake_url).exists(key) for key in written)
    again = ingest(seed_files, settings)  # the next ingest removes it first
    assert sorted(again.stored.swept) == sorted(written)
    assert not any(Lake(settings.lake_url).exists(key) for key in written)


def test_text_round_trips_byte_for_byte_and_numbers_exactly(db_url, settings_factory, tmp_path):
    tricky = [
        *GOOD,
        row("inject00000000000000001", "Robert'); DROP TABLE tracks;--", "\"1' OR '1'='1\""),
        row("emoji000000000000000001", "Sigur Rós", "\"🎵 Hoppípolla, \"\"live\"\"\""),
        row("tiny0000000000000000001", "A", "B", instrumentalness="5.83e-06", loudness="-3.497"),
        row("CaseSensitiveId00000001", "C", "D"),
        row("casesensitiveid00000001", "E", "F"),
    ]
    path = tmp_path / "tricky.csv"
    path.write_text("\n".join([HEADER, *tricky]) + "\n", encoding="utf-8")
    settings = settings_factory(db_url=db_url)
    ingest([str(path)], settings)
    database = db.connect(db_url)
    tracks = db.read_table(database, db.tracks).set_index("track_id")
    database.dispose()
    assert len(tracks) == 8  # the two ids that differ only by case stay two tracks
    assert tracks.at["goodKorean0000000000001", "artist_name"] == "방탄소년단"
    assert tracks.at["goodKorean0000000000001", "track_name"] == "작은 것들을 위한 시"
    assert tracks.at["goodJapanese00000000002", "artist_name"] == "宇多田ヒカル"
    assert tracks.at["inject00000000000000001", "artist_name"] == "Robert'); DROP TABLE tracks;--"
    assert tracks.at["inject00000000000000001", "track_name"] == "1' OR '1'='1"
    assert tracks.at["emoji000000000000000001", "track_name"] == '🎵 Hoppípolla, "live"'
    assert tracks.at["tiny0000000000000000001", "instrumentalness"] == 5.83e-06
    assert tracks.at["tiny0000000000000000001", "loudness"] == -3.497


def test_rejected_rows_are_stored_once_with_their_raw_content(db_url, settings_factory, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, *GOOD, row("big", title="y" * 200_000), row("neg", tempo=-3)]) + "\n", encoding="utf-8")
    settings = settings_factory(db_url=db_url)
    ingest([str(path)], settings)
    ingest([str(path)], settings)  # again: nothing new
    database = db.connect(db_url)
    rejected = db.read_table(database, db.rejected_rows).sort_values("line")
    database.dispose()
    assert list(rejected["line"]) == [5, 6]
    assert "longer than 1,000 characters" in rejected["reason"].iloc[0]
    assert len(rejected["raw"].iloc[0]) > 200_000  # the whole row is kept, even on MySQL
    assert "tempo: out of range" in rejected["reason"].iloc[1]


def test_labels_from_several_sources_are_merged(db_url, settings_factory, tmp_path):
    header = HEADER + ",playlist_genre"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(f"{header}\n{row('shared0000000000000001')},pop\n{row('only0000000000000000001', title='Other')},rock\n")
    b.write_text(f"{header}\n{row('shared0000000000000001')},latin\n")
    settings = settings_factory(db_url=db_url)
    ingest([str(a)], settings)
    ingest([str(b)], settings)
    database = db.connect(db_url)
    labels = db.read_table(database, db.track_labels).set_index("track_id")
    database.dispose()
    sources = _provenance(settings)
    assert labels.at["shared0000000000000001", "value"] == "pop|latin"
    assert labels.at["only0000000000000000001", "value"] == "rock"
    assert sources.groupby("track_id")["source_id"].nunique()["shared0000000000000001"] == 2
    # The lake's catalogue says the same: the later ingest listed the merged labels beside its (no) new tracks.
    songs = load_catalogue(settings).set_index("track_id")
    assert songs.at["shared0000000000000001", "playlist_genre"] == "pop|latin"
    assert songs.at["only0000000000000000001", "playlist_genre"] == "rock"
    assert len(songs) == 2
    assert list(load_catalogue(settings)["track_id"]) == ["shared0000000000000001", "only0000000000000000001"]


def test_unreachable_database_is_a_clear_error():
    with pytest.raises(db.DatabaseError, match="cannot reach the database"):
        db.connect("postgresql+psycopg://nobody@127.0.0.1:1/none")


@pytest.mark.s3
def test_ingest_into_an_s3_lake(s3_server, s3_lake_url, settings_factory, seed_files):
    settings = settings_factory(lake_url=s3_lake_url, s3_endpoint=s3_server.endpoint)
    outcome = ingest(seed_files, settings)
    part = f"{s3_lake_url}/catalogue/{outcome.run_id}/part-00000.parquet"
    assert outcome.stored.catalogue_files == [part]
    catalogue = load_catalogue(settings)
    assert len(catalogue) == 15_626
    assert int(catalogue["is_outlier"].sum()) == 609
    lake = Lake(s3_lake_url, s3_server.endpoint)
    keys = lake.keys()
    assert f"ingest/{outcome.run_id}/rejected.parquet" in keys
    # The clean table in the lake can be ingested again as a source.
    again = ingest([part], settings)
    assert again.record.tracks_added == 0 and again.rows_read == 15_626


def test_favourite_lists_and_reports_round_trip(db_url):
    database = db.connect(db_url)
    favourites, dislikes = ["4uLU6hMCjMI75M1A2tKUQC", "Ünïcödé-id 🎵"], ["x" * 22]
    db.save_favourite_list(database, "abc123def456", "Sunday 'morning'; DROP TABLE tracks", favourites, dislikes, {"n": 5, "diversity": 0.7})
    found = db.load_favourite_list(database, "abc123def456")
    assert found["favourites"] == favourites and found["dislikes"] == dislikes and found["name"] == "Sunday 'morning'; DROP TABLE tracks"
    assert found["options"] == {"n": 5, "diversity": 0.7}
    assert db.load_favourite_list(database, "ABC123DEF456") is None  # ids are case-sensitive, MariaDB included
    db.record_report(database, run_id="r1", compare_run_id=None, path="/tmp/r.html", lake_uri="lake/reports/r1.html", size_bytes=7_000_000, figures=["map", "sizes"])
    stored = db.read_table(database, db.reports)
    assert list(stored["run_id"]) == ["r1"] and stored["compare_run_id"].isna().all() and int(stored["size_bytes"].iloc[0]) == 7_000_000
    database.dispose()


@pytest.mark.parametrize("batch_rows", [None, 2_000], ids=["one-batch", "batches"])
@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_a_large_first_load_is_indexed_after_and_keeps_every_constraint(kind, batch_rows, request, settings_factory, tmp_path, monkeypatch):
    """PostgreSQL builds the key and the indexes after a large first load, SQLite its secondary
    indexes: every one is there after, and the key still refuses a duplicate. A load in several
    batches builds them once, after its last."""
    from songscope.backends import batches
    from songscope.store import bulk

    monkeypatch.setattr(bulk, "INDEX_AFTER_ROWS", 1_000)  # the seed is large enough to take the path (read where it is used)
    if batch_rows:
        monkeypatch.setattr(batches, "BATCH_ROWS", batch_rows)
    url = request.getfixturevalue(f"{kind}_url")
    settings = settings_factory(db_url=url)
    from songscope.seed import seed_paths

    built = []
    original = sa.Index.create
    def create(index, bind, **kw):
        built.append((index.name, bind.execute(sa.text("SELECT COUNT(*) FROM tracks")).scalar()))
        return original(index, bind, **kw)

    monkeypatch.setattr(sa.Index, "create", create)
    ingest(seed_paths(), settings)
    assert [rows for name, rows in built if name == "ix_tracks_near_key"] == [15_626]  # built once, after the whole load
    database = db.connect(url)
    inspector = sa.inspect(database)
    assert inspector.get_pk_constraint("tracks")["constrained_columns"] == ["track_id"]
    assert {"ix_tracks_near_key"} <= {i["name"] for i in inspector.get_indexes("tracks")}
    if kind == "postgres":  # the planner knows the looked-up columns at once, not when autovacuum gets round to them
        with database.connect() as conn:
            analysed = set(conn.execute(sa.text("SELECT attname FROM pg_stats WHERE tablename = 'tracks'")).scalars())
        assert {"track_id", "near_key"} <= analysed
    with pytest.raises(sa.exc.IntegrityError), database.begin() as conn:
        conn.execute(sa.text("INSERT INTO tracks SELECT * FROM tracks LIMIT 1"))  # the key holds again
    assert db.counts(database)["tracks"] == 15_626
    database.dispose()


def test_sqlite_bulk_write_puts_the_page_cache_and_sorter_threads_back(sqlite_url):
    database = db.connect(sqlite_url)
    with database.begin() as conn:
        before = [conn.exec_driver_sql(f"PRAGMA {setting}").scalar() for setting in ("cache_size", "threads")]
        with db.bulk_write(conn):
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -db.BULK_CACHE_KIB
            options = dict(o.partition("=")[::2] for (o,) in conn.exec_driver_sql("PRAGMA compile_options"))
            cap = int(options.get("MAX_WORKER_THREADS", 8))  # SQLite's build caps the helper threads
            assert conn.exec_driver_sql("PRAGMA threads").scalar() == min(os.cpu_count() or 1, cap)
        assert [conn.exec_driver_sql(f"PRAGMA {setting}").scalar() for setting in ("cache_size", "threads")] == before
    database.dispose()


def test_a_writer_that_waits_too_long_for_the_catalogue_is_told_why(db_url):
    first, second = db.connect(db_url), db.connect(db_url, wait_seconds=1)
    try:
        with first.begin() as holding:
            db.hold_catalogue(holding, "first")
            with pytest.raises(db.CatalogueBusy, match="another ingest has held the catalogue for over 1 s"), second.begin() as waiting:
                db.hold_catalogue(waiting, "second", wait_seconds=1)
    finally:
        first.dispose()
        second.dispose()


def test_a_request_is_stored_once_and_forgotten_after_its_retention(db_url):
    from datetime import UTC, datetime, timedelta


    database = db.connect(db_url)
    items = [("a", 0.9, '{"r":1}'), ("b\u00e9\"", 0.8, '{"r":"\u00e9"}'), ("c", 1 / 3, '{"r":[1,2]}')]
    for number in range(4):
        db.record_recommendations(database, f"request{number}", {"favourites": ["x"] * 50, "options": {"n": 3}}, items)
    assert db.counts(database)["recommendation_requests"] == 4  # a request is one row, its songs in it
    request, latest = db.latest_recommendation(database)
    assert request["favourites"] == ["x"] * 50 and list(latest["rank"]) == [1, 2, 3]
    # Every song comes back as it went in: ids with quotes and accents, scores to the last bit.
    assert list(latest["track_id"]) == ["a", "b\u00e9\"", "c"] and list(latest["score"]) == [0.9, 0.8, 1 / 3]
    assert list(latest["reason"]) == [{"r": 1}, {"r": "\u00e9"}, {"r": [1, 2]}]
    with database.begin() as conn:  # two of them were made long ago
        conn.execute(db.recommendation_requests.update().where(db.recommendation_requests.c.request_id.in_(["request0", "request1"]))
                     .values(created_at=datetime.now(UTC) - timedelta(days=100)))
    assert db.forget_requests_before(database, datetime.now(UTC) - timedelta(days=90)) == 2
    left = db.read_table(database, db.recommendation_requests)
    assert set(left["request_id"]) == {"request2", "request3"}
    database.dispose()


def test_recommending_forgets_requests_past_the_retention(seed_catalogue, tmp_path):
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from songscope import service
    from songscope.recommend.options import RecommendOptions
    from songscope.store.store import Store
    from tests.conftest import copy_stores

    settings = dataclasses.replace(copy_stores(seed_catalogue, tmp_path), keep_requests_days=30)
    with Store(settings) as store:
        first = service.recommend(store, ["Bastille - Admit Defeat"], options=RecommendOptions(n=3))
        with store.db.begin() as conn:
            conn.execute(db.recommendation_requests.update().values(created_at=datetime.now(UTC) - timedelta(days=31)))
        store.forget()  # a new process: it prunes on its first request
        second = service.recommend(store, ["Bastille - Admit Defeat"], options=RecommendOptions(n=3))
        kept = db.read_table(store.db, db.recommendation_requests)
    assert list(kept["request_id"]) == [second.request_id] and first.request_id != second.request_id


def test_a_process_records_requests_from_many_threads_without_waiting_on_sqlite(tmp_path):
    """The web app's threads take turns writing on SQLite (a lock in the process), rather than
    meeting SQLite's busy handler: with no busy wait at all, none of them finds it locked."""
    import threading

    database = db.connect(f"sqlite:///{tmp_path / 's.db'}", wait_seconds=0)
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        for i in range(30):
            try:
                db.record_recommendations(database, f"r{worker}-{i}", {"favourites": ["x"]},
                                          [(f"t{rank}", 1.0 / rank, "{}") for rank in range(1, 11)])
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stored = db.read_table(database, db.recommendation_requests)
    assert len(stored) == 240 and all(len(db.recommended_songs(items)) == 10 for items in stored["items"])
    database.dispose()


def test_a_new_sqlite_catalogue_has_larger_pages_and_an_existing_one_keeps_its_own(tmp_path):
    import sqlite3

    from songscope.store.connect import PAGE_BYTES

    older = tmp_path / "older.db"
    with sqlite3.connect(older) as made_before:  # as a release before made it: SQLite's default pages
        made_before.execute("CREATE TABLE kept (x INTEGER)")
    for path, pages in ((tmp_path / "new.db", PAGE_BYTES), (older, 4096)):
        database = db.connect(f"sqlite:///{path}")
        with database.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == pages
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert db.counts(database)["tracks"] == 0  # migrated, and usable
        database.dispose()


def test_track_artists_rows_are_those_of_songs_with_several_artists_or_with_ids():
    from songscope.artists import SEPARATOR
    from songscope.store.writer import artists_of
    from songscope.textcolumns import TEXT

    alone = pd.DataFrame({"track_id": pd.array(["a", "b"], dtype=TEXT), "artists": pd.array(["Queen", "Björk"], dtype=TEXT)})
    assert artists_of(alone).empty and list(artists_of(alone).columns) == ["track_id", "position", "name", "artist_id"]
    several = pd.concat([alone, pd.DataFrame({"track_id": pd.array(["c"], dtype=TEXT), "artists": pd.array([f"Sting{SEPARATOR}Shaggy"], dtype=TEXT)})],
                        ignore_index=True)
    rows = artists_of(several)
    assert rows[["track_id", "position", "name"]].values.tolist() == [["c", 0, "Sting"], ["c", 1, "Shaggy"]]
    assert rows["artist_id"].isna().all()
