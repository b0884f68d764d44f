"""Regression tests for issue 11 (what an outside attacker found), on both stores.

Each test is one item of the issue; each failed on the main branch before the fix (a
500, a wrong 201, a stored bad value). Raw JSON is sent as bytes where the point is a
value no JSON encoder would write (a lone surrogate, a 5,000-digit integer).
"""

from __future__ import annotations

import base64
import json
import secrets
import socket

import httpx
import pytest

from tests.conftest import Tenant, us
from tests.support.live import LiveService
from vts_masking import badinput

JSON = {"content-type": "application/json"}
SURROGATE = '"http://x.example/\\udc80"'  # as raw JSON text: a lone surrogate escape


def _raw(t: Tenant, path: str, body: str) -> httpx.Response:
    return t.http.post(t.base + path, content=body.encode(), headers=JSON)


def _error(r: httpx.Response, status: int = 400) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"api_id", "error"}
    return body["error"]


@pytest.fixture
def vn(tenant: Tenant) -> str:
    number = tenant.vn(int.from_bytes(secrets.token_bytes(2)) % 9000)
    tenant.add_numbers(number)
    return number


@pytest.fixture
def session(tenant: Tenant, vn: str) -> dict:
    a, b = (us(int.from_bytes(secrets.token_bytes(2)) % 9000) for _ in range(2))
    while b == a:
        b = us(int.from_bytes(secrets.token_bytes(2)) % 9000)
    return tenant.session(first_party=a, second_party=b)


# -- one text rule -------------------------------------------------------------------


def test_lone_surrogate_in_a_session_update_is_a_400_and_not_stored(
    tenant: Tenant, session: dict
) -> None:
    path = f"Masking/Session/{session['session_uuid']}/"
    r = _raw(tenant, path, '{"callback_url": ' + SURROGATE + "}")
    assert "callback_url" in _error(r)
    after = tenant.http.get(tenant.base + path)
    assert after.status_code == 200
    assert after.json()["response"]["callback_url"] in (None, "")


def test_lone_surrogate_in_a_session_create_is_a_400_naming_the_parameter(
    tenant: Tenant, vn: str
) -> None:
    body = json.dumps({"first_party": us(11), "second_party": us(12)})[:-1]
    r = _raw(tenant, "Masking/Session/", body + ', "callback_url": ' + SURROGATE + "}")
    assert _error(r).startswith("Invalid parameter. callback_url ")


def test_lone_surrogate_in_a_number_alias_is_a_400(tenant: Tenant) -> None:
    r = _raw(tenant, "Number/", f'{{"numbers": "{tenant.vn(9101)}", "alias": "a\\ud800b"}}')
    assert "alias" in _error(r)


def test_lone_surrogate_in_a_subaccount_name_is_a_400(tenant: Tenant) -> None:
    r = _raw(tenant, "Subaccount/", '{"name": "\\udfff"}')
    assert "name" in _error(r)


def test_nul_in_a_query_parameter_is_a_400(tenant: Tenant) -> None:
    r = tenant.http.get(tenant.base + "Masking/Session/", params={"first_party": "+1\x00"})
    assert "first_party" in _error(r)


def test_nul_in_a_path_is_a_404_in_the_error_shape(tenant: Tenant) -> None:
    r = tenant.http.get(tenant.base + "Masking/Session/abc%00def/")
    assert _error(r, 404) == "Resource not found."


