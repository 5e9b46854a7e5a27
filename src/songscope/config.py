"""Settings: where the database and the lake are, which Spark master, which seed.

Precedence: explicit arguments (CLI flags) > environment variables ``SONGSCOPE_*`` > defaults.
Credentials never live here: they come inside the URL (``postgresql+psycopg://user:pw@host/db``)
or from the standard AWS variables for S3, and `redact` hides them whenever a URL is shown.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from songscope.errors import UserError

DEFAULT_DB_URL = "sqlite:///songscope.db"
DEFAULT_LAKE_URL = "lake"
DEFAULT_SPARK_MASTER = "local[*]"
DEFAULT_SEED = 0
DEFAULT_KEEP_REQUESTS_DAYS = 90

_ENV = {
    "db_url": "SONGSCOPE_DB_URL",
    "lake_url": "SONGSCOPE_LAKE_URL",
    "s3_endpoint": "SONGSCOPE_S3_ENDPOINT",
    "spark_master": "SONGSCOPE_SPARK_MASTER",
    "spark_scratch": "SONGSCOPE_SPARK_SCRATCH",
    "seed": "SONGSCOPE_SEED",
    "keep_requests_days": "SONGSCOPE_KEEP_REQUESTS_DAYS",
    "name_context": "SONGSCOPE_NAME_CONTEXT",
}


#: The name context's weight (`recommend.distance.NAME_CONTEXT`): chosen on the training halves
#: of TidyTuesday and the seed's charts (bench/tune_context.py).
DEFAULT_NAME_CONTEXT = 2.0


@dataclass(frozen=True)
class Settings:
    """Where songscope reads and writes.

    Examples
    --------
    >>> Settings.load(db_url="sqlite:///:memory:").db_url
    'sqlite:///:memory:'
    """

    db_url: str = DEFAULT_DB_URL
    lake_url: str = DEFAULT_LAKE_URL
    #: S3 endpoint for a non-AWS server (``http://127.0.0.1:8333``); None means AWS itself.
    s3_endpoint: str | None = None
    spark_master: str = DEFAULT_SPARK_MASTER
    #: Where Spark executors stage intermediate files: a folder they and the driver share
    #: (None: a temporary folder, right for ``local[*]`` and a cluster on one machine; on a
    #: cluster of several machines, an ``s3://`` prefix).
    spark_scratch: str | None = None
    seed: int = DEFAULT_SEED
    #: Days a recommendation request is kept in the database (0: none is kept after its answer).
    keep_requests_days: int = DEFAULT_KEEP_REQUESTS_DAYS
    #: Weight of what the songs' names say in the recommender's metric (0: off; see
    #: `recommend.distance.NAME_CONTEXT`, what it gives and costs).
    name_context: float = DEFAULT_NAME_CONTEXT

    def to_env(self) -> dict[str, str]:
        """The ``SONGSCOPE_*`` variables that `load` reads back as these settings (for worker
        processes, which inherit their parent's environment).

        >>> Settings.load(Settings(db_url="sqlite:///x.db", seed=3).to_env()).seed
        3
        """
        return {_ENV[f.name]: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def load(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``SONGSCOPE_*`` variables, then the non-None `overrides`."""
        env = dict(os.environ) if env is None else env
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(_ENV[field.name])
            if raw not in (None, ""):
                values[field.name] = int(raw) if field.name in ("seed", "keep_requests_days") else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "name_context" in values:
            values["name_context"] = _weight(values["name_context"], _ENV["name_context"])
        return replace(cls(), **values)


def _weight(raw: Any, name: str) -> float:
    """A metric weight from the environment: a finite number >= 0, or a clear error.

    >>> _weight("2", "SONGSCOPE_NAME_CONTEXT")
    2.0
    """
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{name} must be a number >= 0 (0 turns it off), not {raw!r}")
    return value


# The password runs to the last "@" of the URL: it may hold "/" or ":" (a URL-unsafe password
# that was not percent-encoded), and hiding too much is the safe way to be wrong.
_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@]+:).*(?=@[^@]*$)", re.IGNORECASE)


def redact(url: str) -> str:
    """Hide the password in a URL so it can be printed or logged.

    >>> redact("postgresql+psycopg://alice:s3cret@db.example:5432/songs")
    'postgresql+psycopg://alice:***@db.example:5432/songs'
    >>> redact("postgresql+psycopg://alice:pa/ss:w@rd@db.example/songs")
    'postgresql+psycopg://alice:***@db.example/songs'
    """
    return _PASSWORD_IN_URL.sub(r"\g<head>***", url)
