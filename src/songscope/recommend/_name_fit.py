"""The name model's fit (`names.NameModel.fit`) in numpy and scipy: the weighting of scikit-learn's
``TfidfTransformer(sublinear_tf=True)`` and the components of ``TruncatedSVD(algorithm="arpack")``.

Its own module, in place of scikit-learn's, because the fit is on a first ingest's critical path:
it runs beside the database's commit (`service.names.placed_alongside`), and importing scikit-learn
for two small steps cost more than the steps (0.46-0.85 s and 65 MB resident against 0.03 s and
13 MB for `scipy.sparse.linalg`; the fit on 50,000 names takes about 0.3 s). The SVD is scipy's
(ARPACK, exact), which scikit-learn's arpack path calls too, with its starting vector and signs.

`tests/recommend/test_name_fit.py` checks equality with scikit-learn's; `bench/name_ngrams.py`
measures both.
"""

from __future__ import annotations

import numpy as np


def sublinear_tfidf(counts) -> tuple[object, np.ndarray]:
    """TF-IDF of a CSR matrix of n-gram counts (texts x n-grams): each count ``c`` becomes
    ``(1 + ln c) * idf``, ``idf = ln((1 + texts) / (1 + texts with the n-gram)) + 1``, and each
    row is scaled to unit length. Returns the weighted matrix and idf, both in the counts' float
    type (float64 for integer counts), as scikit-learn computes them."""
    from scipy import sparse

    weighted = sparse.csr_matrix(counts, dtype=counts.dtype if counts.dtype in (np.float32, np.float64) else np.float64, copy=True)
    weighted.sum_duplicates()
    texts = weighted.shape[0]
    with_gram = np.bincount(weighted.indices, minlength=weighted.shape[1]).astype(weighted.dtype)
    idf = np.log((1 + texts) / (1 + with_gram)) + weighted.dtype.type(1)
    np.log(weighted.data, out=weighted.data)
    weighted.data += 1
    weighted.data *= idf[weighted.indices]
    # Each row divided by its length as scikit-learn's normalize does it, to the last bit: squares
    # in the matrix's type, summed in float64 row by row, the division in float64. The SVD below
    # tells its input's last bits apart (its trailing singular values lie close together).
    entries = np.diff(weighted.indptr)
    lengths = np.sqrt(np.bincount(np.repeat(np.arange(texts), entries), weights=weighted.data * weighted.data, minlength=texts))
    lengths[lengths == 0] = 1.0
    weighted.data[:] = weighted.data / np.repeat(lengths, entries)
    return weighted, idf


def leading_components(matrix, rank: int, seed: int = 0) -> np.ndarray:
    """The `rank` leading right singular vectors of `matrix` (rank x columns, largest singular
    value first), each signed so that its largest entry by magnitude is positive; ARPACK starts
    from ``RandomState(seed).uniform(-1, 1)``, so a seed gives the same components every time.
    `rank` must be below both of the matrix's dimensions."""
    from scipy.sparse.linalg import svds

    start = np.random.RandomState(seed).uniform(-1, 1, size=min(matrix.shape))
    _, _, components = svds(matrix, k=rank, tol=0.0, v0=start)
    components = components[::-1]  # ARPACK gives the smallest of the leading values first
    largest = np.argmax(np.abs(components), axis=1)
    components = components * np.sign(components[np.arange(rank), largest])[:, None]
    return components
