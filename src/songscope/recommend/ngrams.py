"""Character n-gram counts of many names at once, in array operations.

scikit-learn's `char_wb` analyzer builds every name's n-grams as Python strings, one name at a
time: about 65 µs a name here, so 1M names take over a minute. Here the same counts come from
one array of code points: each n-gram of up to three characters is one exact 63-bit integer (21
bits a code point), looked up in the vocabulary through a pandas hash index. The vocabulary is
found the same way (`fit_vocabulary`); scikit-learn still weighs the counts and reduces them
(`names.NameModel`). `tests/recommend/test_ngrams.py` checks that vocabulary and
counts equal `CountVectorizer`'s exactly, and `bench/name_ngrams.py` measures both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

#: Longest n-gram one integer key can hold (three 21-bit code points in 63 bits).
MAX_N = 3
#: Bits of a code point in a key: three of them fit 63 bits.
POINT_BITS = 21
#: The space that pads each word, as a key holds it (its code point plus one: no key is 0).
PAD_KEY = ord(" ") + 1
#: Fibonacci hashing's multiplier (2**64 / golden ratio, odd): spreads a key's bits over the word.
KEY_SPREAD = np.uint64(0x9E3779B97F4A7C15)
_MASK = (1 << POINT_BITS) - 1


@lru_cache(maxsize=1)
def is_space_table() -> np.ndarray:
    """`str.isspace` for every code point (what `str.split()` splits on). All of them are
    below U+3001."""
    table = np.zeros(0x110000, dtype=bool)
    table[: 0x3001] = [chr(c).isspace() for c in range(0x3001)]
    return table


def gram_key(gram: str) -> int:
    """The integer key of an n-gram of one to `MAX_N` characters: each code point plus one, 21
    bits apart, so n-grams of different lengths never share a key.

    >>> gram_key(" "), gram_key("ab") == (ord("a") + 1) | (ord("b") + 1) << 21
    (33, True)
    """
    if not 1 <= len(gram) <= MAX_N:
        raise ValueError(f"an n-gram has 1 to {MAX_N} characters, not {len(gram)}: {gram!r}")
    key = 0
    for place, char in enumerate(gram):
        key |= (ord(char) + 1) << (POINT_BITS * place)
    return key


def _scrambled(keys: np.ndarray) -> np.ndarray:
    """`keys` times a large odd number, modulo 2**64: one-to-one, so no two keys meet, but the
    code points' bits are spread over the whole word. pandas hashes an int64 by a few shifts, and
    keys that differ only in the middle character's low bits would share its buckets."""
    return (keys.view(np.uint64) * KEY_SPREAD).view(np.int64)


