"""songscope's text hashing: the hash pandas gives a text (``pd.util.hash_array`` of Python strings:
SipHash-2-4 of the UTF-8 bytes with pandas' fixed key, then pandas' mixing step), computed for
every text at once from Arrow's buffers, in NumPy.

pandas hashes Python strings: every text of a million rows became a Python object, was encoded
back to bytes and hashed one at a time (the ids and both names of 1,000,000 rows: about 1.8 s of
CPU, a fifth of reading a file). Here SipHash's rounds run on arrays, one 8-byte word of every text
at a time, texts sorted by their number of words so that those still going are a prefix, a block
of texts at a time. The result must stay pandas' to the bit: the near-duplicate keys made of it
are stored in the catalogue (`identity.near_keys`) and compared with later ingests'.

Not numba, though a compiled loop over the bytes measured about 4x faster still (1,000,000 ids in
0.03 s): loading numba's compiler into the reading threads added about 120 MB to the peak of an
ingest of 1,000,000 rows (1,035-1,049 MB against 899-935), which the names' placement only pays
later, once the rows read are let go.

`tests/test_text_hash.py` checks equality with pandas; `bench/text_hash.py` measures this against
pandas' path.
"""

from __future__ import annotations

import numpy as np

from songscope.textcolumns import words_at

#: pandas' default hash key (``pandas.core.util.hashing._default_hash_key``), as SipHash's two words.
_KEY = b"0123456789123456"
_K0 = np.uint64(int.from_bytes(_KEY[:8], "little"))
_K1 = np.uint64(int.from_bytes(_KEY[8:], "little"))
_INIT = (np.uint64(0x736F6D6570736575), np.uint64(0x646F72616E646F6D), np.uint64(0x6C7967656E657261), np.uint64(0x7465646279746573))


def _rotate_left(x: np.ndarray, bits: int, spare: np.ndarray) -> None:
    np.right_shift(x, np.uint64(64 - bits), out=spare)
    np.left_shift(x, np.uint64(bits), out=x)
    x |= spare


def _sip_rounds(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, v3: np.ndarray, spare: np.ndarray, rounds: int) -> None:
    """SipHash's round, `rounds` times, in place on the states' arrays."""
    for _ in range(rounds):
        v0 += v1
        _rotate_left(v1, 13, spare)
        v1 ^= v0
        _rotate_left(v0, 32, spare)
        v2 += v3
        _rotate_left(v3, 16, spare)
        v3 ^= v2
        v0 += v3
        _rotate_left(v3, 21, spare)
        v3 ^= v0
        v2 += v1
        _rotate_left(v1, 17, spare)
        v1 ^= v2
        _rotate_left(v2, 32, spare)


#: Texts hashed at a time: the states of a block stay in the CPU's cache between SipHash's rounds
#: (1,000,000 ids: 0.11 s in blocks of 16,384 against 0.28 s at once).
BLOCK = 16_384


def pandas_text_hashes(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The hash ``pd.util.hash_array(texts, categorize=False)`` gives each text whose UTF-8 bytes
    are ``data[offsets[i]:offsets[i + 1]]`` (`textcolumns.utf8_buffers`), as uint64."""
    count = len(offsets) - 1
    if count > BLOCK:
        blocks = (offsets[start : start + BLOCK + 1] for start in range(0, count, BLOCK))
        return np.concatenate([pandas_text_hashes(data[block[0] : block[-1]], block - block[0]) for block in blocks])
    if count == 0:
        return np.zeros(0, dtype=np.uint64)
    lengths = np.diff(offsets)
    words = lengths // 8
    order = np.argsort(-words, kind="stable")  # the texts of most words first
    starts, lengths, words = offsets[:-1][order], lengths[order], words[order]
    word_at = words_at(data, "<")  # SipHash reads its words little-endian
    v0, v1 = np.full(count, _K0 ^ _INIT[0]), np.full(count, _K1 ^ _INIT[1])
    v2, v3 = np.full(count, _K0 ^ _INIT[2]), np.full(count, _K1 ^ _INIT[3])
    spare = np.empty(count, dtype=np.uint64)
    # How many texts have more than w whole words, for each w: a prefix of the order.
    going = np.searchsorted(-words, -np.arange(1, int(words[0]) + 1), side="right")
    for word, texts in enumerate(going):
        message = word_at[starts[:texts] + 8 * word]
        v3[:texts] ^= message
        _sip_rounds(v0[:texts], v1[:texts], v2[:texts], v3[:texts], spare[:texts], 2)
        v0[:texts] ^= message
    tail = (lengths % 8).astype(np.uint64)
    last = word_at[starts + words * 8] & ((np.uint64(1) << (tail * np.uint64(8))) - np.uint64(1))
    last |= (lengths.astype(np.uint64) & np.uint64(0xFF)) << np.uint64(56)
    v3 ^= last
    _sip_rounds(v0, v1, v2, v3, spare, 2)
    v0 ^= last
    v2 ^= np.uint64(0xFF)
    _sip_rounds(v0, v1, v2, v3, spare, 4)
    hashed = v0 ^ v1 ^ v2 ^ v3
    # pandas' mixing of every hash it returns (`_hash_ndarray`)
    hashed ^= hashed >> np.uint64(30)
    hashed *= np.uint64(0xBF58476D1CE4E5B9)
    hashed ^= hashed >> np.uint64(27)
    hashed *= np.uint64(0x94D049BB133111EB)
    hashed ^= hashed >> np.uint64(31)
    result = np.empty(count, dtype=np.uint64)
    result[order] = hashed
    return result
