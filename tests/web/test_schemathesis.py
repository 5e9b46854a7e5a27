"""Schemathesis against the app's own OpenAPI description: every operation, fed what its schema
allows and what it does not, never answers with a 5xx, and every answer matches the schema.

Driven through Hypothesis directly: schemathesis' pytest plugin does not run on this pytest."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(clustered):
    from songscope.web.app import create_app
    from songscope.web.security import Access

    settings_, *_ = clustered
    # Schemathesis' in-process client names itself "testserver" (the Host check has its own tests).
    app = create_app(settings_, Access.for_bind("127.0.0.1", extra_hosts=["testserver"]))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_the_api_never_fails_on_what_a_client_sends(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation, mode in [(o, m) for o in operations for m in schemathesis.GenerationMode]:  # valid data, then invalid

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            # A well-formed request may still name a song, run or list that is not there: the
            # app answers 404 or 422 with the reason, which this check would count as a fault.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Unsatisfiable:  # an operation without inputs has no invalid ones
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
