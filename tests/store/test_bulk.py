"""Bulk loads: PostgreSQL's binary COPY (encoded from Arrow by pgpq) stores exactly what the CSV
COPY and plain inserts store: every type the catalogue uses, NULLs, empty and awkward text."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from songscope.store import bulk, db
from songscope.textcolumns import TEXT

_TABLE = sa.Table(
    "bulk_probe", sa.MetaData(),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("note", db.LongText),
    sa.Column("small", sa.Integer),
    sa.Column("big", sa.BigInteger),
    sa.Column("value", sa.Double),
    sa.Column("flag", sa.Boolean, nullable=False),
)

_AWKWARD = ["", "plain", 'say "hi", then\nleave', "tab\there\\back", "émigré 日本 🎵", ",", "NULL", "\\N"]


def _frame(text_dtype) -> pd.DataFrame:
    n = len(_AWKWARD) + 2
    return pd.DataFrame({
        "id": pd.Series([f"id{i:03d}" for i in range(n)], dtype=text_dtype),
        "note": pd.Series([*_AWKWARD, None, None], dtype=text_dtype),
        "small": pd.array([2**31 - 1, -(2**31), 0, None, 5, 6, 7, 8, 9, 10], dtype="Int64"),
        "big": pd.array([2**62, -(2**62), 0, 1, None, 3, 4, 5, 6, 7], dtype="Int64"),
        "value": [0.1, -0.0, 1e308, 5e-324, math.inf, -math.inf, np.nan, 1 / 3, 2.5, -7.25],
        "flag": [True, False] * 5,
    })


def _stored(conn) -> pd.DataFrame:
    return pd.read_sql(sa.select(_TABLE).order_by(_TABLE.c.id), conn)


@pytest.mark.parametrize("copy_rows", [100_000, 3])
@pytest.mark.parametrize("text_dtype", [object, TEXT])
@pytest.mark.parametrize("as_arrow", ["shared", "converted by pandas"])
def test_binary_copy_stores_what_csv_copy_and_plain_inserts_store(postgres_url, sqlite_url, text_dtype, copy_rows, as_arrow, monkeypatch):
    """In one piece and in pieces of three rows (one of them wholly NULL in a column); the columns
    as Arrow sharing the frame's buffers, or, where a column cannot be, converted by pandas."""
    frame = _frame(text_dtype)
    stored = {}
    for how, url in (("binary", postgres_url), ("csv", postgres_url), ("executemany", sqlite_url)):
        database = sa.create_engine(url)
        _TABLE.drop(database, checkfirst=True)
        _TABLE.create(database)
        monkeypatch.setattr(bulk, "COPY_ROWS", copy_rows)
        if as_arrow == "converted by pandas" and how != "executemany":
            monkeypatch.setattr(bulk, "_arrow_column", lambda values: (_ for _ in ()).throw(TypeError("mixed objects")))
        if how == "csv":
            monkeypatch.setattr(bulk, "_binary_schema", lambda table, columns: None)
        with database.begin() as conn:
            assert bulk.bulk_insert(conn, _TABLE, frame) == len(frame)
        monkeypatch.undo()
        with database.connect() as conn:
            stored[how] = _stored(conn)
        _TABLE.drop(database)
        database.dispose()
    pd.testing.assert_frame_equal(stored["binary"], stored["csv"])
    pd.testing.assert_frame_equal(stored["binary"], stored["executemany"], check_dtype=False)
    binary = stored["binary"]
    assert list(binary["note"].iloc[: len(_AWKWARD)]) == _AWKWARD and binary["note"].iloc[-2:].isna().all()  # "" is not NULL
    assert binary["small"].iloc[0] == 2**31 - 1 and pd.isna(binary["small"].iloc[3]) and binary["big"].iloc[1] == -(2**62)
    assert binary["value"].iloc[3] == 5e-324 and binary["value"].iloc[4] == math.inf and pd.isna(binary["value"].iloc[6])


def test_binary_copy_refuses_a_value_too_wide_for_its_column(postgres_url):
    database = sa.create_engine(postgres_url)
    _TABLE.drop(database, checkfirst=True)
    _TABLE.create(database)
    frame = _frame(object).assign(small=pd.array([2**31] + [1] * 9, dtype="Int64"))
    with pytest.raises(Exception, match="overflow|out of range|would lose|Integer value"), database.begin() as conn:
        bulk.bulk_insert(conn, _TABLE, frame)
    _TABLE.drop(database)
    database.dispose()


