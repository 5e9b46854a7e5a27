"""`Store`: the database and the lake of one command or web process.

One database engine (a connection pool, migrated once) and one lake for the whole process: a
command that connected per step paid the connection and the migration check each time. A
`Store` also keeps what is costly to rebuild from the stores and only changes when they do (the
catalogue, a recommender per run, a map per run), for a long-running process such as the web app.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy.engine import Engine

from songscope.config import Settings
from songscope.store import cache, catalogue, db
from songscope.store.cache import CacheKey
from songscope.store.lake import Lake

T = TypeVar("T")


class Store:
    """The database and the lake named by `settings`, opened once.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with Store(Settings(db_url=f"sqlite:///{folder}/s.db", lake_url=f"{folder}/lake")) as store:
    ...     db.counts(store.db)["tracks"]
    0
    """

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self.lake = Lake(self.settings.lake_url, self.settings.s3_endpoint)
        self._db: Engine | None = None
        self._autocommit: Engine | None = None
        self._lock = threading.RLock()
        self._cache: dict[Any, Any] = {}

    @property
    def db(self) -> Engine:
        """The database engine, connected (and its schema migrated) on first use."""
        with self._lock:
            if self._db is None:
                self._db = db.connect(self.settings.db_url)
            return self._db

    @property
    def autocommit(self) -> Engine:
        """The database for work of one statement, which is atomic on its own: the web app's
        per-request look at the newest run, and the recording of a recommendation request (one
        INSERT). On a server database its connections are in autocommit: a statement is one round
        trip instead of three with BEGIN and COMMIT or ROLLBACK (PostgreSQL: a read 0.33 ms down to
        0.19; a recorded request 1.8 ms down to 1.5). SQLite has no round trips: this is `db`."""
        with self._lock:
            if self._autocommit is None:
                written = self.db
                self._autocommit = written if written.dialect.name == "sqlite" else db.engine_for(self.settings.db_url, isolation_level="AUTOCOMMIT")
            return self._autocommit

    def catalogue(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The clean catalogue from the lake (kept for the process: `forget` after a write)."""
        frame = self.cached(cache.CATALOGUE, lambda: catalogue.read(self))
        return frame if columns is None else frame[columns]

    def cached(self, key: CacheKey, build: Callable[[], T]) -> T:
        """`build()`'s value, built once per `key` (one of `store.cache`) for this store's life (thread-safe)."""
        _check(key)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def peek(self, key: CacheKey) -> Any | None:
        """What `cached` keeps under `key`, or None (nothing is built)."""
        _check(key)
        with self._lock:
            return self._cache.get(key)

    def forget(self, *keys: CacheKey) -> None:
        """Drop what `cached` kept under `keys` (all of it when none are named): the stores have changed."""
        for key in keys:
            _check(key)
        with self._lock:
            if not keys:
                self._cache.clear()
            for key in keys:
                self._cache.pop(key, None)

    def close(self) -> None:
        with self._lock:
            if self._autocommit is not None and self._autocommit is not self._db:
                self._autocommit.dispose()
            self._autocommit = None
            if self._db is not None:
                self._db.dispose()
                self._db = None
            self._cache.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check(key: object) -> None:
    """Keys come from `store.cache`: a mistyped string key would never match, and a test that
    looked under it could not fail."""
    if not isinstance(key, CacheKey):
        raise TypeError(f"cache keys are store.cache.CacheKey values, not {key!r}")
