"""The ingest contract: the local and the Spark backends, given the same files, store the same
catalogue, the same rejected rows with the same reasons, the same merges and the same provenance."""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings

from songscope.config import Settings
from songscope.store import catalogue
from songscope.store.store import Store
from tests.conftest import ingest, load_catalogue
from tests.test_bad_inputs import FILE_LEVEL, GOOD_IDS, ROW_LEVEL, write
from tests.test_repeats import check_every_row_is_accounted_for, repeated_songs, write_rows

pytestmark = pytest.mark.spark


def _settings(folder, name: str, master: str) -> Settings:
    return Settings(db_url=f"sqlite:///{folder / name}.db", lake_url=str(folder / f"{name}-lake"), spark_master=master)


def _stored(settings: Settings) -> dict[str, pd.DataFrame]:
    """What the stores hold besides the catalogue: merges, provenance and rejected rows, sorted."""
    engine = sa.create_engine(settings.db_url)
    with engine.connect() as conn:
        tables = {
            "duplicates": pd.read_sql("SELECT rule, kept_track_id, dropped_track_id, detail, dropped_rows FROM track_duplicates", conn),
            "artists": pd.read_sql("SELECT track_id, position, name, artist_id FROM track_artists", conn),
            "rejected": pd.read_sql("SELECT s.uri, r.line, r.columns, r.reason, r.raw FROM rejected_rows r JOIN sources s USING (source_id)", conn),
            "sources": pd.read_sql("SELECT uri, content_sha256, size_bytes, format FROM sources", conn),
            "runs": pd.read_sql("SELECT rows_read, rows_rejected, rows_clean, tracks_added FROM ingest_runs", conn),
        }
    engine.dispose()
    with Store(settings) as store:
        tables["provenance"] = catalogue.read_provenance(store)[["track_id", "source", "line"]]
    return {name: frame.sort_values(list(frame.columns)).reset_index(drop=True) for name, frame in tables.items()}


def _both(tmp_path, sources, spark_local, **kwargs):
    local = _settings(tmp_path, "local", spark_local)
    spark = _settings(tmp_path, "spark", spark_local)
    return (ingest(sources, local, backend="local", **kwargs), local), (ingest(sources, spark, backend="spark", **kwargs), spark)


def test_seed_gives_the_same_catalogue_on_both_backends(tmp_path, seed_files, spark_local):
    (local, local_settings), (spark, spark_settings) = _both(tmp_path, seed_files, spark_local)
    for outcome in (local, spark):
        assert outcome.report.chain() == "20,301 -> 15,820 -> 15,779 -> 15,626"
        assert outcome.report.outliers == 609
        assert outcome.report.id_conflicts == 41
        assert outcome.catalogue_rows == 15_626
    assert spark.backend == "spark" and local.backend == "local"
    assert spark.report.to_dict() == local.report.to_dict()
    # The same tracks, in the same (reading) order, with the same values and types.
    pd.testing.assert_frame_equal(load_catalogue(spark_settings), load_catalogue(local_settings))
    stored_local, stored_spark = _stored(local_settings), _stored(spark_settings)
    for name in stored_local:
        pd.testing.assert_frame_equal(stored_spark[name], stored_local[name], obj=name)
    assert len(stored_spark["duplicates"]) == 41 + 153
    assert len(stored_spark["provenance"]) == 20_301


def test_a_big_csv_is_read_in_parts_alike(tmp_path, spark_local, monkeypatch):
    """A CSV above `CSV_PART_BYTES` is read by several executors, cut between records (quoted
    line breaks, doubled quotes, CRLF, a byte order mark): the stores hold what the local
    backend, reading it whole, stores."""
    from songscope.backends.spark import ingest as spark_ingest
    from tests.test_ingest import _awkward_csv, _awkward_rows

    monkeypatch.setattr(spark_ingest, "CSV_PART_BYTES", 3_000)
    path = tmp_path / "big.csv"
    _awkward_csv(path, _awkward_rows(400), bom=True, crlf=True)
    said = []
    (local, local_settings), (spark, spark_settings) = _both(tmp_path, [str(path)], spark_local, progress=said.append)
    tasks = int(next(m for m in said if "Spark tasks" in m).split(" in ")[1].split()[0])
    assert tasks >= path.stat().st_size // 3_000 - 2  # really read in parts
    assert spark.report.to_dict() == local.report.to_dict() and spark.rows_read == local.rows_read
    pd.testing.assert_frame_equal(load_catalogue(spark_settings), load_catalogue(local_settings))
    stored_local, stored_spark = _stored(local_settings), _stored(spark_settings)
    for name in stored_local:
        pd.testing.assert_frame_equal(stored_spark[name], stored_local[name], obj=name)
    assert len(stored_spark["rejected"]) > 40