def test_key_order_is_the_order_of_the_key_as_bytes():
    """Byte order of UTF-8, as SQLite's BINARY and MySQL's utf8mb4_bin compare: upper case before
    lower, accents after ASCII; a composite key by its first column, then the next."""
    ids = ["b", "a", "B", "é", "e", "a0"]
    assert [ids[i] for i in bulk.key_order(_TABLE, pd.DataFrame({"id": pd.Series(ids, dtype=TEXT)}))] == ["B", "a", "a0", "b", "e", "é"]
    # As a CSV's text is read: in chunks, sorted across them.
    chunked = pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array([ids[:2], ids[2:3], ids[3:]], pa.large_string())))
    assert [ids[i] for i in bulk.key_order(_TABLE, pd.DataFrame({"id": chunked}))] == ["B", "a", "a0", "b", "e", "é"]
    pair = sa.Table("pair", sa.MetaData(), sa.Column("track_id", sa.String(8), primary_key=True), sa.Column("position", sa.Integer, primary_key=True))
    frame = pd.DataFrame({"track_id": ["t2", "t1", "t2", "t1"], "position": [1, 1, 0, 0]})
    assert bulk.key_order(pair, frame).tolist() == [3, 1, 2, 0]
    assert bulk.key_order(pair, frame[["position"]]) is None  # no key to order by: the frame's own order


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_executemany_inserts_in_key_order_and_stores_every_row_as_given(kind, request):
    """The executemany path (SQLite, MariaDB) inserts in key order, in chunks, so that each insert
    appends to the key's B-tree; what is stored is the frame, row for row."""
    url = request.getfixturevalue(f"{kind}_url")
    rng = np.random.default_rng(0)
    ids = [f"{value:012x}" for value in rng.permutation(2_500) * 7919]
    frame = pd.DataFrame({"id": pd.Series(ids, dtype=TEXT), "note": [f"row {i}" for i in range(len(ids))], "small": pd.array(range(len(ids)), dtype="Int64"),
                          "big": 1, "value": 0.5, "flag": True})
    database = sa.create_engine(url + ("?charset=utf8mb4" if kind == "mysql" else ""))
    _TABLE.drop(database, checkfirst=True)
    _TABLE.create(database)
    with database.begin() as conn:
        assert bulk.bulk_insert(conn, _TABLE, frame, chunk=1_000) == len(frame)
    with database.connect() as conn:
        stored = _stored(conn)
        if kind == "sqlite":  # the order the rows went in
            inserted = list(conn.execute(sa.text("SELECT id FROM bulk_probe ORDER BY rowid")).scalars())
            assert inserted == sorted(ids)
    _TABLE.drop(database)
    database.dispose()
    expected = frame.sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(stored, expected.astype({"id": object}), check_dtype=False)


def _typed_rows(conn) -> list[tuple]:
    """Every stored value with SQLite's own type of it, in the order the rows went in."""
    columns = [c.name for c in _TABLE.columns]
    return conn.exec_driver_sql(f"SELECT {', '.join(f'{c}, typeof({c})' for c in columns)} FROM bulk_probe ORDER BY rowid").fetchall()


def _attached(conn) -> list[str]:
    return [row[1] for row in conn.exec_driver_sql("PRAGMA database_list").fetchall() if row[1] not in ("main", "temp")]


