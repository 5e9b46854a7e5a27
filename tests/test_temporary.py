"""Temporary folders named for their process: what a killed process left is removed, nothing
of a process still running is."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from songscope.temporary import folder_prefix, remove_abandoned, temporary_folder


def _ended_pid() -> int:
    """The number of a process that has ended (a child, waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.name != "posix", reason="processes are asked after on POSIX only")
def test_only_the_folders_of_ended_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    ended = _ended_pid()
    left = [tmp_path / f"songscope-{kind}-{ended}-x1y2" for kind in ("ingest", "keys", "staged", "names")]
    for folder in left:
        (folder / "inside").mkdir(parents=True)
        (folder / "inside" / "rows.db").write_bytes(b"rows")
    mine = temporary_folder("ingest")
    parent = tmp_path / f"songscope-ingest-{os.getppid()}-a"  # a process still running
    parent.mkdir()
    others = [tmp_path / "songscope-notours", tmp_path / f"songscope-ingest-{ended}"]  # not named by folder_prefix
    for folder in others:
        folder.mkdir()
    stray_file = tmp_path / f"songscope-keys-{ended}-file"
    stray_file.write_text("a file, not a folder")

    assert mine.name.startswith(folder_prefix("ingest")) and mine.parent == tmp_path
    assert sorted(remove_abandoned()) == sorted(left)
    assert not any(folder.exists() for folder in left)
    assert mine.is_dir() and parent.is_dir() and all(folder.is_dir() for folder in others) and stray_file.is_file()
    assert remove_abandoned(tmp_path) == []
