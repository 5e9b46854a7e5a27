"""Feature space and the statistical evaluation, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from songscope.engines.local import LocalEngine
from songscope.evaluate.external import external_indices
from songscope.evaluate.internal import internal_indices
from songscope.evaluate.profile import describe_clusters, feature_tests
from songscope.evaluate.select import has_structure, k_sweep, knee, null_model_check
from songscope.evaluate.stability import bootstrap_jaccard, seed_agreement, verdict
from songscope.features import CONTINUOUS_FEATURES, FeatureSpace


@pytest.fixture(scope="module")
def catalogue(seed_catalogue):
    from tests.conftest import load_catalogue

    return load_catalogue(seed_catalogue)


def test_default_space_is_standardised_with_log_duration(catalogue):
    space = FeatureSpace().fit(catalogue)
    X = space.transform(catalogue)
    assert X.shape == (len(catalogue), len(CONTINUOUS_FEATURES))
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(X.std(axis=0), 1, atol=1e-9)
    assert space.output_names[-1] == "log_duration_ms"


@pytest.mark.parametrize("options", [{"key": "circle", "mode": True}, {"key": "onehot", "scaling": "robust"}, {"pca": 0.9}, {"pca": 4, "key": "circle"}])
def test_space_round_trips_through_json_and_sql(catalogue, options):
    space = FeatureSpace(**options).fit(catalogue)
    X = space.transform(catalogue)
    again = FeatureSpace.from_json(space.to_json())
    np.testing.assert_allclose(again.transform(catalogue), X)
    # The SQL expressions Spark runs compute the same numbers (checked here with SQLite).
    import sqlite3

    sample = catalogue.head(50)
    conn = sqlite3.connect(":memory:")
    conn.create_function("ln", 1, np.log)
    conn.create_function("greatest", 2, max)
    conn.create_function("sin", 1, np.sin)
    conn.create_function("cos", 1, np.cos)
    sample[["track_id", *space.columns, "key", "mode"]].to_sql("t", conn)
    rows = conn.execute(f"select {', '.join(space.sql_expressions())} from t").fetchall()
    np.testing.assert_allclose(np.array(rows, dtype=float), space.transform(sample), rtol=1e-9, atol=1e-9)
    if options.get("pca") == 0.9:
        assert space.explained_variance_ratio_.sum() >= 0.9


def test_space_rejects_missing_values_and_unfitted_use(catalogue):
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureSpace().transform(catalogue)
    broken = catalogue.head(10).copy()
    broken.loc[3, "energy"] = np.nan
    with pytest.raises(ValueError, match="missing feature values"):
        FeatureSpace().fit(broken)


def blobs(k: int, n: int = 1_500, d: int = 4, spread: float = 0.35, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-6, 6, (k, d))
    truth = rng.integers(0, k, n)
    return centres[truth] + rng.normal(0, spread, (n, d)), truth


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


def test_stability_separates_real_from_arbitrary_clusters():
    X, _ = blobs(3)

    def fit(data, seed):
        return LocalEngine("kmeans", n_clusters=3, random_state=seed, n_init=1).fit(data).labels

    jaccard = bootstrap_jaccard(X, fit(X, 0), fit, resamples=8)
    assert (jaccard > 0.95).all()
    assert verdict(jaccard.min()) == "stable"
    assert seed_agreement(X, fit, [0, 1, 2])["ari_min"] > 0.99
    # Eight clusters forced onto uniform noise are arbitrary: some are not reproducible.
    uniform = np.random.default_rng(1).uniform(0, 1, (1_500, 5))

    def fit8(data, seed):
        return LocalEngine("kmeans", n_clusters=8, random_state=seed, n_init=1).fit(data).labels

    assert bootstrap_jaccard(uniform, fit8(uniform, 0), fit8, resamples=8).min() < 0.75


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


def test_profiles_name_what_differs(catalogue):
    labels = (catalogue["acousticness"] > 0.8).astype(int).to_numpy()
    tests = feature_tests(catalogue, labels, ["acousticness", "energy", "key"])
    assert tests.iloc[0]["feature"] == "acousticness" and tests.iloc[0]["epsilon_squared"] > 0.5
    assert tests.set_index("feature").loc["key", "epsilon_squared"] < 0.01
    profiles = describe_clusters(catalogue, labels, ["acousticness", "energy", "loudness"]).set_index("cluster")
    assert "acoustic" in profiles.at[1, "description"] and "calm" in profiles.at[1, "description"]
    # The majority cluster sits near the catalogue's middle, on the electric side.
    assert profiles.at[0, "shifts"]["acousticness"] < 0 < profiles.at[1, "shifts"]["acousticness"]


def test_density_sweep_reports_clusters_and_noise():
    from songscope.evaluate.select import density_sweep

    X, _ = blobs(3, spread=0.3)
    table = density_sweep(X, sizes=(25, 100), eps=(0.6, 0.05))
    hdb = table[table["algorithm"] == "hdbscan"]
    assert (hdb["clusters"] == 3).all() and (hdb["noise_share"] < 0.1).all()
    dbscan = table[table["algorithm"] == "dbscan"].set_index("value")
    assert dbscan.at[0.6, "clusters"] == 3
    assert dbscan.at[0.05, "noise_share"] > 0.9  # far too small an eps: almost everything is noise


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


def test_kruskal_wallis_leaves_missing_values_out_and_reads_identical_values_as_no_difference():
    from scipy import stats

    from songscope.evaluate.profile import format_p_value, kruskal_wallis

    rng = np.random.default_rng(2)
    groups = rng.integers(0, 5, 2_000)
    with_gaps = rng.normal(groups, 1.0)
    with_gaps[::7] = np.nan
    present = ~np.isnan(with_gaps)
    h, p = kruskal_wallis(with_gaps, groups)
    assert h == pytest.approx(stats.kruskal(*[with_gaps[present & (groups == g)] for g in range(5)]).statistic, rel=1e-12)
    assert 0 < p < 1e-200 and format_p_value(p) == f"{p:.1e}"  # never shown as 0.000
    _, p_far = kruskal_wallis(rng.normal(groups * 10, 1.0), groups)
    assert p_far == 0.0 and format_p_value(p_far) == "< 1e-300"  # below what a double holds
    assert kruskal_wallis(np.ones(100), rng.integers(0, 3, 100)) == (0.0, 1.0)


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
