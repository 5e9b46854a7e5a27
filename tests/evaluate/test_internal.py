"""Feature space and the statistical evaluation, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from songscope.evaluate.external import external_indices
from songscope.evaluate.internal import internal_indices
from tests.conftest import blobs


def test_internal_indices_and_external_validity():
    X, truth = blobs(3)
    good = internal_indices(X, truth)
    shuffled = internal_indices(X, np.random.default_rng(0).permutation(truth))
    assert good["silhouette"] > 0.8 > shuffled["silhouette"]
    assert good["davies_bouldin"] < shuffled["davies_bouldin"]
    assert good["calinski_harabasz"] > shuffled["calinski_harabasz"]
    big = internal_indices(np.repeat(X, 15, axis=0)[:21_000], np.repeat(truth, 15)[:21_000])
    assert big["silhouette_n"] == 20_000  # sampled above 20k, and says so
    names = pd.Series(np.array(["rock", "pop|rock", "edm"])[truth])
    assert external_indices(truth, names)["ari"] == pytest.approx(1.0)
