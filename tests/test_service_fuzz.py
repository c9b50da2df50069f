"""Property-based fuzzing against the service's own OpenAPI document with schemathesis.

Schemathesis generates valid and invalid requests for every operation in
/openapi.json and calls the real app (real SavedModel) over ASGI. The checks
below require that no response is a 5xx and that each status, content type,
header set and body is one the document declares. Hypothesis runs derandomized,
so CI sees the same examples on every run.
"""

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.settings import Settings

pytestmark = pytest.mark.slow

MAX_EXAMPLES_PER_OPERATION = 150
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(trained_model_dir: Path) -> schemathesis.schemas.BaseSchema:
    app = create_app(Settings(model_dir=trained_model_dir, reload_interval_seconds=0), registry=CollectorRegistry())
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def fuzz_operation(operation: schemathesis.schemas.APIOperation) -> None:
    """Run the checks on MAX_EXAMPLES_PER_OPERATION generated cases of one operation."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call_and_check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    call_and_check()


# NOTE: schemathesis 4.32.5's own pytest integration (schema.parametrize with
# from_fixture) reads Node._nodeid, which pytest 9.2 no longer has, so this test
# drives the operations with Hypothesis directly.
def test_fuzz_responses_match_schema(api_schema: schemathesis.schemas.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = sorted(operation.label for operation in operations)

    assert "POST /forecast" in labels
    for operation in operations:
        fuzz_operation(operation)
