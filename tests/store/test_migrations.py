"""Schema migrations with Alembic: a database made by the release before Alembic (schema v5) is
upgraded in place on SQLite, PostgreSQL and MariaDB; older and newer schemas are handled."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from songscope.config import Settings
from songscope.store import db, keys
from songscope.store.runs import ClusterRun
from songscope.store.store import Store

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
            db.metadata.create_all(conn, tables=[db.schema_table, *(db.metadata.tables[name] for name in V5_TABLES)])
            for name, frame in tables.items():
                table = db.metadata.tables[name]
                for column in ("created_at", "started_at", "finished_at", "applied_at"):
                    if column in frame:
                        moment = pd.to_datetime(frame[column], utc=True, format="mixed")
                        frame[column] = moment.dt.tz_convert(None) if url.startswith("mysql") else moment  # MariaDB takes no offset
                if len(frame):
                    conn.execute(table.insert(), frame.astype(object).where(frame.notna(), None).to_dict("records"))
        database.dispose()
    return {name: len(frame) for name, frame in tables.items() if name != "songscope_schema"}


def test_release_v5_database_is_upgraded_in_place(db_url, tmp_path):
    before = _v5_database(db_url, tmp_path)
    assert before["tracks"] == 1_742 and before["cluster_runs"] == 1 and before["recommendations"] == 3
    probe = sa.create_engine(db_url + ("?charset=utf8mb4" if db_url.startswith("mysql") else ""))
    assert db.schema_version(probe) == 5
    probe.dispose()

    with Store(Settings(db_url=db_url, lake_url=str(tmp_path / "lake"))) as store:
        assert db.schema_version(store.db) == db.SCHEMA_VERSION == 6
        with store.db.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == db.SCHEMA_REVISION
            # Releases from before Alembic read this table: they now refuse the newer database.
            assert conn.execute(sa.select(sa.func.max(db.schema_table.c.version))).scalar() == 6
            after = {name: conn.execute(sa.select(sa.func.count()).select_from(db.metadata.tables[name])).scalar() for name in V5_TABLES}
        assert after == before  # nothing lost, nothing added
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
    again = db.connect(db_url)  # a second connect changes nothing
    assert db.schema_version(again) == 6
    again.dispose()


def test_database_from_an_early_release_is_completed_then_upgraded(db_url):
    database = sa.create_engine(db_url + ("?charset=utf8mb4" if db_url.startswith("mysql") else ""))
    with database.begin() as conn:  # schema v1: the catalogue tables only
        db.metadata.create_all(conn, tables=[db.schema_table, *(db.metadata.tables[name] for name in db.LEGACY_TABLES[1])])
        conn.execute(db.schema_table.insert().values(version=1, applied_at=db._now()))
    assert db.schema_version(database) == 1
    database.dispose()
    database = db.connect(db_url)
    assert db.schema_version(database) == 6
    assert all(sa.inspect(database).has_table(t) for t in ("cluster_runs", "recommendations", "reports", "favourite_lists", "cluster_run_details"))
    database.dispose()


@pytest.mark.parametrize("newer", ["alembic", "legacy"])
def test_newer_schema_is_refused_untouched(sqlite_url, newer):
    database = db.connect(sqlite_url)
    with database.begin() as conn:
        if newer == "alembic":
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0007'"))
        else:
            conn.execute(db.schema_table.insert().values(version=7, applied_at=db._now()))
    with pytest.raises(db.DatabaseError, match="newer than this songscope"):
        db.migrate(database)
    database.dispose()


def test_alembic_head_is_the_revision_the_code_expects():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(Path(db.__file__).with_name("migrations")))
    assert script.get_current_head() == db.SCHEMA_REVISION
    assert [r.revision for r in script.walk_revisions()][-1] == db.LEGACY_REVISION
