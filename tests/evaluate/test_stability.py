"""Feature space and the statistical evaluation, on data whose answer is known."""

from __future__ import annotations

import numpy as np

from songscope.cluster.local import LocalAlgorithm
from songscope.evaluate.stability import bootstrap_jaccard, seed_agreement, verdict
from tests.conftest import blobs


def test_stability_separates_real_from_arbitrary_clusters():
    X, _ = blobs(3)

    def fit(data, seed):
        return LocalAlgorithm("kmeans", n_clusters=3, random_state=seed, n_init=1).fit(data).labels

    jaccard = bootstrap_jaccard(X, fit(X, 0), fit, resamples=8)
    assert (jaccard > 0.95).all()
    assert verdict(jaccard.min()) == "stable"
    assert seed_agreement(X, fit, [0, 1, 2])["ari_min"] > 0.99
    # Eight clusters forced onto uniform noise are arbitrary: some are not reproducible.
    uniform = np.random.default_rng(1).uniform(0, 1, (1_500, 5))

    def fit8(data, seed):
        return LocalAlgorithm("kmeans", n_clusters=8, random_state=seed, n_init=1).fit(data).labels

    assert bootstrap_jaccard(uniform, fit8(uniform, 0), fit8, resamples=8).min() < 0.75


def test_a_cluster_no_resample_drew_has_no_score_and_no_warning():
    import warnings

    X = np.arange(100, dtype=float).reshape(50, 2)
    labels = np.r_[np.zeros(49, dtype=int), 1]  # song 49 alone in cluster 1
    # A seed whose one resample leaves song 49 out (the first draw `bootstrap_jaccard` makes).
    seed = next(s for s in range(1_000) if 49 not in np.random.default_rng(s).integers(0, 50, 50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = bootstrap_jaccard(X, labels, lambda data, s: np.zeros(len(data), dtype=int), resamples=1, seed=seed)
    assert scores[0] == 1.0 and np.isnan(scores[1])