def gram_keys(texts: Sequence[str] | pa.Array, ngram_range: tuple[int, int] = (1, 3), lowercase: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram occurrence of `texts` as (text row, key), in the way of scikit-learn's
    `char_wb` analyzer: words split on whitespace, each padded with a space on both sides, and
    all its substrings of n characters for n in `ngram_range`. Among them are places that hold
    no n-gram, with key 0 (cheaper to skip later than to cut out here).

    >>> rows, keys = gram_keys(["ab", ""], ngram_range=(2, 2))
    >>> rows[keys > 0].tolist(), sorted(keys[keys > 0].tolist()) == sorted(gram_key(g) for g in [" a", "ab", "b "])
    ([0, 0, 0], True)
    """
    low, high = ngram_range
    if not 1 <= low <= high <= MAX_N:
        raise ValueError(f"ngram_range must lie within 1..{MAX_N}, not {ngram_range}")
    points, lengths = code_points(texts, lowercase)
    row_of_point = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    kept_at = np.flatnonzero(~is_space_table()[points])
    points, row_of_point = points[kept_at], row_of_point[kept_at]
    # A word starts where the point before it was a space or in another text.
    starts = np.ones(len(kept_at), dtype=bool)
    starts[1:] = (kept_at[1:] != kept_at[:-1] + 1) | (row_of_point[1:] != row_of_point[:-1])
    word_of_point = np.cumsum(starts, dtype=np.int64) - 1
    words = int(word_of_point[-1]) + 1 if len(word_of_point) else 0
    # The padded stream: " word " for every word, end to end, as code point + 1 (so that no
    # key is 0); a word's n-grams stay within it.
    stream = np.full(len(points) + 2 * words, PAD_KEY, dtype=np.int64)
    placed = np.arange(len(points)) + 2 * word_of_point + 1
    stream[placed] = points.astype(np.int64) + 1
    word_ends = np.cumsum(np.bincount(word_of_point, minlength=words) + 2) - 1
    row_of_stream = np.repeat(row_of_point[starts], np.diff(word_ends, prepend=-1))
    # One slot per n and stream place; a slot whose n-gram would run past its padded word into
    # the next (it starts in the word's last n - 1 places) keeps key 0, which no n-gram has.
    sizes = [max(len(stream) - n + 1, 0) for n in range(low, high + 1)]
    keys = np.empty(sum(sizes), dtype=np.int64)
    rows = np.empty(sum(sizes), dtype=np.int32)
    at = 0
    for n, count in zip(range(low, high + 1), sizes):
        out = keys[at : at + count]
        np.copyto(out, stream[:count])
        for place in range(1, n):
            out |= stream[place : place + count] << (POINT_BITS * place)
        for back in range(n - 1):
            ends = word_ends - back
            out[ends[ends < count]] = 0
        rows[at : at + count] = row_of_stream[:count]
        at += count
    return rows, keys


def code_points(texts: Sequence[str] | pa.Array | pa.ChunkedArray, lowercase: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every text's code points end to end (uint32) and each text's length in them, lower-cased
    as Python's `str.lower` does when `lowercase`. `texts` may be Arrow strings (a missing one is
    empty): then their UTF-8 is decoded in array operations, with no Python string per text (a
    million names' strings cost about 3 s to make), and only the non-ASCII texts are lowered by
    Python (Arrow's lower case differs from Python's on a few letters, such as "İ")."""
    import pyarrow as pa

    if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
        if lowercase:
            texts = [text.lower() for text in texts]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        return np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32), lengths
    from songscope.textcolumns import utf8_buffers

    texts = lowered_texts(texts) if lowercase else _large_texts(texts)
    if not len(texts):
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64)
    data, offsets = utf8_buffers(texts)
    # UTF-8: a code point starts at each byte that is not a continuation (10xxxxxx); its lead byte
    # says how many continuation bytes follow, each adding six bits.
    is_lead = (data & 0xC0) != 0x80
    leads = np.flatnonzero(is_lead)
    first = data[leads].astype(np.uint32)
    size = 1 + (first >= 0xC0).astype(np.int64) + (first >= 0xE0) + (first >= 0xF0)
    points = np.where(size == 1, first, first & np.where(size == 2, 0x1F, np.where(size == 3, 0x0F, 0x07)).astype(np.uint32))
    for extra in (1, 2, 3):
        more = np.flatnonzero(size > extra)
        points[more] = (points[more] << 6) | (data[leads[more] + extra] & 0x3F)
    leads_before = np.concatenate(([0], np.cumsum(is_lead, dtype=np.int64)))
    lengths = np.diff(leads_before[offsets])
    return points, lengths


