"""Fuzz stage (issue 11): schemathesis over the service's own OpenAPI, authenticated.

Every operation of the API gets generated requests — valid ones (positive mode) and
ones that break the schema on purpose (negative mode): wrong types, missing and extra
fields, odd strings — sent as JSON and as form bodies to the real service on each
store. The property: no answer is a 5xx, and every refusal is in the API's error shape.
Bounded: :data:`EXAMPLES` cases per operation and mode, no example database (CI starts
from nothing), so a run takes seconds per store.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.conftest import make_tenant, us
from tests.fuzz.schema import complete
from tests.support.live import LiveService

EXAMPLES = 20  # per operation and generation mode


@pytest.fixture(scope="module")
def target(service: LiveService) -> Iterator[tuple[LiveService, dict, dict[str, str]]]:
    tenant = make_tenant(service)
    tenant.add_numbers(*(tenant.vn(i) for i in range(6)))
    session = tenant.session(first_party=us(1), second_party=us(2))
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "fuzz"}).json()
    known = {
        "session_uuid": [session["session_uuid"]],
        "number": [tenant.vn(0), tenant.vn(1)],
        "sub_auth_id": [sub["auth_id"]],
    }
    doc = complete(service.app.openapi(), tenant.auth_id, known)
    token = base64.b64encode(f"{tenant.auth_id}:{tenant.auth_token}".encode()).decode()
    yield service, doc, {"Authorization": f"Basic {token}"}
    tenant.http.close()


def _strategy(operation: schemathesis.APIOperation) -> st.SearchStrategy:
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


def test_no_generated_request_gets_a_5xx_or_leaves_the_error_shape(target) -> None:
    live, doc, headers = target
    schema = schemathesis.openapi.from_dict(doc)
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # every route of the API is in the document

    for operation in operations:

        @settings(
            max_examples=2 * EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=_strategy(operation))
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=live.url, headers=headers, timeout=15)
            statuses[response.status_code] += 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            assert response.status_code < 500, f"{where}: {response.text[:300]}"
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"api_id", "error"}, f"{where}: {body}"

        fuzz()
    print(
        f"fuzzed {sum(statuses.values())} requests over {len(operations)} operations:",
        dict(statuses),
    )
    assert sum(statuses.values()) > 10 * len(operations)