def test_invalid_utf8_in_a_form_body_is_a_400(tenant: Tenant) -> None:
    r = tenant.http.post(
        tenant.base + "Subaccount/",
        content=b"name=%ED%B2%80",  # a UTF-8-encoded surrogate
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "UTF-8" in _error(r)


@pytest.mark.parametrize("name", ["line\nbreak", "tab\there", "bell\x07", "rlo\u202eevil"])
def test_subaccount_names_with_control_characters_are_refused(tenant: Tenant, name: str) -> None:
    r = tenant.http.post(tenant.base + "Subaccount/", json={"name": name})
    assert _error(r) == "Invalid parameter. name must not contain control characters."


# -- one integer rule ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["session_expiry", "call_time_limit"])
def test_a_5000_digit_integer_in_a_create_is_a_400(tenant: Tenant, name: str) -> None:
    r = tenant.create(first_party=us(21), second_party=us(22), **{name: "9" * 5000})
    assert _error(r) == f"Invalid parameter. {name} is outside the allowed range."


def test_a_5000_digit_json_integer_is_a_400_naming_the_parameter(tenant: Tenant) -> None:
    body = '{{"first_party": "{}", "second_party": "{}", "session_expiry": {}}}'.format(
        us(23),
        us(24),
        "7" * 5000,
    )
    r = _raw(tenant, "Masking/Session/", body)
    assert _error(r) == "Invalid parameter. session_expiry is outside the allowed range."


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "1" * 5000),
        ("offset", "1" * 5000),
        ("offset", str(10**30)),
        ("duration", str(10**30)),
        ("duration__gt", str(-(10**30))),
        ("duration__lt", str(2**31)),
        ("duration", "-1"),
    ],
    ids=[
        "limit-5000-digits",
        "offset-5000-digits",
        "offset-1e30",
        "duration-1e30",
        "duration-neg",
        "duration-past-int32",
        "duration-negative",
    ],
)
def test_huge_integers_in_list_filters_are_a_400(tenant: Tenant, param: str, value: str) -> None:
    r = tenant.http.get(tenant.base + "Masking/Session/", params={param: value})
    assert _error(r) == f"Invalid parameter. {param} is outside the allowed range."


@pytest.mark.parametrize("path", ["Number/", "Subaccount/", "Recording/"])
def test_huge_offsets_on_other_lists_are_a_400(tenant: Tenant, path: str) -> None:
    r = tenant.http.get(tenant.base + path, params={"offset": str(10**30)})
    assert _error(r) == "Invalid parameter. offset is outside the allowed range."


@pytest.mark.parametrize("param", ["created_time", "expiry_time__gte"])
def test_a_created_time_in_year_9999_is_a_400(tenant: Tenant, param: str) -> None:
    r = tenant.http.get(tenant.base + "Masking/Session/", params={param: "9999-12-31 23:59:59"})
    assert _error(r) == f"Invalid parameter. {param} is outside the allowed range."


# -- one JSON depth/size rule --------------------------------------------------------


def test_json_nested_1000_deep_is_a_400(tenant: Tenant) -> None:
    body = '{"first_party": ' + "[" * 1000 + "]" * 1000 + "}"
    assert "nested deeper" in _error(_raw(tenant, "Masking/Session/", body))


def test_a_trailing_comma_before_a_closing_brace_is_tolerated(tenant: Tenant, vn: str) -> None:
    body = f'{{"first_party": "{us(31)}", "second_party": "{us(32)}", "record": "true",}}'
    r = _raw(tenant, "Masking/Session/", body)
    assert r.status_code == 201, r.text
    assert r.json()["session"]["record"] is True


def test_a_trailing_comma_in_a_list_is_tolerated(tenant: Tenant) -> None:
    number = tenant.vn(9201)
    r = _raw(tenant, "Number/", f'{{"numbers": ["{number}",],}}')
    assert r.status_code == 201, r.text
    assert r.json()["numbers"] == [number]


