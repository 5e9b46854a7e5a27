"""Feature space and the statistical evaluation, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from songscope.evaluate.cluster_profiles import describe_clusters, feature_tests


def test_profiles_name_what_differs(catalogue):
    labels = (catalogue["acousticness"] > 0.8).astype(int).to_numpy()
    tests = feature_tests(catalogue, labels, ["acousticness", "energy", "key"])
    assert tests.iloc[0]["feature"] == "acousticness" and tests.iloc[0]["epsilon_squared"] > 0.5
    assert tests.set_index("feature").loc["key", "epsilon_squared"] < 0.01
    profiles = describe_clusters(catalogue, labels, ["acousticness", "energy", "loudness"]).set_index("cluster")
    assert "acoustic" in profiles.at[1, "description"] and "calm" in profiles.at[1, "description"]
    # The majority cluster sits near the catalogue's middle, on the electric side.
    assert profiles.at[0, "shifts"]["acousticness"] < 0 < profiles.at[1, "shifts"]["acousticness"]


def test_kruskal_wallis_leaves_missing_values_out_and_reads_identical_values_as_no_difference():
    from scipy import stats

    from songscope.evaluate.cluster_profiles import format_p_value, kruskal_wallis

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
