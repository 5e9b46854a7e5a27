"""Rows grouped by a key, and the row each group keeps under cleaning's keep rule (highest
popularity, then first read): the kernels of `clean`'s rules and of `backends.part_keys`' search
for the rows that share a key."""

from __future__ import annotations

import numpy as np
import pandas as pd


def first_index_per_key(key: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row with the same key."""
    codes, uniques = pd.factorize(key)
    first = np.full(len(uniques), len(key), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(key)))
    return first[codes]


def preference_order(popularity: np.ndarray) -> np.ndarray:
    """Rank of each row under the keep rule: highest popularity, then first read (0 is best).
    Only ranks within a group are compared, so the ranks of any rows, in the order read, may be
    taken among those rows alone."""
    ranking = np.lexsort((np.arange(len(popularity)), -popularity))
    order = np.empty(len(popularity), dtype=np.int64)
    order[ranking] = np.arange(len(popularity))
    return order


#: Values looked up at a time by `among`: its temporaries are a slice's, not the input's.
LOOKUP_SLICE = 1 << 20


def repeated_values(values: np.ndarray) -> np.ndarray:
    """The values that occur more than once, rising. By sorting a copy, not by a hash table of
    every value (about 40 bytes a value: 400 MB at 10M rows, the ingest's peak while deciding)."""
    ordered = np.sort(values)
    return np.unique(ordered[1:][ordered[1:] == ordered[:-1]])


def among(values: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Whether each value is one of `ordered` (rising), looked up a slice at a time."""
    found = np.zeros(len(values), dtype=bool)
    if len(ordered):
        for start in range(0, len(values), LOOKUP_SLICE):
            part = values[start : start + LOOKUP_SLICE]
            found[start : start + LOOKUP_SLICE] = ordered[np.minimum(np.searchsorted(ordered, part), len(ordered) - 1)] == part
    return found


def is_repeated(values: np.ndarray) -> np.ndarray:
    """Whether each value occurs more than once."""
    return among(values, repeated_values(values))


def merged_per_group(keys: np.ndarray, popularity: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dropped, kept): each row whose group keeps another row under the keep rule, in the order
    read, and the row kept. `keys` are those of `rows` (in the order read; None: of every row),
    `popularity` that of every row. Only rows whose key repeats are grouped and ranked."""
    shared = np.flatnonzero(is_repeated(keys))
    members = shared if rows is None else rows[shared]
    winners = keep_among(keys[shared], preference_order(popularity[members]), members)
    merged = winners != members
    return members[merged], winners[merged]


def keep_among(keys: np.ndarray, preference: np.ndarray, row_index: np.ndarray) -> np.ndarray:
    """For each of the rows `row_index`, the row its group (by `keys`) keeps: the lowest `preference` rank."""
    codes, uniques = pd.factorize(keys)
    best = np.full(len(uniques), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, codes, preference)
    is_best = preference == best[codes]
    winner = np.empty(len(uniques), dtype=np.int64)
    winner[codes[is_best]] = row_index[is_best]
    return winner[codes]


def repoint(representative: np.ndarray, dropped: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Each row's representative once the `dropped` rows have become the `kept` ones."""
    target = np.arange(len(representative))
    target[dropped] = kept
    return target[representative]