def test_a_comma_inside_a_string_is_kept(tenant: Tenant) -> None:
    r = _raw(tenant, "Subaccount/", '{"name": "a,}b",}')
    assert r.status_code == 201, r.text
    sub = r.json()["auth_id"]
    assert tenant.http.get(tenant.base + f"Subaccount/{sub}/").json()["name"] == "a,}b"


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(tenant: Tenant) -> None:
    # The headers promise 100 MB and none of it follows: the answer can only come
    # from the Content-Length (the old code waited for the whole body).
    auth = base64.b64encode(f"{tenant.auth_id}:{tenant.auth_token}".encode()).decode()
    head = (
        f"POST {tenant.base}Masking/Session/ HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Basic {auth}\r\nContent-Type: application/json\r\n"
        "Content-Length: 104857600\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", tenant.live.port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"Request body too large." in answer


def test_a_chunked_body_over_the_limit_is_refused(tenant: Tenant) -> None:
    def chunks():
        for _ in range(64):  # 4 MiB in all, refused after the first 64 KiB
            yield b" " * 65536

    r = tenant.http.post(tenant.base + "Masking/Session/", content=chunks(), headers=JSON)
    assert _error(r, 413) == "Request body too large."


# -- one phone-number rule -----------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "+١٤١٥٥٥٥٢٣٤٥",  # Arabic-Indic digits
        "+１４１５５５５２３４５",  # full-width digits
        "-14155552345",
        -14155552345,
    ],
)
def test_phone_numbers_that_are_not_ascii_digits_are_refused(
    tenant: Tenant, vn: str, number: object
) -> None:
    r = tenant.create(first_party=number, second_party=us(41))
    assert _error(r) == "Invalid parameter. first_party is not a valid phone number."


def test_a_virtual_number_in_full_width_digits_is_refused(tenant: Tenant) -> None:
    r = tenant.http.post(tenant.base + "Number/", json={"numbers": "+１２２０２９９０００１"})
    assert _error(r).startswith("Invalid parameter. numbers contains an invalid")


# -- number ownership ----------------------------------------------------------------


def _sub(t: Tenant) -> httpx.Client:
    r = t.http.post(t.base + "Subaccount/", json={"name": "unit-" + secrets.token_hex(3)})
    assert r.status_code == 201, r.text
    sub = r.json()
    client = httpx.Client(base_url=t.live.url, auth=(sub["auth_id"], sub["auth_token"]), timeout=30)
    client.auth_id = sub["auth_id"]  # type: ignore[attr-defined]
    return client


def _sub_add(sub: httpx.Client, number: str) -> httpx.Response:
    return sub.post(f"/v1/Account/{sub.auth_id}/Number/", json={"numbers": number})  # type: ignore[attr-defined]


def test_a_subaccount_cannot_take_its_siblings_number(tenant: Tenant) -> None:
    number = tenant.vn(9301)
    with _sub(tenant) as owner, _sub(tenant) as thief:
        assert _sub_add(owner, number).status_code == 201
        r = _sub_add(thief, number)
        assert _error(r).startswith("Invalid parameter. numbers contains an invalid")
        listed = owner.get(f"/v1/Account/{owner.auth_id}/Number/").json()  # type: ignore[attr-defined]
        assert [n["number"] for n in listed["objects"]] == [number]


def test_a_subaccount_cannot_take_its_parents_number(tenant: Tenant) -> None:
    number = tenant.vn(9302)
    tenant.add_numbers(number)
    with _sub(tenant) as thief:
        assert _sub_add(thief, number).status_code == 400
    row = tenant.http.get(tenant.base + f"Number/{number}/").json()
    assert row["subaccount"] is None


def test_a_main_account_still_moves_its_own_number_to_a_subaccount(tenant: Tenant) -> None:
    number = tenant.vn(9303)
    tenant.add_numbers(number)
    with _sub(tenant) as sub:
        tenant.add_numbers(number, subaccount=sub.auth_id)  # type: ignore[attr-defined]
        row = tenant.http.get(tenant.base + f"Number/{number}/").json()
        assert row["subaccount"] == sub.auth_id  # type: ignore[attr-defined]


