"""Fixtures of the clustering algorithm tests."""

from tests.cluster.fixtures import space_and_matrix  # noqa: F401 - a fixture
