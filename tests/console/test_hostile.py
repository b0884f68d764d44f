"""Hostile values (the fuzz stage's, tests/fuzz) in every parameter of the console's
pages and forms, signed in, against the live service: never a 5xx, a refusal is a page
(or the API's error shape where the request never reached the console)."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant
from tests.console.test_http import Browserless
from tests.fuzz.strategies import HOSTILE_TEXT

# (method, path with {} for a path value, or the name of the query/form field)
TARGETS = [
    ("GET", "/console/sessions", "first_party"),
    ("GET", "/console/sessions", "created_time__gte"),
    ("GET", "/console/sessions", "duration__lt"),
    ("GET", "/console/sessions", "subaccount"),
    ("GET", "/console/events", "status"),
    ("GET", "/console/events", "offset"),
    ("GET", "/console/numbers", "limit"),
    ("GET", "/console/dashboard", "account"),
    ("GET", "/console/login", "next"),
    ("GET", "/console/sessions/{}", None),
    ("GET", "/console/numbers/{}", None),
    ("GET", "/console/events/{}/row", None),
    ("GET", "/console/recordings/{}/media", None),
    ("GET", "/console/static/{}", None),
    ("POST", "/console/numbers", "numbers"),
    ("POST", "/console/numbers", "subaccount"),
    ("POST", "/console/numbers/{}/remove", None),
    ("POST", "/console/numbers/{}/move", None),
    ("POST", "/console/numbers/%2B12202009999/move", "subaccount"),
    ("POST", "/console/events/{}/retry", None),
    ("POST", "/console/login", "auth_id"),
    ("POST", "/console/login", "auth_token"),
]


def encode(value: str) -> str:
    return quote_from_bytes(value.encode("utf-8", "surrogatepass"), safe="")


@pytest.fixture
def hostile_client(service: object, tenant: Tenant) -> Browserless:
    client = Browserless(tenant.live)
    client.sign_in(tenant.auth_id, tenant.auth_token)
    client.csrf_token = client.csrf()  # type: ignore[attr-defined]
    return client


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=st.sampled_from(TARGETS), value=HOSTILE_TEXT)
def test_hostile_values_never_make_the_console_fail(
    hostile_client: Browserless, target: tuple[str, str, str | None], value: str
) -> None:
    method, path, field = target
    url = path.format(encode(value)) if field is None else path
    if method == "GET":
        query = f"?{field}={encode(value)}" if field else ""
        r = hostile_client.http.get(url + query)
    else:
        token = (
            hostile_client.signin_token()  # the sign-in form's own token
            if url == "/console/login"
            else hostile_client.csrf_token  # type: ignore[attr-defined]
        )
        form = f"csrf_token={token}&auth_id=MA0&auth_token=x"
        if field:
            form += f"&{field}={encode(value)}"
        r = hostile_client.http.post(
            url,
            content=form.encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code < 500, (method, url, field, r.text[:300])
    if r.status_code >= 400:
        kind = r.headers.get("content-type", "")
        assert kind.startswith("text/html") or r.json().get("error"), (method, url, r.text[:300])
