"""Fixtures of the backend contract tests."""

from tests.cluster.fixtures import space_and_matrix  # noqa: F401 - a fixture shared with tests/cluster/
