"""The object store: local folders and S3, atomic writes, globbing."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from songscope.store import lake as lake_io
from songscope.store.lake import Lake, LakeError


class FailingCopy:
    """A filesystem proxy whose final copy fails, as a network error after the upload would."""

    def __init__(self, fs):
        self._fs = fs

    def copy_file(self, src, dst):
        raise OSError("connection reset (simulated)")

    def __getattr__(self, name):
        return getattr(self._fs, name)


def _roundtrip_and_atomicity(lake: Lake, monkeypatch) -> None:
    lake.write_table("t/x.parquet", pa.table({"a": [1, 2, 3]}))
    assert lake.read_table("t/x.parquet").column("a").to_pylist() == [1, 2, 3]
    # Coordinates, written without a dictionary and byte-stream split, read back exactly.
    places = np.random.default_rng(0).standard_normal((1000, 2)).astype(np.float32)
    lake.write_table("t/places.parquet", pa.table({"x": places[:, 0], "y": places[:, 1]}), continuous=True)
    found = lake.read_table("t/places.parquet")
    assert np.array_equal(np.column_stack([found.column("x").to_numpy(), found.column("y").to_numpy()]), places)
    lake.delete("t/places.parquet")

    # A write that fails half way through serialising leaves the previous version whole.
    def half_written(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("out of memory (simulated)")

    monkeypatch.setattr(lake_io.pq, "write_table", half_written)
    with pytest.raises(OSError, match="simulated"):
        lake.write_table("t/x.parquet", pa.table({"a": [9]}))
    monkeypatch.undo()
    assert lake.read_table("t/x.parquet").column("a").to_pylist() == [1, 2, 3]

    # So does one that fails after the bytes were sent, before they became visible.
    real_fs = Lake._fs
    if lake_io.is_s3(lake.url):
        monkeypatch.setattr(Lake, "_fs", lambda self: (FailingCopy(real_fs(self)[0]), real_fs(self)[1]))
    else:
        monkeypatch.setattr(lake_io.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("simulated")))
    with pytest.raises(LakeError, match="simulated"):
        lake.write_bytes("t/x.parquet", b"garbage")
    monkeypatch.undo()
    assert lake.read_table("t/x.parquet").column("a").to_pylist() == [1, 2, 3]
    assert lake.keys() == ["t/x.parquet"]  # no temporary object is left visible


def test_local_lake(tmp_path, monkeypatch):
    lake = Lake(str(tmp_path / "lake"))
    _roundtrip_and_atomicity(lake, monkeypatch)


def test_local_write_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    lake = Lake(str(tmp_path))
    lake.write_bytes("k.bin", b"old")

    def broken_replace(src, dst):
        raise OSError("rename failed (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(LakeError, match="simulated"):
        lake.write_bytes("k.bin", b"new")
    monkeypatch.undo()
    assert lake.read_bytes("k.bin") == b"old"
    assert sorted(os.listdir(tmp_path)) == ["k.bin"]


def test_missing_table_is_a_clear_error(tmp_path):
    with pytest.raises(LakeError, match="cannot read"):
        Lake(str(tmp_path)).read_table("none.parquet")


def test_expand_folder_and_glob(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "b.parquet").write_text("x")
    (tmp_path / "c.txt.bak").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.csv").write_text("x")
    assert lake_io.expand(str(tmp_path), suffixes=(".csv", ".parquet")) == [str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")]
    assert lake_io.expand(str(tmp_path / "*.csv")) == [str(tmp_path / "a.csv")]
    assert lake_io.expand(str(tmp_path / "**" / "*.csv")) == [str(tmp_path / "sub" / "d.csv")]
    assert lake_io.expand(str(tmp_path / "nothing*.csv")) == []


@pytest.mark.s3
def test_s3_lake(s3_server, s3_lake_url, monkeypatch):
    lake = Lake(s3_lake_url, s3_server.endpoint)
    _roundtrip_and_atomicity(lake, monkeypatch)
    bucket = s3_lake_url[len("s3://"):].split("/")[0]
    assert Lake(f"s3://{bucket}", s3_server.endpoint).keys("_tmp") == []  # the upload's temporary key was removed
    assert lake.uri("t/x.parquet") == f"{s3_lake_url}/t/x.parquet"


@pytest.mark.s3
def test_s3_wrong_secret_is_refused(s3_server, s3_lake_url, monkeypatch):
    Lake(s3_lake_url, s3_server.endpoint).write_bytes("k", b"v")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(LakeError):
        Lake(s3_lake_url, s3_server.endpoint).read_bytes("k")
