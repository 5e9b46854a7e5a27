"""Named points in songscope's writes where a test can kill the process, or hold it.

The reliability contract (all or nothing, whatever moment a write dies at) is tested by killing
real ingests with SIGKILL at every point named here, and by holding one at a point while the test
stops the object store. Outside tests nothing is set and `reach` costs one dictionary lookup.

- ``SONGSCOPE_CRASH_AT=<point>``: SIGKILL this process on reaching the point.
- ``SONGSCOPE_HOLD_AT=<point>:<file>``: on reaching the point, create `file` and wait (up to a
  minute) until the test deletes it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

#: Every point, in the order an ingest reaches them.
INGEST_POINTS: tuple[str, ...] = (
    "ingest:read",              # the sources are read and validated
    "ingest:cleaned",           # duplicates merged, outliers flagged; nothing written yet
    "ingest:locked",            # the catalogue's lock is held
    "ingest:swept",             # a crashed ingest's leftovers are removed
    "ingest:catalogue-part",    # after each catalogue file is in the lake, its rows inserted (once per file)
    "ingest:database-written",  # every row is inserted, uncommitted; the record's files in the lake
    "ingest:lake-written",      # every lake file is written, none listed in the manifest yet
    "ingest:before-commit",     # the manifest lists them; the commit is next
    "ingest:committed",         # the database has committed: the ingest is visible
)
#: Reached only where workers load the database themselves (`store.staging`: the Spark backend
#: on PostgreSQL or MariaDB), between "ingest:swept" and "ingest:catalogue-part".
PARALLEL_LOAD_POINTS: tuple[str, ...] = (
    "ingest:staged",            # the workers' rows are in the staging tables, their catalogue files in the lake
)

#: Where a prune can die: its catalogue files rewritten and its rows deleted, not committed.
PRUNE_POINTS: tuple[str, ...] = (
    "prune:before-commit",
)

#: Where `songscope assign` can die: its pass's lake file written, its rows inserted, not committed.
ASSIGN_POINTS: tuple[str, ...] = (
    "assign:lake-written",
)


def reach(point: str) -> None:
    """Die or wait here if a test asked for it (see the module's docstring)."""
    if os.environ.get("SONGSCOPE_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
    hold = os.environ.get("SONGSCOPE_HOLD_AT", "")
    if hold.startswith(point + ":"):
        flag = Path(hold[len(point) + 1 :])
        flag.touch()
        deadline = time.monotonic() + 60
        while flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
