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
