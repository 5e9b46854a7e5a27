"""Fixtures of the recommender's tests: the seed catalogue in memory and a recommender over it
(per module: each test module gets its own, so no test sees another's state)."""

from __future__ import annotations

import pytest

from songscope.features import FeatureSpace
from songscope.recommend.recommender import Recommender
from tests.conftest import load_catalogue


@pytest.fixture(scope="module")
def catalogue(seed_catalogue):
    return load_catalogue(seed_catalogue)


@pytest.fixture(scope="module")
def recommender(catalogue):
    return Recommender.from_frame(catalogue, FeatureSpace().fit(catalogue))