def _large_texts(texts: pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    from songscope.textcolumns import arrow_strings

    return pc.fill_null(pc.cast(arrow_strings(texts), pa.large_string()), "")  # an empty list is Arrow's null type


def lowered_texts(texts: pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    """Arrow `texts` lower-cased as Python's `str.lower` does, a missing one empty: ASCII texts
    by Arrow, the others by Python (Arrow's lower case differs from Python's on a few letters,
    such as "İ")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = _large_texts(texts)
    if not len(texts):
        return texts
    wide = np.flatnonzero(~pc.string_is_ascii(texts).to_numpy(zero_copy_only=False))
    lowered = pc.ascii_lower(texts)
    if len(wide):
        mask = np.zeros(len(texts), dtype=bool)
        mask[wide] = True
        python = pa.array([text.lower() for text in texts.take(pa.array(wide)).to_pylist()], texts.type)
        lowered = pc.replace_with_mask(lowered, pa.array(mask), python)
    return lowered


def lowered_utf8(texts: Sequence[str] | pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of `texts` lower-cased as Python's `str.lower` does, end to end (uint8), and
    where each starts in them (one offset more than texts). Arrow strings are lowered by
    `lowered_texts` and their buffer shared; Python strings keep a lone surrogate as its three
    bytes ("surrogatepass"), as `code_points` keeps its code point."""
    import pyarrow as pa

    from songscope.textcolumns import utf8_buffers

    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return utf8_buffers(lowered_texts(texts))
    encoded = [text.lower().encode("utf-8", "surrogatepass") for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(keys, return_inverse=True)` by hashing, not sorting: the distinct keys in order
    and each key's number among them. A fitting sample's millions of n-grams hold a few hundred
    thousand distinct ones at most, so hashing them and sorting the distinct few is several times
    faster (the 7.8M n-grams of 50,000 real names, 21,595 distinct: 0.11 s against 1.8 s)."""
    import pandas as pd

    codes, _ = pd.factorize(_scrambled(keys))  # scrambled: see `_scrambled`
    first = np.empty(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # the last write of each code is its first place
    distinct = keys[first]
    order = np.argsort(distinct)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return distinct[order], rank[codes]


def _run_starts(ordered: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts in a sorted array.

    >>> _run_starts(np.array([1, 1, 2, 5, 5])).tolist()
    [0, 2, 3]
    """
    if not len(ordered):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))


def gram_of(key: int) -> str:
    """The n-gram of a key (the inverse of `gram_key`).

    >>> gram_of(gram_key("ab "))
    'ab '
    """
    chars = []
    while key:
        chars.append(chr((key & _MASK) - 1))
        key >>= POINT_BITS
    return "".join(chars)


def fit_vocabulary(texts: Sequence[str], min_df: int = 1, max_features: int | None = None, ngram_range: tuple[int, int] = (1, 3),
                   lowercase: bool = True) -> dict[str, int]:
    """The vocabulary `CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, min_df=min_df,
    max_features=max_features).fit(texts)` finds: the n-grams in at least `min_df` texts, the
    `max_features` most frequent of them (ties broken by key, where scikit-learn's order is
    arbitrary), numbered in sorted order. Empty when no n-gram qualifies (scikit-learn raises).

    >>> fit_vocabulary(["ab", "b"], min_df=2)
    {' ': 0, 'b': 1, 'b ': 2}
    """
    found = [_gram_frequencies(texts[start : start + FIT_CHUNK], ngram_range, lowercase) for start in range(0, len(texts), FIT_CHUNK)]
    found = [f for f in found if len(f[0])]
    if not found:
        return {}
    grams, totals, documents = found[0]
    if len(found) > 1:  # a text is in one chunk only, so both counts add up across chunks
        grams, which = _distinct(np.concatenate([f[0] for f in found]))
        totals = np.bincount(which, np.concatenate([f[1] for f in found]), minlength=len(grams)).astype(np.int64)
        documents = np.bincount(which, np.concatenate([f[2] for f in found]), minlength=len(grams)).astype(np.int64)
    kept = np.flatnonzero(documents >= min_df)
    if max_features is not None and len(kept) > max_features:
        kept = kept[np.argsort(-totals[kept], kind="stable")[:max_features]]
    return {gram: column for column, gram in enumerate(sorted(map(gram_of, grams[kept].tolist())))}


#: Texts whose n-grams are counted at once by `fit_vocabulary` and `GramCounter.counts`: their
#: arrays take about 100 bytes per character, 290 MB for 50,000 names at once.
FIT_CHUNK = 4_096


def _gram_frequencies(texts: Sequence[str], ngram_range: tuple[int, int], lowercase: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct n-gram keys of `texts` (sorted), how often each occurs, and in how many texts."""
    rows, keys = gram_keys(texts, ngram_range, lowercase)
    rows, keys = rows[keys > 0], keys[keys > 0]
    if not len(keys):
        return keys, keys, keys
    grams, which = _distinct(keys)
    totals = np.bincount(which, minlength=len(grams))
    # Document frequency: each (text, n-gram) pair once.
    # (numpy's hash-based unique is pathologically slow on these structured codes; sort instead.)
    pairs = np.sort(rows.astype(np.int64) * len(grams) + which, kind="stable")  # see `GramCounter.counts`
    pairs = pairs[_run_starts(pairs)]
    return grams, totals, np.bincount(pairs % len(grams), minlength=len(grams))


class GramCounter:
    """Counts texts' n-grams over a fixed `vocabulary` (n-gram -> column): built once, used for
    every chunk of a catalogue.

    >>> GramCounter({"a": 0, " b ": 1, "x": 2}).counts(["aa b"]).toarray().tolist()
    [[2.0, 1.0, 0.0]]
    """

    def __init__(self, vocabulary: Mapping[str, int], ngram_range: tuple[int, int] = (1, 3), lowercase: bool = True, dtype=np.float32):
        import pandas as pd

        self.ngram_range, self.lowercase, self.dtype = ngram_range, lowercase, dtype
        self._columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        self._index = pd.Index(_scrambled(np.fromiter(map(gram_key, vocabulary), dtype=np.int64, count=len(vocabulary))))
        # pandas fills an index's hash table and its uniqueness flag on first use, and threads
        # that first use it together can read the flag half set and be told the index has
        # duplicates (pandas-dev/pandas#21150): fill them here, before `counts` is shared.
        if not self._index.is_unique:
            raise ValueError("two n-grams of the vocabulary have one key")
        self.width = int(self._columns.max()) + 1 if len(self._columns) else 0

    def counts(self, texts: Sequence[str]):
        """The counts of `texts`: a CSR matrix of one row per text, in canonical form, equal to
        `CountVectorizer(analyzer="char_wb", vocabulary=...).transform(texts)`."""
        from scipy import sparse

        if len(texts) <= FIT_CHUNK:
            return self._counts(texts)
        stacked = sparse.vstack([self._counts(texts[start : start + FIT_CHUNK]) for start in range(0, len(texts), FIT_CHUNK)], format="csr")
        stacked.has_canonical_format = True  # rows of canonical blocks, end to end
        return stacked

    def _counts(self, texts: Sequence[str]):
        from scipy import sparse

        rows, keys = gram_keys(texts, self.ngram_range, self.lowercase)
        # Each occurrence as one (text, column) code; sorted, equal codes are one entry and the
        # entries fall in CSR order (rows, then columns), so the matrix is built without a second
        # sort. Codes fit 32 bits for chunks of up to 2**31 / width texts, which sort faster.
        width = max(self.width, 1)
        code_type = np.int32 if len(texts) * width < 2**31 else np.int64
        found = self._index.get_indexer(_scrambled(keys))
        known = found >= 0
        codes = np.where(known, rows.astype(code_type) * code_type(width) + self._columns[found].astype(code_type), -1)
        # Timsort ("stable") finds the runs already in order (each n's occurrences come row by row):
        # half the time of the default introsort on a name chunk's codes (43 against 80 ms).
        codes.sort(kind="stable")
        codes = codes[np.searchsorted(codes, 0):]
        firsts = _run_starts(codes)
        counts = np.diff(np.append(firsts, len(codes))).astype(self.dtype)
        entry_rows, entry_columns = np.divmod(codes[firsts], code_type(width))
        pointers = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(entry_rows, minlength=len(texts)), out=pointers[1:])
        return sparse.csr_matrix((counts, entry_columns, pointers), shape=(len(texts), self.width))


def count_grams(texts: Sequence[str], vocabulary: Mapping[str, int], ngram_range: tuple[int, int] = (1, 3), lowercase: bool = True, dtype=np.float32):
    """The n-gram counts of `texts` over `vocabulary` (n-gram -> column), a CSR matrix equal to
    `CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, vocabulary=vocabulary)
    .transform(texts)`; n-grams outside the vocabulary are not counted.

    >>> count_grams(["aa b"], {"a": 0, " b ": 1, "x": 2}).toarray().tolist()
    [[2.0, 1.0, 0.0]]
    """
    return GramCounter(vocabulary, ngram_range, lowercase, dtype).counts(texts)
