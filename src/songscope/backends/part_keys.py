"""Every part's keys (`row_keys.RowKeys`), held while the input fits and on disk beyond it
(`PartKeys`), and the rows among them that share a key with another row (`shared_keys`).

Cleaning's rules merge only rows that share a track id, a near key or a loose key (`clean`), so a
row whose three keys are its own is kept as it is and changes no other row's fate. Deciding then
needs the keys of the rows that share one, and of the others only what the report counts. Which
values repeat is found bucket by bucket (the values' top bits), from the parts' hashes on disk,
so the ingest of a catalogue of unique songs holds no key for every row: its memory is that of a
few batches whatever the file's size (at 5M rows the keys of every row were about 80 bytes a row).
"""

from __future__ import annotations

import math
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from songscope.clean import OtherRows
from songscope.key_groups import among, repeated_values
from songscope.row_keys import RowKeys
from songscope.temporary import temporary_folder

#: Values of each key compared at a time when the repeated ones are looked for: its sort's memory
#: (a few times 8 bytes a value), not the input's.
BUCKET_ROWS = 1 << 20


class PartKeys:
    """The keys of each part read, in order (part `n`'s rows are numbered from `firsts[n]`): in
    memory up to `hold_rows` rows, then each part's on disk (in a folder `close` removes), with its
    three hashes apart so that the search for repeated values maps them and reads nothing else."""

    def __init__(self, hold_rows: int):
        self.hold_rows = hold_rows
        self.firsts: list[int] = []
        self.rows = 0
        self._held: list[RowKeys | None] = []
        self._files: list[Path | None] = []
        self.folder: Path | None = None

    @property
    def spilling(self) -> bool:
        return self.folder is not None

    def add(self, keys: RowKeys) -> None:
        self.firsts.append(self.rows)
        self.rows += len(keys)
        self._held.append(keys)
        self._files.append(None)
        if not self.spilling and self.rows > self.hold_rows:
            self.folder = temporary_folder("keys")
        if self.spilling:
            for number, held in enumerate(self._held):
                if held is not None:
                    self._files[number] = self._spill(number, held)
                    self._held[number] = None

    def settle(self) -> None:
        """No more parts: keys held are joined into one block, each part's a view of it. Made
        by the reading threads, they lay among what those threads freed, which they kept from
        going back to the system (about 90 MB more at the peak of a million rows)."""
        if not self.spilling and len(self) > 1:
            joined = RowKeys.concat(self._held)  # type: ignore[arg-type]
            self._held = [joined.slice(first, first + self.part_rows(n)) for n, first in enumerate(self.firsts)]

    def _spill(self, number: int, keys: RowKeys) -> Path:
        path = self.folder / f"keys-{number:05d}.pickle"  # type: ignore[operator]
        with open(path, "wb") as handle:  # our own file, read back by this process only
            pickle.dump(keys, handle, protocol=5)
        np.save(path.with_suffix(".npy"), np.concatenate(_hashes(keys)))
        return path

    def __len__(self) -> int:
        return len(self.firsts)

    def keys(self, number: int) -> RowKeys:
        held = self._held[number]
        if held is not None:
            return held
        with open(self._files[number], "rb") as handle:  # type: ignore[arg-type]
            return pickle.load(handle)  # noqa: S301 - a file this process wrote

    def hashes(self, number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Part `number`'s id hashes, near keys and loose keys (of the rows with both names), as
        unsigned words; mapped from disk when the part is there."""
        held = self._held[number]
        if held is not None:
            return _hashes(held)
        words = np.load(self._files[number].with_suffix(".npy"), mmap_mode="r")  # type: ignore[union-attr]
        rows = self.part_rows(number)
        return words[:rows], words[rows:2 * rows], words[2 * rows:]

    def part_rows(self, number: int) -> int:
        return (self.firsts[number + 1] if number + 1 < len(self.firsts) else self.rows) - self.firsts[number]

    def between(self, first: int, stop: int, *names: str) -> list[np.ndarray]:
        """The keys `names` (`RowKeys` fields held as numbers) of rows `first` to `stop`, which
        begin and end parts (as a batch's do)."""
        found = [self.keys(n) for n in range(len(self)) if first <= self.firsts[n] < stop] or [self.keys(0).slice(0, 0)]
        if sum(len(keys) for keys in found) != stop - first:
            raise ValueError(f"rows {first} to {stop} do not begin and end parts")
        return [np.concatenate([getattr(keys, name) for keys in found]) if len(found) > 1 else getattr(found[0], name) for name in names]

    def close(self) -> None:
        self._held = [None] * len(self._held)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _hashes(keys: RowKeys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (keys.id_hashes.view(np.uint64), keys.near_keys.view(np.uint64), keys.loose_keys[keys.loose_named].view(np.uint64))


@dataclass(frozen=True)
class SharedKeys:
    """The rows of an input that share a key with another row (`shared_keys`), and what the
    report counts of the rest."""

    #: Their numbers in the whole input, rising.
    rows: np.ndarray
    keys: RowKeys
    others: OtherRows


def shared_keys(parts: PartKeys, bucket_rows: int = BUCKET_ROWS) -> SharedKeys:
    """The rows of `parts` whose id hash, near key or loose key another row has too, with their keys."""
    if not len(parts):
        raise ValueError("no part was read")
    bits = math.ceil(math.log2(parts.rows / bucket_rows)) if parts.rows > bucket_rows else 0
    repeated: list[list[np.ndarray]] = [[], [], []]
    for bucket in range(1 << bits):
        values: list[list[np.ndarray]] = [[], [], []]
        for number in range(len(parts)):
            for kind, words in enumerate(parts.hashes(number)):
                values[kind].append(np.asarray(words[(words >> np.uint64(64 - bits)) == bucket]) if bits else words)
        for kind in range(3):
            repeated[kind].append(repeated_values(np.concatenate(values[kind])))
            values[kind] = []
    # Buckets in order of their top bits: each kind's repeated values, joined, are in order.
    repeated_ids, repeated_near, repeated_loose = (np.concatenate(found) for found in repeated)

    rows, taken = [], []
    other_rows = other_flagged = 0
    other_outliers: np.ndarray | None = None
    for number in range(len(parts)):
        keys = parts.keys(number)
        shared = (among(keys.id_hashes.view(np.uint64), repeated_ids) | among(keys.near_keys.view(np.uint64), repeated_near)
                  | (keys.loose_named & among(keys.loose_keys.view(np.uint64), repeated_loose)))
        mine = np.flatnonzero(shared)
        rows.append(mine + parts.firsts[number])
        taken.append(keys.take(mine))
        flags = keys.outliers[~shared]
        other_rows += len(flags)
        other_flagged += int(flags.any(axis=1).sum())
        counts = flags.sum(axis=0)
        other_outliers = counts if other_outliers is None else other_outliers + counts
    return SharedKeys(np.concatenate(rows), RowKeys.concat(taken), OtherRows(other_rows, other_outliers, other_flagged))  # type: ignore[arg-type]

