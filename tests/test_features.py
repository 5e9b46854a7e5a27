"""Feature space and the statistical evaluation, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from songscope.errors import UserError
from songscope.features import CONTINUOUS_FEATURES, FeatureSpace


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
    with pytest.raises(UserError, match="missing feature values"):
        FeatureSpace().fit(broken)


