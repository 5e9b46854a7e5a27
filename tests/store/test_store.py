"""`Store`: one database and one lake per process, and its engine for work of one statement."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from songscope.store import db
from songscope.store.store import Store


def test_one_statement_work_sees_other_writers_at_once_and_holds_no_transaction(db_url, settings_factory):
    """The web app reads "the newest run" through `autocommit` on every request: each read must see
    what another connection committed, even on one pooled connection kept across reads (MariaDB's
    default REPEATABLE READ would keep showing a transaction's first snapshot)."""
    probe = sa.Table("reader_probe", sa.MetaData(), sa.Column("n", sa.Integer))
    with Store(settings_factory(db_url=db_url)) as store:
        probe.create(store.db)
        try:
            with store.autocommit.connect() as reading:
                assert reading.execute(sa.select(sa.func.count()).select_from(probe)).scalar() == 0
                with store.db.begin() as writing:
                    writing.execute(probe.insert().values(n=1))
                assert reading.execute(sa.select(sa.func.count()).select_from(probe)).scalar() == 1
                if db_url.startswith("sqlite"):
                    assert store.autocommit is store.db  # no round trips to save
                else:
                    driver = reading.connection.dbapi_connection
                    autocommit = driver.autocommit if db_url.startswith("postgresql") else driver.get_autocommit()
                    assert store.autocommit is not store.db and autocommit is True
            # A request recorded through it is there for everyone at once, with no COMMIT sent.
            db.record_recommendations(store.autocommit, "probe", {"favourites": ["x"]}, [("t1", 0.5, "{}")])
            with store.db.connect() as other:
                assert other.execute(sa.select(db.recommendation_requests.c.request_id)).scalars().all() == ["probe"]
        finally:
            probe.drop(store.db)


def test_what_a_store_keeps_is_under_typed_keys(tmp_path):
    """Every key comes from `store.cache`: a string key is refused, so no test can look under a
    misspelt key and pass for finding nothing there."""
    from songscope.config import Settings
    from songscope.store import cache
    from songscope.store.store import Store

    with Store(Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"))) as store:
        for call in (lambda: store.cached("songs", lambda: 1), lambda: store.peek("songs"), lambda: store.forget("songs")):
            with pytest.raises(TypeError, match="store.cache"):
                call()
        assert store.cached(cache.SONGS, lambda: 1) == 1 and store.cached(cache.SONGS, lambda: 2) == 1
        assert store.cached(cache.run("r1"), lambda: "a") == "a" and store.peek(cache.run("r2")) is None
        store.forget(cache.SONGS)
        assert store.peek(cache.SONGS) is None and store.peek(cache.run("r1")) == "a"
        store.forget()
        assert store.peek(cache.run("r1")) is None
