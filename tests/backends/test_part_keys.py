"""The parts' keys, held or on disk, and the rows that share a key: what a count of every value
over the whole input finds, however the input is cut into parts and its values into buckets."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.backends.part_keys import PartKeys, shared_keys
from songscope.row_keys import RowKeys

#: Words over the whole 64-bit range (so every bucket's top bits occur), the edges among them,
#: drawn from to make values repeat: the loose keys from the first 8 (often), the others from all.
WORDS = np.concatenate([np.array([0, 1, 2**63 - 1, 2**63, 2**63 + 5, 2**64 - 1, 0x9E3779B97F4A7C15, 0x1234567890ABCDEF], dtype=np.uint64),
                        np.random.default_rng(29).integers(0, 2**64 - 1, size=40, dtype=np.uint64)])


def _keys(draw_indices: list[tuple[int, int, int, bool, bool, bool]], first_line: int) -> RowKeys:
    ids, near, loose, named, flag_a, flag_b = (np.array(column) for column in zip(*draw_indices, strict=True)) if draw_indices else ([],) * 6
    rows = len(draw_indices)
    return RowKeys(
        track_ids=pa.array([f"id{WORDS[i]}" for i in ids], type=pa.large_string()),
        id_hashes=WORDS[np.asarray(ids, dtype=int)],
        popularity=np.zeros(rows), durations=np.zeros(rows),
        near_keys=WORDS[np.asarray(near, dtype=int)].view(np.int64),
        loose_keys=WORDS[np.asarray(loose, dtype=int)],
        loose_named=np.asarray(named, dtype=bool),
        outliers=np.column_stack([np.asarray(flag_a, dtype=bool), np.asarray(flag_b, dtype=bool)]).reshape(rows, 2),
        lines=np.arange(first_line, first_line + rows, dtype=np.int64),
    )


def _repeats(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Whether each value occurs more than once among the rows `among` (and the row is one of them)."""
    counts: dict[int, int] = {}
    for value in values[among]:
        counts[int(value)] = counts.get(int(value), 0) + 1
    return among & np.array([counts.get(int(v), 0) > 1 for v in values], dtype=bool)


row = st.tuples(st.integers(0, len(WORDS) - 1), st.integers(0, len(WORDS) - 1), st.integers(0, 7), st.booleans(), st.booleans(), st.booleans())


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.lists(row, max_size=12), min_size=1, max_size=6), hold_rows=st.sampled_from([0, 5, 1000]),
       bucket_rows=st.sampled_from([1, 2, 5, 1000]))
def test_the_shared_rows_are_those_whose_id_near_or_loose_key_another_row_has(parts, hold_rows, bucket_rows):
    keys = PartKeys(hold_rows)
    try:
        for part in parts:
            keys.add(_keys(part, keys.rows))
        whole = RowKeys.concat([keys.keys(n) for n in range(len(keys))])
        shared = shared_keys(keys, bucket_rows)
        assert keys.spilling == (keys.rows > hold_rows)
    finally:
        keys.close()
    every = np.ones(len(whole), dtype=bool)
    expected = (_repeats(whole.id_hashes, every) | _repeats(whole.near_keys, every)
                | _repeats(whole.loose_keys, whole.loose_named))
    assert shared.rows.tolist() == np.flatnonzero(expected).tolist()
    assert shared.keys.lines.tolist() == whole.lines[expected].tolist()
    assert shared.keys.track_ids.to_pylist() == whole.track_ids.filter(pa.array(expected)).to_pylist()
    assert shared.others.count == int((~expected).sum())
    assert shared.others.outliers.tolist() == whole.outliers[~expected].sum(axis=0).tolist()
    assert shared.others.outlier_rows == int(whole.outliers[~expected].any(axis=1).sum())


def test_keys_on_disk_read_back_as_written_and_are_removed():
    keys = PartKeys(hold_rows=3)
    first = _keys([(1, 2, 3, True, False, True), (4, 5, 6, False, True, False)], 0)
    second = _keys([(7, 0, 1, True, True, True), (2, 2, 2, True, False, False)], 2)
    keys.add(first)
    assert not keys.spilling
    keys.add(second)
    folder = keys.folder
    assert keys.spilling and folder is not None and len(list(folder.glob("*.pickle"))) == 2
    outliers, lines = keys.between(0, 4, "outliers", "lines")
    assert np.array_equal(outliers, np.vstack([first.outliers, second.outliers])) and lines.tolist() == [0, 1, 2, 3]
    assert keys.between(2, 4, "near_keys")[0].tolist() == second.near_keys.tolist()
    assert keys.between(2, 2, "lines")[0].tolist() == []
    ids, near, loose = keys.hashes(1)
    assert ids.tolist() == second.id_hashes.tolist() and near.tolist() == second.near_keys.view(np.uint64).tolist()
    assert loose.tolist() == second.loose_keys[second.loose_named].tolist()
    with pytest.raises(ValueError, match="do not begin and end parts"):
        keys.between(0, 3, "lines")
    keys.close()
    assert not folder.exists()
