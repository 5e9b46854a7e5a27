"""Fixtures of the clustering algorithm tests (here and in tests/backends/)."""

from __future__ import annotations

import pytest

from songscope.features import FeatureSpace


@pytest.fixture(scope="module")
def space_and_matrix(seed_catalogue):
    from tests.conftest import load_catalogue

    catalogue = load_catalogue(seed_catalogue).sample(3_000, random_state=1).reset_index(drop=True)
    space = FeatureSpace().fit(catalogue)
    return space, space.transform(catalogue), catalogue