def test_bad_rows_are_rejected_alike(tmp_path, spark_local):
    files = [write(tmp_path, name, content) for name, (content, _) in sorted(ROW_LEVEL.items())]
    (local, local_settings), (spark, spark_settings) = _both(tmp_path, files, spark_local)
    expected = sum(len(lines) for _, lines in ROW_LEVEL.values())
    assert spark.rows_rejected == local.rows_rejected == expected
    assert spark.first_rejected == local.first_rejected
    stored_local, stored_spark = _stored(local_settings), _stored(spark_settings)
    pd.testing.assert_frame_equal(stored_spark["rejected"], stored_local["rejected"])
    for name, (_, lines) in ROW_LEVEL.items():
        rows = stored_spark["rejected"][stored_spark["rejected"]["uri"].str.endswith(name)]
        assert set(rows["line"]) == set(lines), name
        for line, fragment in lines.items():
            assert fragment in rows.loc[rows["line"] == line, "reason"].iloc[0]
    assert GOOD_IDS <= set(load_catalogue(spark_settings)["track_id"])
    pd.testing.assert_frame_equal(load_catalogue(spark_settings), load_catalogue(local_settings))


@pytest.mark.parametrize("name", sorted(FILE_LEVEL))
def test_unusable_files_fail_alike(tmp_path, spark_local, name):
    from songscope.ingest import IngestError

    content, fragment = FILE_LEVEL[name]
    path = write(tmp_path, name, content)
    settings = _settings(tmp_path, "spark", spark_local)
    with pytest.raises(IngestError) as info:
        ingest([path], settings, backend="spark")
    assert fragment in str(info.value) and path in str(info.value)


def test_loose_near_duplicates_are_found_and_removed_alike(tmp_path, seed_files, spark_local):
    (local, local_settings), (spark, spark_settings) = _both(tmp_path, seed_files, spark_local, loose_dedup=True)
    assert local.report.loose_applied and local.report.loose_candidates > 0
    assert spark.report.to_dict() == local.report.to_dict()
    assert spark.report.steps[-1].name == "loose near duplicates"
    pd.testing.assert_frame_equal(load_catalogue(spark_settings), load_catalogue(local_settings))
    stored_local, stored_spark = _stored(local_settings), _stored(spark_settings)
    for name in ("duplicates", "provenance"):
        pd.testing.assert_frame_equal(stored_spark[name], stored_local[name], obj=name)


def test_sweep_removes_staged_folders_a_dead_job_left(tmp_path):
    """A driver killed between staging and commit leaves its executors' files in the scratch
    folder; `songscope sweep` removes folders older than a day and leaves a running job's alone."""
    import os
    import time

    from songscope import service
    from songscope.store.store import Store

    scratch = tmp_path / "scratch"
    for name, age in (("ingest-dead", 2 * 86_400), ("assignments-dead", 3 * 86_400), ("ingest-running", 60), ("unrelated", 5 * 86_400)):
        (scratch / name / "tracks").mkdir(parents=True)
        path = scratch / name / "tracks" / "part-1.parquet"
        path.write_bytes(b"PAR1")
        os.utime(path, (time.time() - age, time.time() - age))
    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"), spark_scratch=str(scratch))
    with Store(settings) as store:
        removed = service.sweep(store).removed
    assert sorted(p.rsplit("/", 1)[-1] for p in removed) == ["assignments-dead", "ingest-dead"]
    assert sorted(p.name for p in scratch.iterdir()) == ["ingest-running", "unrelated"]


def test_a_failed_spark_clean_leaves_no_staged_files(tmp_path, seed_files, spark_local, monkeypatch):
    from songscope.backends.spark import ingest as spark_ingest

    real_stage, calls = spark_ingest.write_scratch, []

    def failing_stage(frame, folder, s3_endpoint, *args):
        calls.append(folder)
        if len(calls) == 2:  # the tracks are staged, the provenance fails
            raise RuntimeError("executor lost (simulated)")
        return real_stage(frame, folder, s3_endpoint, *args)

    monkeypatch.setattr(spark_ingest, "write_scratch", failing_stage)
    scratch = tmp_path / "scratch"
    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"), spark_master=spark_local,
                        spark_scratch=str(scratch))
    with pytest.raises(RuntimeError, match="simulated"):
        ingest(seed_files[2:], settings, backend="spark")
    assert len(calls) == 2 and calls[0].startswith(str(scratch))
    assert not scratch.exists() or list(scratch.rglob("*.parquet")) == []


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_executors_load_a_server_database_as_the_local_backend_does(kind, request, tmp_path, seed_files, spark_local):
    """On PostgreSQL and MariaDB the executors load the database themselves (`store.staging`):
    a first ingest into an empty catalogue, then one that repeats stored songs under their own
    ids and under new ones, store what the local backend stores."""
    from tests.conftest import MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, _fresh_database

    admin = {"postgresql": POSTGRES_ADMIN_URL, "mysql": MYSQL_ADMIN_URL}[kind]
    later = tmp_path / "later.csv"
    seed = pd.read_csv(seed_files[0])
    reissued = seed.head(300).assign(track_id=[f"reissue{i:015d}" for i in range(300)])
    pd.concat([seed.iloc[100:900], reissued], ignore_index=True).assign(genre="later").to_csv(later, index=False)
    stored = {}
    with contextmanager(_fresh_database)(admin, kind) as local_url, contextmanager(_fresh_database)(admin, kind) as spark_url:
        for engine, url in (("local", local_url), ("spark", spark_url)):
            settings = Settings(db_url=url, lake_url=str(tmp_path / f"{engine}-lake"), spark_master=spark_local)
            outcomes = [ingest(seed_files, settings, backend=engine), ingest([str(later)], settings, backend=engine)]
            assert [o.stored.loaded_by_workers for o in outcomes] == [engine == "spark"] * 2
            assert ({"store_workers", "store_move"} <= set(outcomes[1].timings)) == (engine == "spark")
            stored[engine] = (outcomes, _stored(settings), load_catalogue(settings))
    (local, local_tables, local_catalogue), (spark, spark_tables, spark_catalogue) = stored["local"], stored["spark"]
    for mine, theirs in zip(spark, local):
        assert mine.record.__dict__ | {"run_id": ""} == theirs.record.__dict__ | {"run_id": ""}
    assert spark[1].record.near_duplicates_of_earlier > 0 and spark[1].record.tracks_already_known > 0
    pd.testing.assert_frame_equal(spark_catalogue, local_catalogue)
    for name in local_tables:
        pd.testing.assert_frame_equal(spark_tables[name], local_tables[name], obj=name)
    assert (spark_catalogue["genre"] == "later").sum() > 0


