"""songscope's name placement kernel: a fitted name model (`names.NameModel`) applied to many
names in one compiled pass, with the result of scikit-learn's ``TfidfTransformer(sublinear_tf=True)``
followed by ``TruncatedSVD.transform`` and rows of unit length.

The array path it replaces (n-gram keys for every place of every name, a hash lookup, a sort to
count them, three sparse matrix steps and a product) wrote and read about a dozen arrays of the
size of all n-gram occurrences: 1,000,000 names took about 9.5 s of CPU, the largest stage of a
first ingest after the store. Here each name is walked once: its padded words give their n-gram
keys (`ngrams.gram_key`'s), each is looked up in an open-addressing table of the vocabulary,
counted in a per-thread array stamped with the name's number (so nothing is cleared between
names), and each distinct n-gram adds ``(1 + log count) * idf`` times its row of the SVD's
components to the name's coordinates. The TF-IDF row's own length is left out: the coordinates
are scaled to unit length at the end, which cancels it.

`tests/recommend/test_name_placement.py` checks equality with scikit-learn's transform;
`bench/name_ngrams.py` measures the kernel against it and against the array path.
"""

from __future__ import annotations

import numba
import numpy as np

from songscope.recommend.ngrams import KEY_SPREAD, PAD_KEY, POINT_BITS

#: An empty slot of the vocabulary's table: no n-gram has key 0 (`ngrams.gram_key`).
_EMPTY = 0


def gram_table(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """An open-addressing table of the vocabulary's n-gram keys (int64, column = position):
    (slot keys, slot columns, shift), at most half full."""
    bits = max(4, int(2 * max(len(keys), 1) - 1).bit_length())
    slot_keys = np.zeros(1 << bits, dtype=np.int64)
    slot_columns = np.full(1 << bits, -1, dtype=np.int32)
    _fill(np.ascontiguousarray(keys, dtype=np.int64), slot_keys, slot_columns, 64 - bits)
    return slot_keys, slot_columns, 64 - bits


@numba.njit(cache=True, nogil=True)
def _fill(keys, slot_keys, slot_columns, shift):  # pragma: no cover - compiled
    mask = len(slot_keys) - 1
    for column in range(len(keys)):
        slot = np.int64((np.uint64(keys[column]) * KEY_SPREAD) >> np.uint64(shift))
        while slot_keys[slot] != _EMPTY and slot_keys[slot] != keys[column]:
            slot = (slot + 1) & mask
        slot_keys[slot] = keys[column]
        slot_columns[slot] = column


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _column_of(key, slot_keys, slot_columns, shift):  # pragma: no cover - compiled
    mask = len(slot_keys) - 1
    slot = np.int64((np.uint64(key) * KEY_SPREAD) >> np.uint64(shift))
    while True:
        found = slot_keys[slot]
        if found == key:
            return slot_columns[slot]
        if found == _EMPTY:
            return -1
        slot = (slot + 1) & mask


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _count(key, name, slot_keys, slot_columns, shift, stamps, counts, seen, distinct):  # pragma: no cover - compiled
    """Count one n-gram occurrence of name number `name`; returns the name's distinct n-grams so far."""
    column = _column_of(key, slot_keys, slot_columns, shift)
    if column < 0:
        return distinct
    if stamps[column] != name:
        stamps[column] = name
        counts[column] = 1
        seen[distinct] = column
        return distinct + 1
    counts[column] += 1
    return distinct


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _decode(data, at, end, points):  # pragma: no cover - compiled
    """The code points of UTF-8 ``data[at:end]`` into `points`; returns how many. A sequence cut
    short by `end` (never in Arrow's validated strings) ends the text."""
    count = 0
    while at < end:
        lead = np.int64(data[at])
        size = 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if at + size > end:
            break
        if size == 1:
            point = lead
        elif size == 2:
            point = ((lead & 0x1F) << 6) | (np.int64(data[at + 1]) & 0x3F)
        elif size == 3:
            point = ((lead & 0x0F) << 12) | ((np.int64(data[at + 1]) & 0x3F) << 6) | (np.int64(data[at + 2]) & 0x3F)
        else:
            point = (((lead & 0x07) << 18) | ((np.int64(data[at + 1]) & 0x3F) << 12) | ((np.int64(data[at + 2]) & 0x3F) << 6)
                     | (np.int64(data[at + 3]) & 0x3F))
        points[count] = point
        count += 1
        at += size
    return count


@numba.njit(cache=True, nogil=True, boundscheck=False)
def place_block(data, offsets, first, last, is_space, slot_keys, slot_columns, shift, idf, loadings, out):  # pragma: no cover - compiled
    """Place names `first` to `last` (exclusive): name i is the UTF-8 ``data[offsets[i]:offsets[i + 1]]``,
    lower-cased; its unit-length coordinates go to ``out[i, :rank]`` (zero for a name with no
    known n-gram). `loadings` is the SVD's components by n-gram (grams x rank)."""
    grams, rank = loadings.shape
    stamps = np.zeros(grams, dtype=np.int64)
    counts = np.zeros(grams, dtype=np.int32)
    seen = np.empty(grams, dtype=np.int32)
    place = np.zeros(rank, dtype=np.float64)
    longest = 0
    for i in range(first, last):
        longest = max(longest, offsets[i + 1] - offsets[i])
    points = np.empty(longest, dtype=np.int64)
    for i in range(first, last):
        name = i + 1  # stamps start at 0: no name is numbered 0
        distinct = 0
        end = _decode(data, offsets[i], offsets[i + 1], points)
        at = 0
        while at < end:
            # A word: the points up to the next white space, padded with a space on both sides
            # (scikit-learn's char_wb), each point stored plus one, 21 bits apart in a key.
            while at < end and points[at] < len(is_space) and is_space[points[at]]:
                at += 1
            if at == end:
                break
            start = at
            while at < end and not (points[at] < len(is_space) and is_space[points[at]]):
                at += 1
            size = at - start + 2
            for s in range(size):
                one = np.int64(PAD_KEY) if s == 0 or s == size - 1 else points[start + s - 1] + 1
                distinct = _count(one, name, slot_keys, slot_columns, shift, stamps, counts, seen, distinct)
                if s + 1 < size:
                    second = np.int64(PAD_KEY) if s + 1 == size - 1 else points[start + s] + 1
                    two = one | (second << POINT_BITS)
                    distinct = _count(two, name, slot_keys, slot_columns, shift, stamps, counts, seen, distinct)
                    if s + 2 < size:
                        third = np.int64(PAD_KEY) if s + 2 == size - 1 else points[start + s + 1] + 1
                        distinct = _count(two | (third << (2 * POINT_BITS)), name, slot_keys, slot_columns, shift, stamps, counts, seen, distinct)
        place[:] = 0.0
        for j in range(distinct):
            column = seen[j]
            weight = (1.0 + np.log(np.float64(counts[column]))) * idf[column]
            for d in range(rank):
                place[d] += weight * loadings[column, d]
        length = 0.0
        for d in range(rank):
            length += place[d] * place[d]
        if length > 0.0:
            length = np.sqrt(length)
            for d in range(rank):
                out[i, d] = np.float32(place[d] / length)
