"""Temporary folders named for the process that makes them (`folder_prefix`), so that what a
killed process left behind (an ingest's rows and keys on disk, a staged copy of a load, name
coordinates waiting for a commit: gigabytes for a big ingest) is found and removed by the next
ingest (`remove_abandoned`). A process that ends normally removes its own."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

_NAME = re.compile(r"songscope-([a-z]+)-(\d+)-[^/]+")


def folder_prefix(kind: str) -> str:
    """The prefix of a temporary folder of this process (for `tempfile.mkdtemp` and the like)."""
    return f"songscope-{kind}-{os.getpid()}-"


def temporary_folder(kind: str) -> Path:
    """A new temporary folder of this process, under the system's (``TMPDIR``)."""
    return Path(tempfile.mkdtemp(prefix=folder_prefix(kind)))


def remove_abandoned(under: str | Path | None = None) -> list[Path]:
    """Remove the folders `folder_prefix` named in processes that no longer run, under `under`
    (the system's temporary folder by default); returns them. A process of another user, or one
    whose number a new process has taken, keeps its folders. Only where a process's number can be
    asked after without harm (POSIX: on Windows, the call would end the process)."""
    if os.name != "posix":
        return []
    removed = []
    for path in Path(under or tempfile.gettempdir()).glob("songscope-*"):
        found = _NAME.fullmatch(path.name)
        if found is None or not path.is_dir() or _running(int(found.group(2))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, and is another user's
    return True
