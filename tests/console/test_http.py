"""The console over real HTTP without a browser (both stores): sign-in and its cookie,
CSRF, sign-out, tenancy (the API's rules: another tenant's objects are not found), the
operator, and refusals that are pages with the API's message — never a 500, never a
half-done write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import Tenant, us
from tests.support.live import LiveService
from vts_masking.cli import app as cli_app


class Browserless:
    """An HTTP client that signs in to the console the way a browser does."""

    def __init__(self, live: LiveService) -> None:
        self.http = httpx.Client(base_url=live.url, follow_redirects=False, timeout=30)

    def signin_token(self) -> str:
        r = self.http.get("/console/login")
        assert r.status_code == 200
        return re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]

    def sign_in(self, auth_id: str, token: str, **extra: str) -> httpx.Response:
        form = {"csrf_token": self.signin_token(), "auth_id": auth_id, "auth_token": token}
        return self.http.post("/console/login", data={**form, **extra})

    def csrf(self, path: str = "/console/numbers") -> str:
        r = self.http.get(path)
        assert r.status_code == 200, r.text
        return re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def browserless(service: LiveService) -> Iterator[Browserless]:
    b = Browserless(service)
    yield b
    b.close()


@pytest.fixture
def signed_in(browserless: Browserless, tenant: Tenant) -> Browserless:
    r = browserless.sign_in(tenant.auth_id, tenant.auth_token)
    assert r.status_code == 303, r.text
    return browserless


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


# -- sign-in, cookies, sign-out -----------------------------------------------------


def test_the_login_cookie_is_httponly_samesite_strict_and_scoped_to_the_console(
    browserless: Browserless, tenant: Tenant
) -> None:
    r = browserless.sign_in(tenant.auth_id, tenant.auth_token)
    assert r.status_code == 303 and r.headers["location"] == "/console/dashboard"
    [cookie] = [c for c in set_cookies(r) if c.startswith("vts_console=")]
    parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= parts
    assert "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "secure" not in parts  # served over plain http here
    assert tenant.auth_token not in cookie


def test_the_login_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    with LiveService(
        f"sqlite:///{tmp_path / 'vts.sqlite3'}", tmp_path, public_url="https://console.example"
    ) as live:
        account = live.store.accounts.create("tls-tenant")
        form = httpx.get(live.url + "/console/login")
        [pre] = set_cookies(form)
        assert "Secure" in pre
        # (a client keeps Secure cookies for https only: this one is handed back by hand,
        # as a browser behind the TLS proxy would)
        value = pre.split(";")[0].split("=", 1)[1]
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        r = httpx.post(
            live.url + "/console/login",
            data={
                "csrf_token": token,
                "auth_id": account.auth_id,
                "auth_token": account.auth_token,
            },
            cookies={"vts_console_signin": value},
        )
    assert r.status_code == 303, r.text
    [cookie] = [c for c in set_cookies(r) if c.startswith("vts_console=")]
    assert "Secure" in cookie


def test_a_wrong_token_is_refused_with_401_and_no_login(
    browserless: Browserless, tenant: Tenant
) -> None:
    r = browserless.sign_in(tenant.auth_id, tenant.auth_token[:-1] + "x")
    assert r.status_code == 401
    assert "Authentication failed." in r.text
    assert not [c for c in set_cookies(r) if c.startswith("vts_console=")]
    assert tenant.auth_token[:-1] not in r.text  # the typed token is not echoed


def test_signing_in_without_the_forms_token_is_refused(
    browserless: Browserless, tenant: Tenant
) -> None:
    r = browserless.http.post(
        "/console/login", data={"auth_id": tenant.auth_id, "auth_token": tenant.auth_token}
    )
    assert r.status_code == 403
    assert not [c for c in set_cookies(r) if c.startswith("vts_console=")]


def test_signing_out_ends_the_login_even_for_a_replayed_cookie(
    signed_in: Browserless, service: LiveService
) -> None:
    cookie = signed_in.http.cookies.get("vts_console")
    token = signed_in.csrf("/console/dashboard")
    r = signed_in.http.post("/console/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    replay = httpx.get(service.url + "/console/dashboard", cookies={"vts_console": cookie or ""})
    assert replay.status_code == 303 and replay.headers["location"].startswith("/console/login")


def test_signing_out_needs_the_csrf_token(signed_in: Browserless) -> None:
    assert signed_in.http.post("/console/logout", data={}).status_code == 403
    assert signed_in.http.get("/console/dashboard").status_code == 200


def test_a_page_without_a_login_sends_to_sign_in_and_back(browserless: Browserless) -> None:
    r = browserless.http.get("/console/sessions?status=active")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?next=%2Fconsole%2Fsessions%3Fstatus%3Dactive"
    polled = browserless.http.get("/console/live", headers={"HX-Request": "true"})
    assert polled.headers["HX-Redirect"].startswith("/console/login")


def test_after_sign_in_only_a_console_path_is_followed(
    browserless: Browserless, tenant: Tenant
) -> None:
    r = browserless.sign_in(tenant.auth_id, tenant.auth_token, next="/console/numbers")
    assert r.headers["location"] == "/console/numbers"
    for target in ("//evil.example/console/", "https://evil.example/", "/console//evil"):
        r = browserless.sign_in(tenant.auth_id, tenant.auth_token, next=target)
        assert r.headers["location"] == "/console/dashboard", target


def test_a_subaccount_switched_off_in_the_api_is_signed_out(
    browserless: Browserless, tenant: Tenant
) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "desk"}).json()
    browserless.sign_in(sub["auth_id"], sub["auth_token"])
    assert browserless.http.get("/console/dashboard").status_code == 200
    r = tenant.http.post(tenant.base + f"Subaccount/{sub['auth_id']}/", json={"enabled": False})
    assert r.status_code == 200, r.text
    assert browserless.http.get("/console/dashboard").status_code == 303


def test_pages_carry_a_content_security_policy_and_are_never_cached(
    signed_in: Browserless, tenant: Tenant
) -> None:
    for path in ("/console/dashboard", "/console/sessions", "/console/events", "/console/numbers"):
        r = signed_in.http.get(path)
        assert r.status_code == 200, path
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-frame-options"] == "DENY"
        assert tenant.auth_token not in r.text, path


# -- CSRF on every form ----------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    signed_in: Browserless, tenant: Tenant
) -> None:
    number = tenant.vn(11)
    r = signed_in.http.post("/console/numbers", data={"numbers": number})
    assert r.status_code == 403 and "security token" in r.text
    assert tenant.http.get(tenant.base + f"Number/{number}/").status_code == 404


def test_a_csrf_token_of_another_login_is_refused(
    signed_in: Browserless, tenant: Tenant, service: LiveService
) -> None:
    other = Browserless(service)
    other.sign_in(tenant.auth_id, tenant.auth_token)
    foreign = other.csrf()
    other.close()
    r = signed_in.http.post(
        "/console/numbers", data={"numbers": tenant.vn(12), "csrf_token": foreign}
    )
    assert r.status_code == 403


def test_the_csrf_token_may_come_in_the_htmx_header(signed_in: Browserless, tenant: Tenant) -> None:
    number = tenant.vn(13)
    r = signed_in.http.post(
        "/console/numbers", data={"numbers": number}, headers={"X-CSRF-Token": signed_in.csrf()}
    )
    assert r.status_code == 303
    assert tenant.http.get(tenant.base + f"Number/{number}/").status_code == 200


# -- tenancy -----------------------------------------------------------------------------


def test_another_tenants_session_is_not_found(signed_in: Browserless, other_tenant: Tenant) -> None:
    other_tenant.add_numbers(other_tenant.vn(1))
    theirs = other_tenant.session(first_party=us(1), second_party=us(2))
    r = signed_in.http.get(f"/console/sessions/{theirs['session_uuid']}")
    assert r.status_code == 404 and "Session not found." in r.text
    assert theirs["first_party"] not in r.text


def test_a_subaccount_sees_only_its_own_sessions(browserless: Browserless, tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(1))
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "desk"}).json()
    tenant.add_numbers(tenant.vn(2), subaccount=sub["auth_id"])
    mine = tenant.session(first_party=us(11), second_party=us(12), subaccount=sub["auth_id"])
    mains = tenant.session(first_party=us(13), second_party=us(14))
    browserless.sign_in(sub["auth_id"], sub["auth_token"])
    listed = browserless.http.get("/console/sessions").text
    assert mine["session_uuid"] in listed and mains["session_uuid"] not in listed
    assert browserless.http.get(f"/console/sessions/{mains['session_uuid']}").status_code == 404
    numbers = browserless.http.get("/console/numbers").text
    assert tenant.vn(2) in numbers and tenant.vn(1) not in numbers


def test_a_main_account_sees_its_subaccounts_sessions(
    signed_in: Browserless, tenant: Tenant
) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "desk"}).json()
    tenant.add_numbers(tenant.vn(3), subaccount=sub["auth_id"])
    theirs = tenant.session(first_party=us(21), second_party=us(22), subaccount=sub["auth_id"])
    assert signed_in.http.get(f"/console/sessions/{theirs['session_uuid']}").status_code == 200


def test_only_the_main_account_moves_numbers_between_its_pools(
    browserless: Browserless, tenant: Tenant
) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "desk"}).json()
    number = tenant.vn(4)
    tenant.add_numbers(number, subaccount=sub["auth_id"])
    browserless.sign_in(sub["auth_id"], sub["auth_token"])
    page = browserless.http.get("/console/numbers").text
    assert "/move" not in page
    r = browserless.http.post(
        f"/console/numbers/{number}/move", data={"subaccount": "", "csrf_token": browserless.csrf()}
    )
    assert r.status_code == 403
    view = tenant.http.get(tenant.base + f"Number/{number}/").json()
    assert view["subaccount"] == sub["auth_id"]
    # the main account may
    main = Browserless(tenant.live)
    main.sign_in(tenant.auth_id, tenant.auth_token)
    r = main.http.post(
        f"/console/numbers/{number}/move", data={"subaccount": "", "csrf_token": main.csrf()}
    )
    main.close()
    assert r.status_code == 303
    view = tenant.http.get(tenant.base + f"Number/{number}/").json()
    assert view["subaccount"] is None


def test_a_recording_of_another_tenant_is_not_found(signed_in: Browserless) -> None:
    r = signed_in.http.get("/console/recordings/00000000-0000-4000-8000-000000000000/media")
    assert r.status_code == 404


# -- refusals are pages with the API's message ---------------------------------------------


def test_a_bad_sessions_filter_is_a_400_page_with_the_apis_message(
    signed_in: Browserless,
) -> None:
    r = signed_in.http.get("/console/sessions?status=finished")
    assert r.status_code == 400
    assert "Invalid parameter. status allowed values are" in r.text
    r = signed_in.http.get("/console/sessions?created_time__gte=yesterday")
    assert r.status_code == 400 and "created_time__gte" in r.text
    # the query string is read by the API's strict reader: what it refuses, this does
    for query in ("first_party=%00", "first_party=%ff", "limit=99", "offset=-1"):
        assert signed_in.http.get(f"/console/sessions?{query}").status_code == 400, query
    assert signed_in.http.get("/console/events?limit=abc").status_code == 400


def test_adding_an_invalid_number_is_a_400_page_and_adds_nothing(
    signed_in: Browserless, tenant: Tenant
) -> None:
    good = tenant.vn(21)
    r = signed_in.http.post(
        "/console/numbers", data={"numbers": f"{good},12", "csrf_token": signed_in.csrf()}
    )
    assert r.status_code == 400 and "invalid or unavailable number" in r.text
    assert tenant.http.get(tenant.base + f"Number/{good}/").status_code == 404


def test_removing_a_number_with_active_sessions_needs_drain(
    signed_in: Browserless, tenant: Tenant
) -> None:
    number = tenant.vn(22)
    tenant.add_numbers(number)
    tenant.session(first_party=us(31), second_party=us(32))
    r = signed_in.http.post(
        f"/console/numbers/{number}/remove", data={"csrf_token": signed_in.csrf()}
    )
    assert r.status_code == 400 and "drain" in r.text
    assert (
        tenant.http.get(tenant.base + f"Number/{number}/").json()["state"]
        == "in_service"
    )
    r = signed_in.http.post(
        f"/console/numbers/{number}/remove", data={"drain": "1", "csrf_token": signed_in.csrf()}
    )
    assert r.status_code == 303 and "notice=draining" in r.headers["location"]


def test_replacing_a_number_moves_its_sessions_and_removes_it(
    signed_in: Browserless, tenant: Tenant
) -> None:
    number, spare = tenant.vn(24), tenant.vn(25)
    tenant.add_numbers(number)
    s = tenant.session(first_party=us(33), second_party=us(34))
    tenant.add_numbers(spare)
    page = signed_in.http.get("/console/numbers").text
    assert 'name="replace"' in page
    r = signed_in.http.post(
        f"/console/numbers/{number}/remove",
        data={"replace": "1", "csrf_token": signed_in.csrf()},
    )
    assert r.status_code == 303 and "notice=replaced" in r.headers["location"]
    moved = tenant.http.get(tenant.base + f"Masking/Session/{s['session_uuid']}/").json()
    assert moved["response"]["virtual_number"] == spare
    assert tenant.http.get(tenant.base + f"Number/{number}/").status_code == 404


def test_retrying_an_event_is_scoped_to_the_tenant_and_to_retryable_events(
    signed_in: Browserless, tenant: Tenant, other_tenant: Tenant
) -> None:
    tenant.add_numbers(tenant.vn(23))
    other_tenant.add_numbers(other_tenant.vn(23))
    mine = tenant.session(
        first_party=us(41), second_party=us(42), callback_url="https://example.com/cb"
    )
    silent = tenant.session(first_party=us(43), second_party=us(44))  # no URL: skipped
    theirs = other_tenant.session(
        first_party=us(45), second_party=us(46), callback_url="https://example.com/cb"
    )

    def first_event(t: Tenant, s: dict) -> int:
        objects = t.http.get(t.base + f"Masking/Session/{s['session_uuid']}/Event/").json()
        return objects["response"]["objects"][0]["id"]

    token = signed_in.csrf("/console/events")
    r = signed_in.http.post(
        f"/console/events/{first_event(tenant, mine)}/retry", data={"csrf_token": token}
    )
    assert r.status_code == 303  # pending (no worker here): due again now
    r = signed_in.http.post(
        f"/console/events/{first_event(other_tenant, theirs)}/retry", data={"csrf_token": token}
    )
    assert r.status_code == 404 and "Event not found." in r.text
    r = signed_in.http.post(
        f"/console/events/{first_event(tenant, silent)}/retry", data={"csrf_token": token}
    )
    assert r.status_code == 400 and "skipped" in r.text
    r = signed_in.http.post("/console/events/abc/retry", data={"csrf_token": token})
    assert r.status_code == 404


def test_an_unknown_console_path_is_a_404_page(signed_in: Browserless) -> None:
    r = signed_in.http.get("/console/nowhere")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


def test_static_assets_come_from_the_package(browserless: Browserless) -> None:
    r = browserless.http.get("/console/static/htmx.min.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert b"htmx" in r.content[:200]
    for bad in (
        "/console/static/..%2Fauth.py",
        "/console/static/auth.py",
        "/console/static/nope.js",
    ):
        assert browserless.http.get(bad).status_code == 404, bad


# -- the operator ------------------------------------------------------------------------


def test_the_operator_made_from_the_cli_sees_every_account(
    browserless: Browserless, tenant: Tenant, other_tenant: Tenant, service: LiveService
) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["console", "operator-add", "--name", "Ops", "--database-url", service.store.url, "--json"],
    )
    assert result.exit_code == 0, result.output
    creds = json.loads(result.output)
    tenant.add_numbers(tenant.vn(31))
    other_tenant.add_numbers(other_tenant.vn(31))
    a = tenant.session(first_party=us(51), second_party=us(52))
    b = other_tenant.session(first_party=us(53), second_party=us(54))
    r = browserless.sign_in(creds["login"], creds["token"])
    assert r.status_code == 303
    for s in (a, b):
        assert browserless.http.get(f"/console/sessions/{s['session_uuid']}").status_code == 200
    chooser = browserless.http.get("/console/sessions").text
    assert tenant.auth_id in chooser and other_tenant.auth_id in chooser
    listed = browserless.http.get(f"/console/sessions?account={tenant.auth_id}").text
    assert a["session_uuid"] in listed and b["session_uuid"] not in listed
    assert browserless.http.get("/console/dashboard").status_code == 200
    off = CliRunner().invoke(
        cli_app,
        ["console", "operator-disable", creds["login"], "--database-url", service.store.url],
    )
    assert off.exit_code == 0, off.output
    assert browserless.http.get("/console/dashboard").status_code == 303


def test_a_wrong_operator_token_is_refused(browserless: Browserless, service: LiveService) -> None:
    operator, token = service.store.console.create_operator("Ops 2")
    r = browserless.sign_in(operator.login, token[::-1])
    assert r.status_code == 401
