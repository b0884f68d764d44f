"""The OpenAPI document is the contract: it is valid OpenAPI, describes every route with
its parameters, bodies, error shape and Basic auth, and the real responses of every
operation (success and each error status) validate against it, on both stores.

Call and recording *successes* need a real call: the README tour's test validates
those (tests/integration/operator/test_readme_tour.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from tests.conftest import Tenant, make_tenant, us
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS, requires_browser, sync_playwright
from tests.support.live import LiveService
from vts_masking.api.parsing import request_hash
from vts_masking.store.idempotency import Idempotency


class Contract:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.seen: set[tuple[str, str]] = set()

    def check(self, method: str, template: str, response: httpx.Response) -> Any:
        """``response`` is documented for this operation and its body fits the schema."""
        operation = self.doc["paths"][template][method]
        status = str(response.status_code)
        assert status in operation["responses"], (method, template, status, response.text)
        self.seen.add((method, template))
        content = operation["responses"][status].get("content", {})
        if "application/json" not in content:
            return None
        schema = dict(content["application/json"]["schema"], components=self.doc["components"])
        body = response.json()
        errors = sorted(OAS31Validator(schema).iter_errors(body), key=str)
        assert not errors, (method, template, status, [e.message for e in errors], body)
        return body


@pytest.fixture(scope="module")
def contract(service: LiveService) -> Contract:
    return Contract(httpx.get(service.url + "/openapi.json").json())


def test_the_document_is_valid_openapi_with_no_phantom_422(contract: Contract) -> None:
    validate(contract.doc)
    text = json.dumps(contract.doc)
    assert '"422"' not in text and "HTTPValidationError" not in text


def test_every_route_is_described_with_auth_and_the_error_shape(contract: Contract) -> None:
    assert contract.doc["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
    for path, item in contract.doc["paths"].items():
        for method, op in item.items():
            assert "security" in op, (method, path, "not in api/openapi.py OPERATIONS")
            if path.startswith("/v1/"):
                assert op["security"] == [{"basicAuth": []}]
                for status in ("400", "401", "403", "429"):
                    ref = op["responses"][status]["content"]["application/json"]["schema"]
                    assert ref == {"$ref": "#/components/schemas/ErrorBody"}


def test_bodies_are_described_as_json_and_form_and_filters_as_query(contract: Contract) -> None:
    create = contract.doc["paths"]["/v1/Account/{auth_id}/Masking/Session"]["post"]
    assert set(create["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    listing = contract.doc["paths"]["/v1/Account/{auth_id}/Masking/Session"]["get"]
    names = {p["name"] for p in listing["parameters"] if p["in"] == "query"}
    assert {"first_party", "status", "created_time__gte", "limit", "offset"} <= names
    example = contract.doc["components"]["schemas"]["SessionCreate"]["example"]
    assert example["first_party"] == "+14155552345"


def test_docs_pages_load_their_assets_from_the_service(service: LiveService) -> None:
    for page in ("/docs", "/redoc"):
        html = httpx.get(service.url + page).text
        assert "cdn" not in html.lower() and "/docs-static/" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        r = httpx.get(f"{service.url}/docs-static/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000


@requires_browser
def test_docs_pages_make_no_request_beyond_the_service_in_a_browser(
    service: LiveService,
) -> None:
    # A name, not 127.0.0.1: Swagger UI skips its online validator for loopback URLs only.
    # ReDoc's bundle drew its sidebar logo from Redocly's CDN until the service rewrote it.
    base = service.url.replace("127.0.0.1", "vts-docs.test")
    rules = "--host-resolver-rules=MAP vts-docs.test 127.0.0.1"
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
        try:
            for path, rendered in (("/docs", ".swagger-ui .info"), ("/redoc", "text=Redocly")):
                page = browser.new_page()
                page.on("request", lambda r: requested.append(r.url))
                page.goto(base + path, wait_until="networkidle")
                page.wait_for_selector(rendered)
                page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    assert base + "/docs-static/redoc.standalone.js" in requested  # both pages ran
    assert [u for u in requested if not u.startswith((base, "blob:", "data:"))] == []


S = "/v1/Account/{auth_id}/Masking/Session"
N = "/v1/Account/{auth_id}/Number"
A = "/v1/Account/{auth_id}"
SUB = A + "/Subaccount"


def test_session_operations_answer_as_documented(
    contract: Contract, tenant: Tenant, other_tenant: Tenant
) -> None:
    t = tenant
    t.add_numbers(t.vn(1))
    r = t.http.post(t.base + "Masking/Session/", json={"first_party": us(1), "second_party": us(2)})
    uuid = contract.check("post", S, r)["session_uuid"]
    form = t.http.post(
        t.base + "Masking/Session/",
        data={"first_party": us(3), "second_party": us(4), "record": "true"},
    )
    contract.check("post", S, form)
    contract.check("get", S, t.http.get(t.base + "Masking/Session/", params={"status": "all"}))
    contract.check("get", S + "/{session_uuid}", t.http.get(t.base + f"Masking/Session/{uuid}/"))
    upd = t.http.post(t.base + f"Masking/Session/{uuid}/", json={"record": "true"})
    contract.check("post", S + "/{session_uuid}", upd)
    events = t.http.get(t.base + f"Masking/Session/{uuid}/Event/")
    contract.check("get", S + "/{session_uuid}/Event", events)
    contract.check(
        "delete", S + "/{session_uuid}", t.http.delete(t.base + f"Masking/Session/{uuid}/")
    )
    again = t.http.delete(t.base + f"Masking/Session/{uuid}/")
    assert contract.check("delete", S + "/{session_uuid}", again)["error"]
    missing = t.http.post(t.base + "Masking/Session/", json={"first_party": us(5)})
    assert missing.status_code == 400 and contract.check("post", S, missing)
    unknown = t.http.get(t.base + "Masking/Session/00000000-0000-0000-0000-000000000000/")
    assert unknown.status_code == 404 and contract.check("get", S + "/{session_uuid}", unknown)
    anonymous = httpx.get(t.live.url + t.base + "Masking/Session/")
    assert anonymous.status_code == 401 and contract.check("get", S, anonymous)
    foreign = t.http.get(other_tenant.base + "Masking/Session/")
    assert foreign.status_code == 403 and contract.check("get", S, foreign)
    huge = t.http.post(
        t.base + "Masking/Session/",
        content=b"{" + b" " * 70_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and contract.check("post", S, huge)
    xml = t.http.post(
        t.base + "Masking/Session/", content=b"<a/>", headers={"Content-Type": "text/xml"}
    )
    assert xml.status_code == 415 and contract.check("post", S, xml)


def test_number_operations_answer_as_documented(contract: Contract, tenant: Tenant) -> None:
    t = tenant
    added = t.http.post(t.base + "Number/", json={"numbers": f"{t.vn(7)},{t.vn(8)}"})
    contract.check("post", N, added)
    contract.check("get", N, t.http.get(t.base + "Number/", params={"country": "US"}))
    contract.check("get", N + "/{number}", t.http.get(t.base + f"Number/{t.vn(7)}/"))
    upd = t.http.post(t.base + f"Number/{t.vn(7)}/", data={"alias": "north"})
    contract.check("post", N + "/{number}", upd)
    contract.check("delete", N + "/{number}", t.http.delete(t.base + f"Number/{t.vn(8)}/"))
    gone = t.http.get(t.base + "Number/+12025550199/")
    assert gone.status_code == 404 and contract.check("get", N + "/{number}", gone)
    bad = t.http.post(t.base + "Number/", json={"numbers": "12"})
    assert bad.status_code == 400 and contract.check("post", N, bad)


def test_a_write_whose_twin_is_in_flight_answers_409_as_documented(
    contract: Contract, tenant: Tenant
) -> None:
    t = tenant
    t.add_numbers(t.vn(9))
    store = t.live.store
    account = store.accounts.by_auth_id(t.auth_id)
    assert account is not None
    path = f"/v1/Account/{t.auth_id}/Number/{t.vn(9)}"
    assert (
        store.idempotency.claim(Idempotency(account.id, "twin", request_hash("DELETE", path, {})))
        is None
    )
    r = t.http.delete(path + "/", headers={"Idempotency-Key": "twin"})
    assert r.status_code == 409 and r.headers["Retry-After"]
    contract.check("delete", N + "/{number}", r)


def test_account_and_subaccount_operations_answer_as_documented(
    contract: Contract, tenant: Tenant
) -> None:
    t = tenant
    contract.check("get", A, t.http.get(t.base))
    created = contract.check(
        "post", SUB, t.http.post(t.base + "Subaccount/", json={"name": "Fleet"})
    )
    sub = created["auth_id"]
    contract.check("get", SUB, t.http.get(t.base + "Subaccount/"))
    contract.check("get", SUB + "/{sub_auth_id}", t.http.get(t.base + f"Subaccount/{sub}/"))
    upd = t.http.post(t.base + f"Subaccount/{sub}/", json={"enabled": "false"})
    contract.check("post", SUB + "/{sub_auth_id}", upd)
    contract.check("delete", SUB + "/{sub_auth_id}", t.http.delete(t.base + f"Subaccount/{sub}/"))
    nameless = t.http.post(t.base + "Subaccount/", json={})
    assert nameless.status_code == 400 and contract.check("post", SUB, nameless)


def test_call_and_recording_operations_answer_as_documented(
    contract: Contract, tenant: Tenant
) -> None:
    t = tenant
    nobody = "00000000-0000-0000-0000-000000000000"
    contract.check("get", A + "/Recording", t.http.get(t.base + "Recording/"))
    for template, url in (
        (A + "/Call/{call_uuid}", f"Call/{nobody}/"),
        (A + "/Recording/{recording_id}", f"Recording/{nobody}/"),
        (A + "/Recording/{recording_id}/Media", f"Recording/{nobody}/Media/"),
    ):
        r = t.http.get(t.base + url)
        assert r.status_code == 404 and contract.check("get", template, r)
    r = t.http.delete(t.base + f"Recording/{nobody}/")
    assert r.status_code == 404 and contract.check("delete", A + "/Recording/{recording_id}", r)


def test_operations_endpoints_answer_as_documented(
    contract: Contract, service: LiveService
) -> None:
    contract.check("get", "/health", httpx.get(service.url + "/health"))
    contract.check("get", "/metrics", httpx.get(service.url + "/metrics"))


@pytest.fixture
def limited(db_url: str, tmp_path: Path) -> Iterator[LiveService]:
    with LiveService(db_url, tmp_path, rate_limit=0.001, rate_limit_burst=1) as live:
        yield live


def test_rate_limited_requests_answer_429_as_documented(
    contract: Contract, limited: LiveService
) -> None:
    t = make_tenant(limited)
    assert t.http.get(t.base).status_code == 200
    r = t.http.get(t.base)
    assert r.status_code == 429 and r.headers["Retry-After"]
    contract.check("get", A, r)
    t.http.close()
