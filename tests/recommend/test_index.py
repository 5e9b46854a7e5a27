"""The neighbour indexes: the inverted file probing every cell is exact search, fewer cells trade
measured recall, and a query whose cells hold fewer than k songs says so (-1, inf)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.recommend.index import ExactIndex, IVFIndex, recall_at_k


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 400), st.integers(1, 8), st.integers(1, 60), st.integers(0, 2**16))
def test_probing_every_cell_is_exact_search(n, d, k, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    queries = rng.normal(size=(5, d)).astype(np.float32)
    lists = max(1, n // 20)
    ivf = IVFIndex(n_lists=lists, n_probe=lists).fit(X)
    found, distances = ivf.search(queries, k)
    exact, exact_distances = ExactIndex().fit(X).search(queries, k)
    m = min(k, n)
    np.testing.assert_allclose(distances[:, :m], exact_distances, rtol=1e-4, atol=1e-4)
    assert np.all(np.diff(distances[:, :m], axis=1) >= 0)  # nearest first
    # The same songs, but where two lie at the same distance (either may come first).
    true = ((X[found[:, :m]] - queries[:, None, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(true, exact_distances, rtol=1e-4, atol=1e-4)
    assert (found[:, m:] == -1).all() and np.isinf(distances[:, m:]).all()


def test_approximate_index_recall():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 10)).astype(np.float32)
    queries = X[rng.choice(len(X), 200, replace=False)] + rng.normal(0, 0.05, (200, 10)).astype(np.float32)
    exact = ExactIndex().fit(X).search(queries, 10)[0]
    ivf = IVFIndex(n_probe=24).fit(X)
    assert recall_at_k(ivf.search(queries, 10)[0], exact) >= 0.95
    assert recall_at_k(IVFIndex(n_probe=1).fit(X).search(queries, 10)[0], exact) < 0.9  # recall is measured, and it moves


def test_the_approximate_index_returns_every_vector_in_catalogue_order():
    X = np.random.default_rng(1).normal(size=(3_000, 6)).astype(np.float32)
    index = IVFIndex(n_lists=40).fit(X)
    np.testing.assert_array_equal(index.vectors(np.arange(len(X))), X)
    np.testing.assert_array_equal(index.vectors([7, 2]), X[[7, 2]])
    assert index.nbytes >= X.nbytes
