"""Provenance as the lake keeps it: credited to the stored song that absorbed a track, each row once."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from songscope.store import provenance
from songscope.textcolumns import TEXT


def _rows(text_dtype) -> pd.DataFrame:
    return pd.DataFrame({"track_id": pd.Series(["a", "reissue", "b", "a"], dtype=text_dtype),
                         "source": pd.Series(["x.csv", "x.csv", "y.csv", "y.csv"], dtype=text_dtype), "line": [2, 3, 2, 3]})


def test_rows_are_credited_to_the_song_that_absorbed_them_and_recorded_rows_are_left_out():
    for text_dtype in (object, TEXT):  # cleaning hands text over as Python or as Arrow strings
        recorded = pa.table({"track_id": ["b", "zz"], "source_id": pa.array([2, 2], pa.int64()), "line": pa.array([2, 9], pa.int64())})
        table = provenance.credited(_rows(text_dtype), {"x.csv": 1, "y.csv": 2}, {"reissue": "stored"}, recorded)
        assert table.schema == provenance.SCHEMA
        assert table.to_pylist() == [
            {"track_id": "a", "source_id": 1, "source": "x.csv", "line": 2},
            {"track_id": "stored", "source_id": 1, "source": "x.csv", "line": 3},
            {"track_id": "a", "source_id": 2, "source": "y.csv", "line": 3},
        ]


def test_a_chunk_keeps_its_order_whatever_is_left_out():
    lines = list(range(2, 5_002))
    rows = pd.DataFrame({"track_id": [f"t{line % 97}" for line in lines], "source": "x.csv", "line": lines})
    recorded = pa.table({"track_id": [f"t{line % 97}" for line in lines[::3]], "source_id": pa.array([1] * len(lines[::3]), pa.int64()),
                         "line": pa.array(lines[::3], pa.int64())})
    table = provenance.credited(rows, {"x.csv": 1}, {}, recorded)
    assert table.column("line").to_pylist() == [line for i, line in enumerate(lines) if i % 3]


def test_nothing_absorbed_and_nothing_recorded_keeps_every_row_as_it_is():
    rows = _rows(TEXT)
    table = provenance.credited(rows, {"x.csv": 1, "y.csv": 2}, {}, None)
    assert table.column("track_id").to_pylist() == list(rows["track_id"]) and table.column("line").to_pylist() == [2, 3, 2, 3]
