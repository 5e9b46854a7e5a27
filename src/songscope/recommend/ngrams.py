"""Character n-gram counts of many names at once, in array operations.

scikit-learn's `char_wb` analyzer builds every name's n-grams as Python strings, one name at a
time: about 20 µs a name, so 1M names take most of a minute. Here the same counts come from one
array of code points: each n-gram of up to three characters is one exact 63-bit integer (21 bits
a code point), looked up in the vocabulary through a pandas hash index. The vocabulary itself
is still fitted by scikit-learn on a sample; this only replaces its per-name loop when
transforming. `tests/recommend/test_ngrams.py` checks the counts equal `CountVectorizer`'s
exactly, and `bench/name_ngrams.py` measures both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

#: Longest n-gram one integer key can hold (three 21-bit code points in 63 bits).
MAX_N = 3
_BITS = 21
_PAD = ord(" ")
_MASK = (1 << _BITS) - 1


@lru_cache(maxsize=1)
def _is_space() -> np.ndarray:
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
        key |= (ord(char) + 1) << (_BITS * place)
    return key


def _scrambled(keys: np.ndarray) -> np.ndarray:
    """`keys` times a large odd number, modulo 2**64: one-to-one, so no two keys meet, but the
    code points' bits are spread over the whole word. pandas hashes an int64 by a few shifts, and
    keys that differ only in the middle character's low bits would share its buckets."""
    return (keys.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)).view(np.int64)


def gram_keys(texts: Sequence[str], ngram_range: tuple[int, int] = (1, 3), lowercase: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram occurrence of `texts` as (text row, key), in the way of scikit-learn's
    `char_wb` analyzer: words split on whitespace, each padded with a space on both sides, and
    all its substrings of n characters for n in `ngram_range`.

    >>> rows, keys = gram_keys(["ab", ""], ngram_range=(2, 2))
    >>> rows.tolist(), sorted(keys.tolist()) == sorted(gram_key(g) for g in [" a", "ab", "b "])
    ([0, 0, 0], True)
    """
    low, high = ngram_range
    if not 1 <= low <= high <= MAX_N:
        raise ValueError(f"ngram_range must lie within 1..{MAX_N}, not {ngram_range}")
    if lowercase:
        texts = [text.lower() for text in texts]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    row_of_point = np.repeat(np.arange(len(texts), dtype=np.int32), lengths)
    kept_at = np.flatnonzero(~_is_space()[points])
    points, row_of_point = points[kept_at], row_of_point[kept_at]
    # A word starts where the point before it was a space or in another text.
    starts = np.ones(len(kept_at), dtype=bool)
    starts[1:] = (kept_at[1:] != kept_at[:-1] + 1) | (row_of_point[1:] != row_of_point[:-1])
    word_of_point = np.cumsum(starts, dtype=np.int64) - 1
    words = int(word_of_point[-1]) + 1 if len(word_of_point) else 0
    # The padded stream: " word " for every word, end to end, as code point + 1 (so that no
    # key is 0); a word's n-grams stay within it.
    stream = np.full(len(points) + 2 * words, _PAD + 1, dtype=np.int64)
    stream[np.arange(len(points)) + 2 * word_of_point + 1] = points
    stream[np.arange(len(points)) + 2 * word_of_point + 1] += 1
    word_ends = np.cumsum(np.bincount(word_of_point, minlength=words) + 2) - 1
    row_of_stream = np.repeat(row_of_point[starts], np.diff(word_ends, prepend=-1))
    all_rows, all_keys = [], []
    for n in range(low, high + 1):
        count = len(stream) - n + 1
        if count <= 0:
            continue
        keys = stream[:count].copy()
        for place in range(1, n):
            keys |= stream[place : place + count] << (_BITS * place)
        # An n-gram starting in the last n - 1 places of a padded word would run into the next.
        whole = np.ones(count, dtype=bool)
        for back in range(n - 1):
            ends = word_ends - back
            whole[ends[ends < count]] = False
        all_keys.append(keys[whole])
        all_rows.append(row_of_stream[:count][whole])
    if not all_keys:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    return np.concatenate(all_rows), np.concatenate(all_keys)


def gram_of(key: int) -> str:
    """The n-gram of a key (the inverse of `gram_key`).

    >>> gram_of(gram_key("ab "))
    'ab '
    """
    chars = []
    while key:
        chars.append(chr((key & _MASK) - 1))
        key >>= _BITS
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
    rows, keys = gram_keys(texts, ngram_range, lowercase)
    if not len(keys):
        return {}
    grams, which = np.unique(keys, return_inverse=True)
    totals = np.bincount(which, minlength=len(grams))
    # Document frequency: each (text, n-gram) pair once.
    # (numpy's hash-based unique is pathologically slow on these structured codes; sort instead.)
    pairs = np.sort(rows.astype(np.int64) * len(grams) + which)
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    documents = np.bincount(pairs % len(grams), minlength=len(grams))
    kept = np.flatnonzero(documents >= min_df)
    if max_features is not None and len(kept) > max_features:
        kept = kept[np.argsort(-totals[kept], kind="stable")[:max_features]]
    return {gram: column for column, gram in enumerate(sorted(map(gram_of, grams[kept].tolist())))}


def count_grams(texts: Sequence[str], vocabulary: Mapping[str, int], ngram_range: tuple[int, int] = (1, 3), lowercase: bool = True, dtype=np.float32):
    """The n-gram counts of `texts` over `vocabulary` (n-gram -> column), a CSR matrix equal to
    `CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, vocabulary=vocabulary)
    .transform(texts)`; n-grams outside the vocabulary are not counted.

    >>> count_grams(["aa b"], {"a": 0, " b ": 1, "x": 2}).toarray().tolist()
    [[2.0, 1.0, 0.0]]
    """
    import pandas as pd
    from scipy import sparse

    columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
    index = pd.Index(_scrambled(np.fromiter(map(gram_key, vocabulary), dtype=np.int64, count=len(vocabulary))))
    width = int(columns.max()) + 1 if len(columns) else 0
    rows, keys = gram_keys(texts, ngram_range, lowercase)
    found = index.get_indexer(_scrambled(keys))
    known = found >= 0
    # Converting to CSR sums the repeated (text, column) pairs.
    return sparse.csr_matrix((np.ones(int(known.sum()), dtype=dtype), (rows[known], columns[found[known]])), shape=(len(texts), width))
