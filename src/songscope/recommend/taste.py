"""A listener's taste: a classifier of the songs they like against songs they do not (or the
catalogue's background), and the background sample it contrasts them with."""

from __future__ import annotations

import numpy as np

#: Favourites from which the taste model is learned (any dislike also triggers it).
TASTE_MIN_FAVOURITES = 10
#: Catalogue songs the taste model contrasts the favourites with.
BACKGROUND = 2_000


def taste_model(positives: np.ndarray, negatives: np.ndarray, *, seed: int = 0):
    """A listener's taste: gradient-boosted trees separating their liked songs from `negatives`
    (disliked songs, or a background sample of the catalogue). Trees, not a linear model: liking
    is rarely monotone in a feature (neither the quietest nor the loudest songs). Classes are
    weighted to balance, so a handful of favourites is not drowned by the background. With fewer
    than 20 examples of either side, trees cannot split (they need 20 songs a leaf): a regularised
    logistic regression takes over."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    X = np.vstack([positives, negatives])
    y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    weights = np.where(y == 1, len(negatives) / max(len(positives), 1), 1.0)
    if min(len(positives), len(negatives)) < 20:
        return LogisticRegression(C=0.5, max_iter=1000).fit(X, y, sample_weight=weights)
    # One thread: on a few thousand songs threads only add overhead, and with several the trees'
    # binning step goes through joblib, whose result polling slept about 1 s per fit here.
    with threadpool_limits(1, user_api="openmp"):
        return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_bins=32, random_state=seed).fit(X, y, sample_weight=weights)


def sample_others(n: int, excluded: list[int] | np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct rows of 0..n-1 outside `excluded`, drawn as
    ``rng.choice(np.setdiff1d(np.arange(n), excluded), count, replace=False)`` draws them, without
    listing the millions of other rows: the i-th row that is not excluded is i plus the number
    of excluded rows at or below it.

    >>> sample_others(10, [3], 3, np.random.default_rng(0)).tolist() == np.random.default_rng(0).choice(np.setdiff1d(np.arange(10), [3]), 3, replace=False).tolist()
    True
    """
    excluded = np.unique(np.asarray(excluded, dtype=np.int64))
    others = n - len(excluded)
    picked = rng.choice(others, min(count, others), replace=False).astype(np.int64)
    for row in excluded:  # ascending, so each shift accounts for the excluded rows before it
        picked += picked >= row
    return picked
