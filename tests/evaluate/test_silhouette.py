"""Feature space and the statistical evaluation, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import blobs


def test_own_silhouette_equals_scikit_learns():
    from sklearn.metrics import silhouette_samples as reference

    from songscope.evaluate.silhouette import silhouette, silhouette_samples

    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(c, 1.0, (300, 5)) for c in range(4)])
    labels = np.repeat(np.arange(4), 300)
    labels[17] = 9  # a song alone in its cluster: silhouette 0 by definition
    ours = silhouette_samples(X, labels)
    np.testing.assert_allclose(ours, reference(X, labels), atol=1e-9)
    assert ours[17] == 0.0
    assert silhouette(X, labels) == pytest.approx(float(reference(X, labels).mean()))
    # A fixed-seed sample: the same sample (and value) every time, a different one for another seed.
    assert silhouette(X, labels, sample=500, seed=1) == silhouette(X, labels, sample=500, seed=1) != silhouette(X, labels, sample=500, seed=2)


def test_silhouettes_of_many_labelings_equal_one_at_a_time():
    from songscope.evaluate import silhouette as internal

    X, truth = blobs(4, n=900)
    labelings = [truth, np.random.default_rng(0).permutation(truth), truth % 2, np.where(truth == 1, 7, truth), np.zeros(900, int)]
    labelings[3][5] = 99  # a song alone in its cluster
    expected = [internal.silhouette(X, labels) for labels in labelings]
    shared = internal.silhouettes(X, labelings)
    np.testing.assert_allclose(shared[:-1], expected[:-1], atol=1e-10)
    assert np.isnan(shared[-1]) and np.isnan(expected[-1])  # one cluster: undefined
    # Above the shared-matrix limit the same answer comes one labeling at a time.
    limit = internal.SHARED_DISTANCES_MAX
    try:
        internal.SHARED_DISTANCES_MAX = 100
        np.testing.assert_allclose(internal.silhouettes(X, labelings[:2]), expected[:2], atol=1e-12)
    finally:
        internal.SHARED_DISTANCES_MAX = limit
