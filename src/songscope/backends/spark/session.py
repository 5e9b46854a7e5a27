"""The Spark session: one per process, for the master in the settings.

pyspark is imported lazily, so the base install needs no Java. The master is ``local[*]`` by
default, ``spark://host:7077`` for a standalone cluster, ``sc://host:15002`` for Spark Connect.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from songscope.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

LOG_CONFIG = Path(__file__).with_name("log4j2.properties")

_sessions: dict[str, SparkSession] = {}


class SparkUnavailable(UserError, RuntimeError):
    """Spark could not start: Java is missing, or the master does not answer."""


def default_driver_memory() -> str:
    """The driver JVM's heap: on ``local[*]`` it is every executor's memory too, so 40% of the
    machine (at least 2 GiB, at most 32 GiB; $SONGSCOPE_SPARK_MEMORY overrides it). 4 GiB ran out
    while cleaning 5M songs on local[2]."""
    chosen = os.environ.get("SONGSCOPE_SPARK_MEMORY")
    if chosen:
        return chosen
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover - not Linux
        return "4g"
    return f"{max(2, min(32, int(total * 0.4 / 2**30)))}g"


def spark_session(master: str = "local[*]", memory: str | None = None) -> SparkSession:
    """A Spark session for `master`, created once per process and reused."""
    if master in _sessions:
        return _sessions[master]
    stop_sessions()  # one SparkContext per process: a session on another master would be handed back instead
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the Spark engine needs pyspark: pip install 'songscope[spark]' (and Java 17)") from exc
    # Workers must run the same Python as the driver, or they lack numpy and pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("songscope")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the hostname's address is not needed, nor its warning
    if master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        builder = (
            builder.master(master)
            .config("spark.driver.memory", memory or default_driver_memory())
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")  # songscope draws its own progress
            # Enough partitions that a shuffle's task holds a bounded share of a big catalogue;
            # adaptive execution merges them back for a small one.
            .config("spark.sql.shuffle.partitions", "200")
            .config("spark.sql.adaptive.enabled", "true")
            .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
            # ... the persisted intermediates of cleaning and clustering too. Without this, Spark
            # keeps a cached result at 200 partitions, and each later Python step (the loose rule,
            # the conflicts' wording, the staging writes) ran 200 tasks of a few rows each: ingest
            # and clean of 200,000 songs in 5 partitions took 95 s, with this 16 s.
            .config("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            # Spark's log at errors only, from the first line (setLogLevel comes after start-up's warnings).
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}")
            .config("spark.executor.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}")
        )
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: no Java, or a master that does not answer
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise SparkUnavailable(f"Spark could not start on {master}: {first}. Spark needs Java 17 (`java -version`) and, for a "
                               "cluster, a master that answers at that URL") from exc
    session.sparkContext.setLogLevel("ERROR") if not master.startswith("sc://") else None
    _sessions[master] = session
    return session


def stop_sessions() -> None:
    for session in _sessions.values():
        session.stop()
    _sessions.clear()