def test_another_tenants_number_is_answered_as_an_invalid_number(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    taken = other_tenant.vn(9304)
    other_tenant.add_numbers(taken)
    for_taken = _error(tenant.http.post(tenant.base + "Number/", json={"numbers": taken}))
    invalid = "+1220000"
    for_invalid = _error(tenant.http.post(tenant.base + "Number/", json={"numbers": invalid}))
    assert for_taken.replace(taken, "N") == for_invalid.replace(invalid, "N")
    assert "in use" not in for_taken


# -- one outbound-URL guard, at the API ----------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[64:ff9b::a00:1]/hook",
        "http://[fec0::1]/hook",
        "http://localhost:8080/hook",
        "http://api.localhost/hook",
    ],
)
def test_a_callback_url_to_a_private_target_is_a_400(tenant: Tenant, vn: str, url: str) -> None:
    r = tenant.create(first_party=us(51), second_party=us(52), callback_url=url)
    assert _error(r).startswith("Invalid parameter. callback_url must point at a public address")


@pytest.mark.parametrize(
    "url",
    [
        "http://0177.0.0.1/hook",
        "http://2130706433/hook",
        "http://127.1/hook",
        "http://0x7f.0.0.1/hook",
        "http://example.com\x00.evil/hook",
        "http://%31%32%37.0.0.1/hook",
        "http://example.com\\@10.0.0.1/hook",
    ],
)
def test_ambiguous_urls_are_a_400_whatever_the_operator_allows(
    tenant: Tenant, vn: str, url: str
) -> None:
    r = tenant.create(first_party=us(53), second_party=us(54), recording_callback_url=url)
    assert _error(r).startswith("Invalid parameter. recording_callback_url must ")


def test_a_play_url_to_a_private_target_is_a_400_on_update(tenant: Tenant, session: dict) -> None:
    path = tenant.base + f"Masking/Session/{session['session_uuid']}/"
    r = tenant.http.post(path, json={"first_party_play_url": "http://192.168.1.1/a.mp3"})
    assert "first_party_play_url must point at a public address" in _error(r)


def test_an_answer_url_to_a_private_target_is_a_400(tenant: Tenant) -> None:
    r = tenant.http.post(
        tenant.base + "Number/",
        json={"numbers": tenant.vn(9401), "answer_url": "http://[::ffff:127.0.0.1]:80/app"},
    )
    assert "answer_url must point at a public address" in _error(r)


def test_a_public_callback_url_is_accepted(tenant: Tenant, vn: str) -> None:
    r = tenant.create(first_party=us(55), second_party=us(56), callback_url="http://8.8.8.8/h")
    assert r.status_code == 201, r.text


def test_private_targets_are_accepted_when_the_operator_allows_them(
    module_db_url: str, tmp_path
) -> None:
    from tests.conftest import make_tenant

    with LiveService(
        module_db_url, tmp_path, allow_private_callbacks=True, prompts_allow_private=True
    ) as live:
        t = make_tenant(live)
        t.add_numbers(t.vn(9501))
        r = t.create(
            first_party=us(57),
            second_party=us(58),
            callback_url="http://127.0.0.1:9/hook",
            first_party_play_url="http://10.0.0.1/a.mp3",
        )
        assert r.status_code == 201, r.text
        t.http.close()


# -- the rest ------------------------------------------------------------------------


def test_options_answers_405_naming_every_method_of_the_path(tenant: Tenant) -> None:
    r = tenant.http.request("OPTIONS", tenant.base + "Masking/Session/")
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    one = tenant.http.request("PUT", tenant.base + "Masking/Session/abc/")
    assert set(one.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST", "DELETE"}


def test_refusals_are_counted_by_status(tenant: Tenant) -> None:
    before = badinput.COUNTS.snapshot().get("http_400", 0)
    tenant.create(first_party="nope", second_party=us(61))
    assert badinput.COUNTS.snapshot()["http_400"] == before + 1


def test_metrics_still_answer(service: LiveService) -> None:
    r = httpx.get(service.url + "/metrics")
    assert r.status_code == 200 and "vts_events_delivered_total" in r.text
