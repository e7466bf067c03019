"""Schema-driven fuzzing of the running service (schemathesis): no input produces a 5xx.

Bounded: a fixed number of generated cases per operation, run with a valid token (so requests reach the
chain, the retriever and the model) and once more without one.
"""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.service

EXAMPLES_PER_OPERATION = 25


def test_no_generated_request_causes_a_server_error(service, issuer):
    spec = httpx.get(f"{service.url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(spec)
    token = issuer.token()
    failures: list[str] = []
    checked = 0

    def fuzz(operation) -> None:
        nonlocal checked

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case) -> None:
            nonlocal checked
            for headers in ({"Authorization": f"Bearer {token}"}, {}):
                response = case.call(base_url=service.url, headers=headers, timeout=30)
                checked += 1
                if response.status_code >= 500:
                    failures.append(f"{operation.label}: {response.status_code} {response.text[:200]}")

        run()

    for result in schema.get_all_operations():
        fuzz(result.ok())
    assert checked > 0
    assert not failures, failures