def test_spelled_codes_and_optional_garbage_are_read_alike(tmp_path, spark_local):
    from tests.test_bad_inputs import ROW_LEVEL, spotify_features_layout

    layout = write(tmp_path, "SpotifyFeatures.csv", spotify_features_layout(
        [("C#", "Major", "4-Apr", "50"), ("Bb", "Minor", "3/4", "x"), ("H", "Major", "4", "7"), ("E", "minor", "5-Apr", "101")]))
    garbage = write(tmp_path, "optional.csv", ROW_LEVEL["optional_garbage.csv"][0])
    (local, local_settings), (spark, spark_settings) = _both(tmp_path, [layout, garbage], spark_local)
    notes = [[s.notes for s in outcome.cleaned.data.sources] for outcome in (local, spark)]
    assert notes[0] == notes[1] and len(notes[0][0]) == 5 and len(notes[0][1]) == 2
    pd.testing.assert_frame_equal(load_catalogue(spark_settings), load_catalogue(local_settings))
    stored_local, stored_spark = _stored(local_settings), _stored(spark_settings)
    pd.testing.assert_frame_equal(stored_spark["rejected"], stored_local["rejected"])
    assert len(stored_spark["rejected"]) == 3  # 'H', the cut last line, and a required value's garbage


@pytest.mark.parametrize("layout", ["spotify_tracks_db_26_genres.csv", "spotify_1921_2020_tracks.csv", "spotify_1921_2020_data.csv",
                                    "tracks_features_1_2m.csv", "hf_spotify_tracks_114_genres.csv", "exportify.csv"])
def test_every_known_layout_gives_the_same_catalogue_artists_and_records(tmp_path, spark_local, layout):
    """Each public layout (tests/test_layouts.py): the same catalogue, artists (in the lake and in
    ``track_artists``), labels, merges, provenance and rejected rows on both backends."""
    from tests.test_layouts import LAYOUTS

    (local, local_settings), (spark, spark_settings) = _both(tmp_path, [str(LAYOUTS / layout)], spark_local)
    assert spark.report.to_dict() == local.report.to_dict()
    pd.testing.assert_frame_equal(load_catalogue(spark_settings), load_catalogue(local_settings))
    stored_local, stored_spark = _stored(local_settings), _stored(spark_settings)
    for name in stored_local:
        pd.testing.assert_frame_equal(stored_spark[name], stored_local[name], obj=name)
    # Songs of several artists, or with ids, are listed in order with their ids; the others are not.
    catalogue = load_catalogue(local_settings).set_index("track_id")
    listed = catalogue[catalogue["artists"].str.contains("\x1f") | catalogue["artist_ids"].notna()]
    assert set(stored_local["artists"]["track_id"]) == set(listed.index)
    for track_id, rows in stored_local["artists"].sort_values("position").groupby("track_id"):
        assert "\x1f".join(rows["name"]) == listed.loc[track_id, "artists"] and rows["position"].tolist() == list(range(len(rows)))


@settings(max_examples=3, deadline=None)
@given(rows=repeated_songs())
def test_any_number_of_repeats_ingests_alike_on_spark(tmp_path_factory, spark_local, rows):
    folder = tmp_path_factory.mktemp("repeats")
    path = write_rows(folder, rows)
    outcomes = {}
    for engine in ("local", "spark"):
        stores = _settings(folder, engine, spark_local)
        outcomes[engine] = ingest([path], stores, backend=engine)
        check_every_row_is_accounted_for(rows, outcomes[engine], stores)
    assert outcomes["spark"].report.to_dict() == outcomes["local"].report.to_dict()
    stored = {engine: _stored(_settings(folder, engine, spark_local)) for engine in outcomes}
    for name in stored["local"]:
        pd.testing.assert_frame_equal(stored["spark"][name], stored["local"][name], obj=name)
