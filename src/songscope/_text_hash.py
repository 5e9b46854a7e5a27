"""songscope's text hashing kernel: the hash pandas gives a text (``pd.util.hash_array`` of Python
strings: SipHash-2-4 of the UTF-8 bytes with pandas' fixed key, then pandas' mixing step),
computed in one compiled pass over Arrow's buffers.

pandas hashes Python strings: every text of a million rows became a Python object, was encoded
back to bytes and hashed (the ids and both names of 1,000,000 rows: about 1.8 s of CPU, a fifth of
reading a file). Here the bytes are read where Arrow holds them, without the GIL, so both reading
threads hash at once. The result must stay pandas' to the bit: the near-duplicate keys made of it
are stored in the catalogue (`identity.near_keys`) and compared with later ingests'.

`tests/test_text_hash.py` checks equality with pandas; `bench/text_hash.py` measures the kernel
against pandas' path.
"""

from __future__ import annotations

import numba
import numpy as np

#: pandas' default hash key (``pandas.core.util.hashing._default_hash_key``), as SipHash's two words.
_KEY = b"0123456789123456"
_K0 = np.uint64(int.from_bytes(_KEY[:8], "little"))
_K1 = np.uint64(int.from_bytes(_KEY[8:], "little"))


@numba.njit(inline="always")
def _rotl(x, b):  # pragma: no cover - compiled
    return (x << np.uint64(b)) | (x >> np.uint64(64 - b))


@numba.njit(inline="always")
def _round(v0, v1, v2, v3):  # pragma: no cover - compiled
    v0 += v1
    v1 = _rotl(v1, 13)
    v1 ^= v0
    v0 = _rotl(v0, 32)
    v2 += v3
    v3 = _rotl(v3, 16)
    v3 ^= v2
    v0 += v3
    v3 = _rotl(v3, 21)
    v3 ^= v0
    v2 += v1
    v1 = _rotl(v1, 17)
    v1 ^= v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _siphash_each(data, offsets, k0, k1, out):  # pragma: no cover - compiled
    for i in range(len(out)):
        start = offsets[i]
        length = offsets[i + 1] - start
        v0 = k0 ^ np.uint64(0x736F6D6570736575)
        v1 = k1 ^ np.uint64(0x646F72616E646F6D)
        v2 = k0 ^ np.uint64(0x6C7967656E657261)
        v3 = k1 ^ np.uint64(0x7465646279746573)
        whole = length - length % 8
        for at in range(start, start + whole, 8):
            m = np.uint64(0)
            for j in range(8):
                m |= np.uint64(data[at + j]) << np.uint64(8 * j)
            v3 ^= m
            v0, v1, v2, v3 = _round(v0, v1, v2, v3)
            v0, v1, v2, v3 = _round(v0, v1, v2, v3)
            v0 ^= m
        last = np.uint64(length & 0xFF) << np.uint64(56)
        for j in range(length % 8):
            last |= np.uint64(data[start + whole + j]) << np.uint64(8 * j)
        v3 ^= last
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
        v0 ^= last
        v2 ^= np.uint64(0xFF)
        for _ in range(4):
            v0, v1, v2, v3 = _round(v0, v1, v2, v3)
        h = v0 ^ v1 ^ v2 ^ v3
        # pandas' mixing of every hash it returns (`_hash_ndarray`)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
        out[i] = h


def pandas_text_hashes(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The hash ``pd.util.hash_array(texts, categorize=False)`` gives each text whose UTF-8 bytes
    are ``data[offsets[i]:offsets[i + 1]]`` (`textcolumns.utf8_buffers`), as uint64."""
    out = np.empty(len(offsets) - 1, dtype=np.uint64)
    _siphash_each(data, offsets, _K0, _K1, out)
    return out