@pytest.fixture
def staging_folder(tmp_path, monkeypatch):
    """Where staged copies are written (the temporary folder), watched for leftovers."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("slice_rows", [100_000, 7])
@pytest.mark.parametrize("text_dtype", [object, TEXT])
@pytest.mark.parametrize("shuffled", [True, False])
@pytest.mark.parametrize("files", [1, 2])
def test_sqlite_loads_staged_through_adbc_store_what_executemany_stores(tmp_path, staging_folder, text_dtype, slice_rows, shuffled, files, monkeypatch):
    """Every awkward value, NULL, NaN, infinity and bool has the same value and SQLite type, in the
    same (key) order, gathered whole or in slices of 7 rows, from Arrow text in one chunk
    (shuffled) or in the 30 its frames were joined from, staged in one file or in runs of the key
    order in two at once; the staged copies are attached while the transaction runs and gone after it."""
    from songscope.store.connect import engine_for

    frame = pd.concat([_frame(text_dtype).assign(id=lambda f, k=k: f["id"].astype(str) + f"-{k}") for k in range(30)], ignore_index=True)
    if shuffled:  # key order is the insert's to make either way: the ids of each chunk interleave
        frame = frame.sample(frac=1.0, random_state=0, ignore_index=True)
    stored = {}
    for how, stage_rows in (("staged", 1), ("executemany", 10**9)):
        database = engine_for(f"sqlite:///{tmp_path / (how + '.db')}")
        _TABLE.create(database)
        monkeypatch.setattr(bulk, "STAGE_ROWS", stage_rows)
        monkeypatch.setattr(bulk, "STAGE_SLICE_ROWS", slice_rows)
        monkeypatch.setattr(bulk, "STAGE_IN_PARTS_ROWS", 1 if files == 2 else 10**9)
        with database.begin() as conn:
            assert bulk.bulk_insert(conn, _TABLE, frame) == len(frame)
            assert len(_attached(conn)) == (files if how == "staged" else 0)
        with database.connect() as conn:
            assert _attached(conn) == []
            stored[how] = _typed_rows(conn)
        database.dispose()
    assert stored["staged"] == stored["executemany"] and len(stored["staged"]) == len(frame)
    assert [row[0] for row in stored["staged"]] == sorted(frame["id"].astype(str))
    assert list(staging_folder.iterdir()) == []


def test_a_staged_load_rolled_back_leaves_nothing_and_its_copy_is_removed(tmp_path, staging_folder, monkeypatch):
    from songscope.store.connect import engine_for

    database = engine_for(f"sqlite:///{tmp_path / 's.db'}")
    _TABLE.create(database)
    monkeypatch.setattr(bulk, "STAGE_ROWS", 1)
    with pytest.raises(RuntimeError, match="after the load"), database.begin() as conn:
        bulk.bulk_insert(conn, _TABLE, _frame(object))
        assert len(list(staging_folder.iterdir())) == 1
        raise RuntimeError("a failure after the load")
    with database.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM bulk_probe").scalar() == 0 and _attached(conn) == []
    assert list(staging_folder.iterdir()) == []
    database.dispose()


def test_loads_beyond_what_sqlite_can_attach_are_bound_and_a_plain_engine_never_stages(tmp_path, staging_folder, monkeypatch):
    """One transaction can read only so many attached copies: the loads after them are bound row by
    row, and every row of every load is stored. An engine made without songscope's settings (no
    one to detach the copies) binds every load."""
    import sqlite3

    from songscope.store.connect import engine_for

    database = engine_for(f"sqlite:///{tmp_path / 's.db'}")
    _TABLE.create(database)
    monkeypatch.setattr(bulk, "STAGE_ROWS", 1)
    frames = [_frame(object).assign(id=lambda f, k=k: f["id"] + f"-{k}") for k in range(5)]
    with database.begin() as conn:
        conn.connection.dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 2)
        for frame in frames:
            bulk.bulk_insert(conn, _TABLE, frame)
        assert len(_attached(conn)) == 2
    with database.connect() as conn:
        conn.connection.dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 10)
        assert conn.exec_driver_sql("SELECT count(*) FROM bulk_probe").scalar() == 5 * len(_AWKWARD) + 10 and _attached(conn) == []
    database.dispose()
    plain = sa.create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    _TABLE.create(plain)
    with plain.begin() as conn:
        bulk.bulk_insert(conn, _TABLE, frames[0])
        assert _attached(conn) == []
    plain.dispose()
    assert list(staging_folder.iterdir()) == []


def test_loads_deferred_to_the_blocks_end_take_the_same_attachments_however_many(tmp_path, staging_folder, monkeypatch):
    """Inside `inserts_deferred`, any number of loads of its tables are staged into the same
    copies (`STAGED_FILES`) and go in as the block ends, in the order loaded, each value as binding
    stores it; a table the block does not name goes in at once. A block that fails stores nothing,
    and leaves no copy."""
    import sqlite3

    from songscope.store.connect import engine_for

    other = sa.Table("other_probe", sa.MetaData(), sa.Column("id", sa.String(64), primary_key=True))
    frames = [_frame(object).assign(id=lambda f, k=k: f["id"] + f"-{k}").sample(frac=1.0, random_state=k) for k in range(5)]
    stored = {}
    monkeypatch.setattr(bulk, "STAGE_ROWS", 1)
    for how in ("deferred", "at once"):
        database = engine_for(f"sqlite:///{tmp_path / (how.replace(' ', '') + '.db')}")
        _TABLE.create(database)
        other.create(database)
        with database.begin() as conn:
            conn.connection.dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, bulk.STAGED_FILES + 1)
            with bulk.inserts_deferred(conn, [_TABLE]) if how == "deferred" else contextlib.nullcontext():
                for frame in frames:
                    bulk.bulk_insert(conn, _TABLE, frame)
                bulk.bulk_insert(conn, other, pd.DataFrame({"id": ["b", "a"]}))
                inside = conn.exec_driver_sql("SELECT count(*) FROM bulk_probe").scalar()
                assert conn.exec_driver_sql("SELECT count(*) FROM other_probe").scalar() == 2
            assert inside == (0 if how == "deferred" else sum(map(len, frames)))
            # deferred: the copies of every deferred load, and the other table's; at once: a copy
            # for each load until SQLite's limit, the rest bound
            assert len(_attached(conn)) == bulk.STAGED_FILES + 1
        with database.connect() as conn:
            stored[how] = _typed_rows(conn)
            assert _attached(conn) == []
        database.dispose()
    assert stored["deferred"] == stored["at once"] and len(stored["deferred"]) == sum(map(len, frames))
    assert list(staging_folder.iterdir()) == []

    database = engine_for(f"sqlite:///{tmp_path / 'failed.db'}")
    _TABLE.create(database)
    with pytest.raises(RuntimeError, match="a later chunk"), database.begin() as conn, bulk.inserts_deferred(conn, [_TABLE]):
        bulk.bulk_insert(conn, _TABLE, frames[0])
        raise RuntimeError("a later chunk failed")
    with database.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM bulk_probe").scalar() == 0 and _attached(conn) == []
        assert bulk._DEFERRED not in conn.info
    database.dispose()
    assert list(staging_folder.iterdir()) == []


def test_a_column_without_values_is_staged_and_times_are_bound(tmp_path, staging_folder, monkeypatch):
    """A column with no value at all (Arrow's null type) is staged as NULLs; a column of times is
    not staged at all (SQLAlchemy writes their text, not the driver): both store what binding stores."""
    from datetime import datetime

    from songscope.store.connect import engine_for

    timed = sa.Table("timed_probe", sa.MetaData(), sa.Column("id", sa.String(64), primary_key=True), sa.Column("at", sa.DateTime))
    cases = [(_TABLE, _frame(object).assign(note=[None] * 10), 1),
             (timed, pd.DataFrame({"id": ["b", "a"], "at": [datetime(2026, 12, 7, 1, 2, 3), None]}), 0)]
    for table, frame, attached in cases:
        stored = {}
        for how, stage_rows in (("staged", 1), ("executemany", 10**9)):
            database = engine_for(f"sqlite:///{tmp_path / (how + table.name + '.db')}")
            table.create(database)
            monkeypatch.setattr(bulk, "STAGE_ROWS", stage_rows)
            with database.begin() as conn:
                bulk.bulk_insert(conn, table, frame)
                assert len(_attached(conn)) == (attached if how == "staged" else 0)
            with database.connect() as conn:
                columns = [c.name for c in table.columns]
                stored[how] = conn.exec_driver_sql(f"SELECT {', '.join(f'{c}, typeof({c})' for c in columns)} FROM {table.name} ORDER BY rowid").fetchall()
            database.dispose()
        assert stored["staged"] == stored["executemany"] and len(stored["staged"]) == len(frame)
    assert list(staging_folder.iterdir()) == []


def test_a_load_of_fewer_rows_than_staged_files_stores_each_row_once(tmp_path, staging_folder, monkeypatch):
    """A run of the key order may be empty: its staged table has no rows, and every row goes in once."""
    from songscope.store.connect import engine_for

    database = engine_for(f"sqlite:///{tmp_path / 's.db'}")
    _TABLE.create(database)
    monkeypatch.setattr(bulk, "STAGE_ROWS", 1)
    monkeypatch.setattr(bulk, "STAGE_IN_PARTS_ROWS", 1)
    with database.begin() as conn:
        bulk.bulk_insert(conn, _TABLE, _frame(object).iloc[:1])
        assert len(_attached(conn)) == bulk.STAGED_FILES
    with database.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM bulk_probe").fetchall() == [(_frame(object)["id"].iloc[0],)]
    database.dispose()
    assert list(staging_folder.iterdir()) == []
