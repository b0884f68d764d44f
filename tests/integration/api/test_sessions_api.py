"""The masking session endpoints over real HTTP, on SQLite and PostgreSQL (docs/reference.md#masking-sessions)."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant, us


@pytest.fixture
def pool(tenant: Tenant) -> Tenant:
    tenant.add_numbers(tenant.vn(20), tenant.vn(21), tenant.vn(22))
    return tenant


def test_create_returns_201_with_session_and_virtual_number(pool: Tenant) -> None:
    r = pool.create(first_party=us(2345), second_party="+1 216-555-4567")
    assert r.status_code == 201
    body = r.json()
    assert body["message"] == "Session created"
    assert body["api_id"]
    assert body["virtual_number"] in (pool.vn(20), pool.vn(21), pool.vn(22))
    assert body["session"]["session_uuid"] == body["session_uuid"]
    assert body["session"]["second_party"] == "+12165554567"


def test_create_applies_every_default(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    assert s["status"] == "active"
    assert (s["session_expiry"], s["call_time_limit"], s["ring_timeout"]) == (3600, 3600, 120)
    assert s["record"] is False and s["record_file_format"] == "mp3"
    assert s["callback_method"] == "POST" and s["recording_callback_method"] == "POST"
    assert s["geomatch"] is True and s["virtual_number_cooloff_period"] == 0
    assert (s["pin_retry"], s["pin_retry_wait"], s["generate_pin_length"]) == (1, 5, 4)
    assert s["interaction"] is None and s["total_call_count"] == 0
    assert s["duration"] == 3600
    assert s["amount"] == "0.00000"


def test_session_object_carries_every_documented_field(pool: Tenant) -> None:
    fields = [
        "session_uuid",
        "status",
        "first_party",
        "second_party",
        "virtual_number",
        "initiate_call_to_first_party",
        "record",
        "record_file_format",
        "recording_callback_url",
        "recording_callback_method",
        "callback_url",
        "callback_method",
        "session_expiry",
        "call_time_limit",
        "ring_timeout",
        "first_party_play_url",
        "second_party_play_url",
        "geomatch",
        "subaccount",
        "create_session_with_single_party",
        "virtual_number_cooloff_period",
        "is_pin_authentication_required",
        "force_pin_authentication",
        "generate_pin",
        "generate_pin_length",
        "first_party_pin",
        "second_party_pin",
        "pin_prompt_play",
        "pin_retry",
        "pin_retry_wait",
        "incorrect_pin_play",
        "unknown_caller_play",
        "created_time",
        "modified_time",
        "expiry_time",
        "duration",
        "last_interaction_time",
        "amount",
        "total_call_count",
        "total_call_amount",
        "total_call_billed_duration",
        "total_session_amount",
        "interaction",
    ]
    s = pool.session(first_party=us(1), second_party=us(2))
    assert set(fields) <= set(s)


def test_get_returns_the_session_under_response(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    r = pool.http.get(pool.base + f"Masking/Session/{s['session_uuid']}")
    assert r.status_code == 200
    assert r.json()["response"]["session_uuid"] == s["session_uuid"]


def test_every_path_works_with_and_without_trailing_slash(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    for path in (f"Masking/Session/{s['session_uuid']}", f"Masking/Session/{s['session_uuid']}/"):
        r = pool.http.get(pool.base + path)
        assert r.status_code == 200
    assert pool.http.get(pool.base.rstrip("/")).status_code == 200


def test_update_returns_fields_at_top_level_and_under_session(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    r = pool.http.post(
        pool.base + f"Masking/Session/{s['session_uuid']}/",
        json={"call_time_limit": "1800", "record": "TRUE", "session_uuid": "ignored"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "Session updated"
    assert body["call_time_limit"] == 1800 and body["record"] is True
    assert body["session"]["call_time_limit"] == 1800


def test_update_session_expiry_counts_from_the_update(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2), session_expiry=60)
    r = pool.http.post(
        pool.base + f"Masking/Session/{s['session_uuid']}", json={"session_expiry": 7200}
    )
    body = r.json()
    assert body["session_expiry"] == 7200
    assert body["expiry_time"] > s["expiry_time"]


def test_update_party_of_two_party_session_is_refused(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    r = pool.http.post(
        pool.base + f"Masking/Session/{s['session_uuid']}", json={"first_party": us(9)}
    )
    assert r.status_code == 400
    assert "first_party" in r.json()["error"]


def test_update_ignores_non_updatable_keys(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    r = pool.http.post(
        pool.base + f"Masking/Session/{s['session_uuid']}",
        json={"geomatch": False, "create_session_with_single_party": True, "subaccount": None},
    )
    assert r.status_code == 200
    assert r.json()["geomatch"] is True


def test_delete_expires_and_keeps_the_session(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    path = pool.base + f"Masking/Session/{s['session_uuid']}/"
    r = pool.http.request("DELETE", path, json={"session_uuid": s["session_uuid"]})
    assert r.status_code == 200 and r.json()["message"] == "Session expired"
    assert pool.http.get(path).json()["response"]["status"] == "expired"
    again = pool.http.delete(path)
    assert again.status_code == 400
    assert again.json()["error"] == "Session already expired."


def test_update_of_expired_session_is_refused(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    path = pool.base + f"Masking/Session/{s['session_uuid']}"
    pool.http.delete(path)
    r = pool.http.post(path, json={"record": True})
    assert r.status_code == 400 and r.json()["error"] == "Session already expired."


def test_unknown_session_is_404(pool: Tenant) -> None:
    r = pool.http.get(pool.base + "Masking/Session/00000000-0000-0000-0000-000000000000/")
    assert r.status_code == 404
    assert r.json()["error"] == "Session not found."


def test_another_tenants_session_is_404(pool: Tenant, other_tenant: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2))
    r = other_tenant.http.get(other_tenant.base + f"Masking/Session/{s['session_uuid']}")
    assert r.status_code == 404


def test_path_of_another_account_is_forbidden(pool: Tenant, other_tenant: Tenant) -> None:
    r = other_tenant.http.get(pool.base + "Masking/Session/")
    assert r.status_code == 403
    assert "error" in r.json()


def test_form_body_is_accepted(pool: Tenant) -> None:
    r = pool.http.post(
        pool.base + "Masking/Session",
        content=f"first_party={us(1)}&second_party={us(2)}&record=true&ring_timeout=30".replace(
            "+", "%2B"
        ),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["session"]["ring_timeout"] == 30
    assert r.json()["session"]["record"] is True


def test_session_expiry_zero_on_create_means_default(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2), session_expiry=0)
    assert s["session_expiry"] == 3600


def test_unknown_keys_are_ignored(pool: Tenant) -> None:
    s = pool.session(
        first_party=us(1), second_party=us(2), create_session_with_single_Party=False, foo="bar"
    )
    assert "foo" not in s


def test_pins_accepted_as_numbers_or_strings(pool: Tenant) -> None:
    s = pool.session(
        first_party=us(1),
        second_party=us(2),
        is_pin_authentication_required=True,
        first_party_pin=1234,
        second_party_pin="5678",
        pin_prompt_play="http://example.com/p.mp3",
    )
    assert (s["first_party_pin"], s["second_party_pin"]) == ("1234", "5678")


def test_generated_pins_have_the_asked_length_and_differ(pool: Tenant) -> None:
    s = pool.session(
        first_party=us(1),
        second_party=us(2),
        is_pin_authentication_required=True,
        generate_pin=True,
        generate_pin_length=6,
        pin_prompt_play="http://example.com/p.mp3",
    )
    assert len(s["first_party_pin"]) == 6 and len(s["second_party_pin"]) == 6
    assert s["first_party_pin"] != s["second_party_pin"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"first_party": None}, "Mandatory parameter missing. first_party must be present."),
        ({"second_party": None}, "Mandatory parameter missing. second_party must be present."),
        (
            {"first_party": "12", "second_party": us(2)},
            "Invalid parameter. first_party is not a valid phone number.",
        ),
        (
            {"session_expiry": 2592001},
            "Invalid parameter. session_expiry is outside the allowed range.",
        ),
        ({"session_expiry": -1}, "Invalid parameter. session_expiry is outside the allowed range."),
        (
            {"call_time_limit": 14401},
            "Invalid parameter. call_time_limit is outside the allowed range.",
        ),
        (
            {"call_time_limit": 0},
            "Invalid parameter. call_time_limit is outside the allowed range.",
        ),
        ({"ring_timeout": 301}, "Invalid parameter. ring_timeout is outside the allowed range."),
        (
            {"virtual_number_cooloff_period": 3601},
            "Invalid parameter. virtual_number_cooloff_period is outside the allowed range.",
        ),
        ({"pin_retry": 6}, "Invalid parameter. pin_retry is outside the allowed range."),
        ({"pin_retry_wait": 4}, "Invalid parameter. pin_retry_wait is outside the allowed range."),
        (
            {"generate_pin_length": 16},
            "Invalid parameter. generate_pin_length is outside the allowed range.",
        ),
        (
            {"record_file_format": "ogg"},
            "Invalid parameter. record_file_format allowed values are mp3 or wav.",
        ),
        (
            {"callback_method": "PUT"},
            "Invalid parameter. callback_method allowed values are GET or POST.",
        ),
        (
            {"recording_callback_method": "DELETE"},
            "Invalid parameter. recording_callback_method allowed values are GET or POST.",
        ),
        ({"record": "maybe"}, "Invalid parameter. record must be true or false."),
        ({"ring_timeout": "ten"}, "Invalid parameter. ring_timeout must be an integer."),
        (
            {"callback_url": "ftp://example.com/x"},
            "Invalid parameter. callback_url must be a valid http or https URL.",
        ),
        (
            {"callback_url": "https://e.com/" + "a" * 1000},
            "Invalid parameter. callback_url must be shorter than 1000 characters.",
        ),
        (
            {
                "is_pin_authentication_required": True,
                "first_party_pin": "1234",
                "second_party_pin": "5678",
            },
            "Mandatory parameter missing. pin_prompt_play must be present.",
        ),
        (
            {"is_pin_authentication_required": True, "pin_prompt_play": "http://e.com/p"},
            "Mandatory parameter missing. first_party_pin must be present.",
        ),
        ({"first_party_pin": "12"}, "Invalid parameter. first_party_pin must be 4 to 15 digits."),
        (
            {"first_party_pin": "1234", "second_party_pin": "1234"},
            "Invalid parameter. second_party_pin must be different from first_party_pin.",
        ),
    ],
)
def test_bad_parameter_gets_400_with_the_spec_text(pool: Tenant, params: dict, error: str) -> None:
    body = {"first_party": us(1), "second_party": us(2), **params}
    before = pool.http.get(pool.base + "Masking/Session/").json()["response"]["meta"]["total_count"]
    r = pool.create(**body)
    assert r.status_code == 400
    assert r.json()["error"] == error
    assert r.json()["api_id"]
    after = pool.http.get(pool.base + "Masking/Session/").json()["response"]["meta"]["total_count"]
    assert after == before


def test_same_party_twice_is_refused(pool: Tenant) -> None:
    r = pool.create(first_party=us(1), second_party=us(1))
    assert r.status_code == 400


def test_malformed_json_is_400(pool: Tenant) -> None:
    r = pool.http.post(
        pool.base + "Masking/Session/",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"] == "Invalid JSON body."


def test_json_that_is_not_an_object_is_400(pool: Tenant) -> None:
    r = pool.http.post(pool.base + "Masking/Session/", json=[1, 2])
    assert r.status_code == 400


def test_wrong_method_is_405_in_the_error_shape(pool: Tenant) -> None:
    r = pool.http.put(pool.base + "Masking/Session/")
    assert r.status_code == 405
    assert r.json()["error"] == "Method not allowed."


def test_bad_credentials_are_401(pool: Tenant) -> None:
    r = pool.http.get(pool.base + "Masking/Session/", auth=(pool.auth_id, "wrong"))
    assert r.status_code == 401
    assert r.json()["error"] == "Authentication failed."
    assert pool.http.get(pool.base, auth=None, headers={"authorization": ""}).status_code == 401


def test_missing_credentials_are_401(pool: Tenant) -> None:
    import httpx

    r = httpx.get(pool.live.url + pool.base + "Masking/Session/")
    assert r.status_code == 401


def test_openapi_and_docs_are_served(pool: Tenant) -> None:
    import httpx

    spec = httpx.get(pool.live.url + "/openapi.json").json()
    assert "/v1/Account/{auth_id}/Masking/Session" in spec["paths"]
    assert httpx.get(pool.live.url + "/docs").status_code == 200


def test_calls_and_recordings_answer_404_for_unknown_ids(pool: Tenant) -> None:
    assert pool.http.get(pool.base + "Call/nope/").status_code == 404
    assert pool.http.get(pool.base + "Recording/nope/").status_code == 404
    r = pool.http.get(pool.base + "Recording/")
    assert r.status_code == 200 and r.json()["objects"] == []


def test_session_created_event_is_in_the_outbox(pool: Tenant) -> None:
    s = pool.session(first_party=us(1), second_party=us(2), callback_url="https://example.com/cb")
    r = pool.http.get(pool.base + f"Masking/Session/{s['session_uuid']}/Event/")
    events = r.json()["response"]["objects"]
    assert [e["event_name"] for e in events] == ["SessionCreated"]
    assert events[0]["params"]["SessionUUID"] == s["session_uuid"]
    assert events[0]["params"]["SequenceNumber"] == "1"
    assert events[0]["url"] == "https://example.com/cb"
