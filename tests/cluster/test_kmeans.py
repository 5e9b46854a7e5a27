"""k-means: songscope's own kernel against scikit-learn, and its seeding."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from songscope.cluster.kmeans import kmeans_plus_plus, lloyd
from songscope.errors import UserError


@pytest.mark.parametrize(
    ("dims", "rows", "k"),
    [(1, 1_500, 3), (6, 2_400, 6), (10, 3_000, 8), (13, 5_000, 7), (16, 3_001, 5), (23, 2_400, 6)],
    ids=["1 feature", "6 features", "10 features (the default space)", "13 features, odd k", "16 features, ragged last block", "23 features (matrix-product path)"],
)
def test_own_kmeans_kernel_matches_scikit_learn(dims, rows, k):
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(dims)
    X = rng.normal(0, 1.0, (rows, dims)) + rng.normal(0, 3.0, (k, dims))[rng.integers(0, k, rows)]
    init = kmeans_plus_plus(X, k, 0)
    labels, centres, inertia, n_iter = lloyd(X, init, max_iter=30, tol=0)
    reference = KMeans(k, init=init, n_init=1, max_iter=30, tol=0, algorithm="lloyd").fit(X)
    assert n_iter == reference.n_iter_
    assert abs(inertia / reference.inertia_ - 1) < 1e-4
    assert adjusted_rand_score(labels, reference.labels_) > 0.999
    np.testing.assert_allclose(centres, reference.cluster_centers_, atol=1e-3)


def test_kmeans_kernel_stops_when_no_song_changes_cluster():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    labels, centres, inertia, n_iter = lloyd(X, X[[0, 2]], max_iter=50, tol=0)
    assert n_iter == 2  # the second pass changes nothing
    assert labels.tolist() in ([0, 0, 1, 1],)
    assert inertia == pytest.approx(0.01)


def test_generated_kernels_are_up_to_date():
    """`_lloyd_widths.py` is what `_generate_widths` writes today (edit the generator, then run it)."""
    from songscope.cluster import _generate_widths

    assert _generate_widths.TARGET.read_text(encoding="utf-8") == _generate_widths.source()


def test_kmeans_plus_plus_is_scikit_learns_on_a_bounded_sample(monkeypatch):
    from sklearn.cluster import kmeans_plusplus

    from songscope.cluster import kmeans

    rng = np.random.default_rng(5)
    X = rng.normal(0, 1.0, (3_000, 13)) + rng.normal(0, 3.0, (12, 13))[rng.integers(0, 12, 3_000)]
    np.testing.assert_array_equal(kmeans_plus_plus(X, 12, 3), kmeans_plusplus(X, 12, random_state=3)[0])
    assert not np.array_equal(kmeans_plus_plus(X, 12, 3), kmeans_plus_plus(X, 12, 4))
    # Above the bound the seeds come from a fixed-seed sample of rows: still rows of the data, the same every time.
    monkeypatch.setattr(kmeans, "SEEDING_MAX_ROWS", 500)
    sampled = kmeans_plus_plus(X, 12, 3)
    assert np.isin(sampled, X).all(axis=1).all() and len({tuple(c) for c in sampled}) == 12
    np.testing.assert_array_equal(sampled, kmeans_plus_plus(X, 12, 3))
    assert len(kmeans_plus_plus(X, 1, 0)) == 1
    with pytest.raises(UserError, match="k-means"):
        kmeans_plus_plus(X[:5], 6, 0)
