"""Feature space and the statistical evaluation, on data whose answer is known."""

from __future__ import annotations

import numpy as np

from songscope.evaluate.select import has_structure, k_sweep, knee, null_model_check
from tests.conftest import blobs


def test_k_sweep_finds_the_true_k_and_structure():
    X, _ = blobs(4)
    sweep = k_sweep(X, range(2, 9), references=5, gap_sample=1_500, silhouette_sample=1_500)
    assert sweep.gap_k == 4
    assert sweep.silhouette_k == 4
    assert sweep.recommended_k == 4
    assert has_structure(sweep)


def test_null_model_check_says_plainly_when_there_is_no_structure():
    uniform = np.random.default_rng(1).uniform(0, 1, (2_000, 3))
    check = null_model_check(uniform, 5, references=5)
    assert not check["structure"]
    X, _ = blobs(3)
    assert null_model_check(X, 3, references=5)["structure"]


def test_knee():
    ks = np.arange(1, 11)
    assert knee(ks, 1000 / ks**2 + 5) in (2, 3)


def test_density_sweep_reports_clusters_and_noise():
    from songscope.evaluate.select import density_sweep

    X, _ = blobs(3, spread=0.3)
    table = density_sweep(X, sizes=(25, 100), eps=(0.6, 0.05))
    hdb = table[table["algorithm"] == "hdbscan"]
    assert (hdb["clusters"] == 3).all() and (hdb["noise_share"] < 0.1).all()
    dbscan = table[table["algorithm"] == "dbscan"].set_index("value")
    assert dbscan.at[0.6, "clusters"] == 3
    assert dbscan.at[0.05, "noise_share"] > 0.9  # far too small an eps: almost everything is noise


def test_algorithms_compared_at_one_k_on_the_same_songs():
    from songscope.evaluate.select import COMPARED, compare_algorithms, k_sweep, rationale

    X, truth = blobs(3, n=3_000, spread=0.5)
    table = compare_algorithms(X, 3, seed=1, sample=1_000)
    assert table["algorithm"].tolist() == list(COMPARED) and table.attrs["sample"] == 1_000
    assert (table["clusters"] == 3).all()
    # Well-separated blobs: every algorithm finds them, so all agree with k-means and separate well.
    assert (table["ari_vs_kmeans"] > 0.95).all() and (table["silhouette"] > 0.7).all()
    assert (table["fit_s"] > 0).all() and np.allclose(table["smallest_share"], table["smallest_share"].iloc[0], atol=0.01)
    again = compare_algorithms(X, 3, seed=1, sample=1_000)
    assert again.drop(columns="fit_s").equals(table.drop(columns="fit_s"))  # fixed seed, same sample and fits
    words = rationale(k_sweep(X, range(2, 6), references=3), methods=table)
    assert "At k = 3 on the same 1,000 songs" in words and "find much the same regions" in words
