"""Workers loading one ingest into staging tables, moved in by the writer's transaction
(`store.staging`): the same stores as the writer loading it alone, by every cross-ingest rule
(known ids, near duplicates of stored tracks, labels merged into them, provenance credited to
them, re-read sources), all or nothing, and nothing left behind."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from songscope.clean import read_and_clean
from songscope.config import Settings
from songscope.store import catalogue, db, staging
from songscope.store.catalogue import write_ingest
from songscope.store.clean_ingest import InMemoryIngest
from songscope.store.runs import new_id
from songscope.store.store import Store
from tests.conftest import MYSQL_ADMIN_URL, POSTGRES_ADMIN_URL, _fresh_database

SEED = Path(__file__).resolve().parents[2] / "data" / "seed"
ADMIN = {"postgresql": POSTGRES_ADMIN_URL, "mysql": MYSQL_ADMIN_URL}


@dataclass
class ThreadWorkers(InMemoryIngest):
    """An ingest held in memory whose tracks and rejected rows are loaded by `parts`
    concurrent workers, each with its own connection, as Spark's executors load theirs."""

    parts: int = 3
    retry: bool = False  # run every worker twice, as a retried task would
    in_workers = True

    def load_in_parallel(self, job: staging.ParallelLoad) -> staging.Loaded:
        def split(frame: pd.DataFrame) -> list[pd.DataFrame]:
            size = -(-len(frame) // self.parts) or 1
            return [frame.iloc[start : start + size].reset_index(drop=True) for start in range(0, len(frame), size)]

        calls = [(staging.load_tracks, job, part, frame) for part, frame in enumerate(split(self.cleaned.tracks))]
        calls += [(staging.load_rows, job, "rejected", part, frame) for part, frame in enumerate(split(self.read.rejected))]
        with ThreadPoolExecutor(self.parts) as pool:
            results = list(pool.map(lambda call: call[0](*call[1:]), calls))
            if self.retry:  # the first attempts' rows stay in the staging tables, and must be ignored
                results = list(pool.map(lambda call: call[0](*call[1:]), calls))
        return staging.Loaded([r for r in results if isinstance(r, staging.TracksLoaded)],
                              [r for r in results if isinstance(r, staging.RowsLoaded)])


def _files(folder: Path) -> list[Path]:
    """Three ingests that exercise every cross-ingest rule: new songs with labels; then known ids
    with new labels, re-releases of stored songs under new ids with labels, new songs and bad
    rows; then the second file again (a known source: nothing new)."""
    seed = pd.read_csv(SEED / "tutorial_data.csv").drop_duplicates("track_id").drop_duplicates(["artist_name", "track_name", "duration_ms"])
    seed = seed.head(1_600).reset_index(drop=True)
    first = seed.iloc[:1_200].assign(genre=[f"g{i % 5}" for i in range(1_200)])
    known = seed.iloc[600:1_600].assign(genre=[f"h{i % 3}" for i in range(1_000)])
    reissues = seed.iloc[:150].assign(track_id=[f"reissue{i:015d}" for i in range(150)], genre="re")
    template = seed.iloc[0]  # rows to reject, and a new song whose genre is empty
    extra = pd.DataFrame([
        {**template, "track_id": "bad0000000000000000001", "energy": "loud", "genre": "x"},
        {**template, "track_id": "bad0000000000000000002", "tempo": -3, "genre": "y"},
        {**template, "track_id": "plain000000000000000001", "artist_name": "Someone", "track_name": "Plain", "genre": None},
    ])
    second = pd.concat([known, reissues, extra], ignore_index=True)
    paths = [folder / "first.csv", folder / "second.csv"]
    first.to_csv(paths[0], index=False)
    second.to_csv(paths[1], index=False)
    return [paths[0], paths[1], paths[1]]


def _ingest(settings: Settings, path: Path, workers: bool, retry: bool = False) -> catalogue.StoredIngest:
    read, cleaned = read_and_clean([str(path)])
    data = ThreadWorkers(read, cleaned, retry=retry) if workers else InMemoryIngest(read, cleaned)
    with Store(settings) as store:
        return write_ingest(store, run_id=new_id(), started_at=datetime.now(UTC), data=data)


def _contents(settings: Settings) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(settings.db_url)
    with engine.connect() as conn:
        tables = {
            "tracks": pd.read_sql("SELECT * FROM tracks", conn).drop(columns=["ingest_run_id"]),
            "labels": pd.read_sql("SELECT track_id, name, value FROM track_labels", conn),
            "duplicates": pd.read_sql("SELECT rule, kept_track_id, dropped_track_id, detail FROM track_duplicates", conn),
            "rejected": pd.read_sql("SELECT s.uri, r.line, r.columns, r.reason, r.raw FROM rejected_rows r JOIN sources s USING (source_id)", conn),
            "runs": pd.read_sql("SELECT rows_read, rows_rejected, rows_clean, tracks_added FROM ingest_runs", conn),
            # The workers write a file per part, the writer alone one per 250,000 tracks: the same rows.
            "files": pd.read_sql(sa.select(db.catalogue_files.c.content, sa.func.sum(db.catalogue_files.c.rows).label("rows"))
                                 .group_by(db.catalogue_files.c.content), conn).astype({"rows": "int64"}),
        }
        left = [n for n in sa.inspect(conn).get_table_names() if n.startswith(staging.STAGING_PREFIX)]
    engine.dispose()
    with Store(settings) as store:  # in the lake alone, credited to the stored tracks that absorbed theirs
        tables["provenance"] = catalogue.read_provenance(store)[["track_id", "source", "line"]]
    tables = {name: frame.sort_values(list(frame.columns)).reset_index(drop=True) for name, frame in tables.items()}
    tables["catalogue"] = _catalogue(settings)
    tables["staging tables left"] = pd.DataFrame({"name": left})
    return tables


def _catalogue(settings: Settings) -> pd.DataFrame:
    with Store(settings) as store:
        return catalogue.read(store)


@contextmanager
def _two_databases(kind: str):
    with contextmanager(_fresh_database)(ADMIN[kind], kind) as one, contextmanager(_fresh_database)(ADMIN[kind], kind) as other:
        yield one, other


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_workers_store_what_the_writer_alone_stores(kind, tmp_path):
    paths = _files(tmp_path)
    with _two_databases(kind) as (alone_url, workers_url):
        alone = Settings(db_url=alone_url, lake_url=str(tmp_path / "alone-lake"))
        workers = Settings(db_url=workers_url, lake_url=str(tmp_path / "workers-lake"))
        for number, path in enumerate(paths):
            by_writer = _ingest(alone, path, workers=False)
            by_workers = _ingest(workers, path, workers=True, retry=number == 1)
            assert by_workers.loaded_by_workers and not by_writer.loaded_by_workers
            assert by_workers.record.__dict__ | {"run_id": ""} == by_writer.record.__dict__ | {"run_id": ""}, number
            expected, got = _contents(alone), _contents(workers)
            for name in expected:
                pd.testing.assert_frame_equal(got[name], expected[name], obj=f"ingest {number}: {name}")
        record = by_workers.record
        assert record.tracks_added == 0 and record.rejected_added == record.provenance_added == 0  # the known source again
        first_two = _contents(workers)
        # The rules did act: labels merged into stored songs, re-releases absorbed, rows rejected.
        labels = first_two["labels"].set_index("track_id")["value"]
        first_ids = pd.read_csv(paths[0])["track_id"]
        assert labels[first_ids.iloc[0]] == "g0|re"  # re-released under a new id
        assert labels[first_ids.iloc[600]] == "g0|h0"  # read again under its own id
        assert (first_two["duplicates"]["rule"] == db.EARLIER_NEAR_DUPLICATE_RULE).sum() == 150
        provenance = first_two["provenance"]
        reissue_rows = provenance[provenance["source"].str.endswith("second.csv") & provenance["line"].between(1_002, 1_151)]  # line 1: the header
        assert len(reissue_rows) == 150 and reissue_rows["track_id"].isin(first_ids.iloc[:150]).all()  # credited to the songs they repeat
        assert len(first_two["rejected"]) == 2
        assert (first_two["catalogue"]["genre"].fillna("") != "").sum() == 1_200 + 400
        assert list(first_two["files"]["content"]).count("labels") >= 1


def _stored_ids(settings: Settings) -> tuple[set[str], set[str]]:
    engine = sa.create_engine(settings.db_url)
    with engine.connect() as conn:
        in_db = set(conn.execute(sa.select(db.tracks.c.track_id)).scalars())
    engine.dispose()
    try:
        in_lake = set(_catalogue(settings)["track_id"])
    except catalogue.NoCatalogue:
        in_lake = set()
    return in_db, in_lake


def test_a_failure_after_the_workers_loaded_leaves_the_stores_as_they_were(postgres_url, tmp_path, monkeypatch):
    settings = Settings(db_url=postgres_url, lake_url=str(tmp_path / "lake"))
    first, second, _ = _files(tmp_path)
    _ingest(settings, first, workers=True)
    before = _stored_ids(settings)

    def fail(*args, **kwargs):
        raise RuntimeError("the move failed")

    monkeypatch.setattr(staging, "move", fail)
    with pytest.raises(RuntimeError, match="the move failed"):
        _ingest(settings, second, workers=True)
    monkeypatch.undo()
    assert _stored_ids(settings) == before
    with Store(settings) as store:
        health = catalogue.health(store)
    assert health.in_step and any(key.startswith("catalogue/") for key in health.leftovers)  # the workers' files, unlisted
    assert _contents(settings)["staging tables left"].empty  # the failed ingest dropped its own
    again = _ingest(settings, second, workers=True)
    assert again.swept == health.leftovers and again.record.tracks_added == 400 + 1


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_the_next_ingest_drops_the_staging_tables_of_one_that_died(kind, request, tmp_path):
    url = request.getfixturevalue({"postgresql": "postgres_url", "mysql": "mysql_url"}[kind])
    settings = Settings(db_url=url, lake_url=str(tmp_path / "lake"))
    first, second, _ = _files(tmp_path)
    _ingest(settings, first, workers=True)
    with Store(settings) as store:
        dead = staging.create(store.db)  # as a writer killed while its workers loaded would leave them
    stored = _ingest(settings, second, workers=True)
    assert sorted(stored.swept_tables) == sorted(dead.table(kind).name for kind in staging.KINDS)
    assert _contents(settings)["staging tables left"].empty


def test_sqlite_is_loaded_by_the_writer_alone(tmp_path, monkeypatch):
    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"))
    first, *_ = _files(tmp_path)
    with Store(settings) as store:
        assert not staging.loads_in_parallel(store.db)
    def never(self, job):
        raise AssertionError("SQLite's writer asked workers to load it")

    monkeypatch.setattr(ThreadWorkers, "load_in_parallel", never)
    loaded = _ingest(settings, first, workers=True)
    assert loaded.record.tracks_added == 1_200 and loaded.swept_tables == [] and not loaded.loaded_by_workers


def test_the_job_handed_to_workers_never_shows_the_password():
    job = staging.ParallelLoad("postgresql+psycopg://user:s3cret@db.example/x", "lake", None, "run", staging.Staging("staging_x", "postgresql"), {}, True)
    assert "s3cret" not in repr(job)
