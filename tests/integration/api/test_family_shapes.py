"""What each resource answers, in the shapes the family's official SDKs read (their own
test fixtures): only masking sessions wrap in ``response``; the account, subaccounts,
numbers, calls and recordings answer top-level objects and ``{api_id, meta, objects}``
lists; every URL the API returns is absolute."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import Tenant, make_tenant, us
from tests.support.calls import LoggedCall, log_call
from tests.support.live import LiveService

LIST_KEYS = {"api_id", "meta", "objects"}
META_KEYS = {"limit", "offset", "next", "previous", "total_count"}


def test_the_account_is_a_top_level_object(tenant: Tenant) -> None:
    body = tenant.http.get(tenant.base).json()
    assert "response" not in body
    assert body["auth_id"] == tenant.auth_id and body["account_type"] == "main"
    assert body["resource_uri"] == tenant.base
    assert body["timezone"] == "UTC"


def test_the_account_update_sets_name_city_and_address(tenant: Tenant) -> None:
    r = tenant.http.post(tenant.base, json={"name": "Acme", "city": "Lyon", "address": "1 rue"})
    assert r.status_code == 200 and r.json()["message"] == "Account updated"
    got = tenant.http.get(tenant.base).json()
    assert (got["name"], got["city"], got["address"]) == ("Acme", "Lyon", "1 rue")
    # null means "not given": a partial update keeps the rest
    tenant.http.post(tenant.base, json={"name": None, "city": "Paris", "address": None})
    assert tenant.http.get(tenant.base).json()["address"] == "1 rue"


def test_a_subaccount_updates_its_own_account_not_its_main(tenant: Tenant) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "north"}).json()
    base = f"/v1/Account/{sub['auth_id']}/"
    with httpx.Client(base_url=tenant.live.url, auth=(sub["auth_id"], sub["auth_token"])) as c:
        assert c.post(base, json={"city": "Oslo"}).json()["city"] == "Oslo"
        me = c.get(base).json()
        assert me["account_type"] == "subaccount" and me["parent_auth_id"] == tenant.auth_id
    assert tenant.http.get(tenant.base).json()["city"] is None
    assert tenant.http.post(base, json={"city": "Rome"}).status_code == 403


def test_subaccounts_read_in_the_family_shape(tenant: Tenant) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "north"}).json()
    listed = tenant.http.get(tenant.base + "Subaccount/").json()
    assert set(listed) == LIST_KEYS and set(listed["meta"]) == META_KEYS
    got = tenant.http.get(tenant.base + f"Subaccount/{sub['auth_id']}/").json()
    assert got == {**listed["objects"][0], "api_id": got["api_id"]}
    assert got["account"] == tenant.base
    assert got["resource_uri"] == f"{tenant.base}Subaccount/{sub['auth_id']}/"
    assert got["created"] == got["created_time"][:10]
    assert "auth_token" not in got  # shown once, when it is made
    updated = tenant.http.post(got["resource_uri"], json={"name": "south"}).json()
    assert updated["message"] == "Subaccount updated" and updated["name"] == "south"


def test_deleting_a_subaccount_with_cascade_takes_its_numbers_out(tenant: Tenant) -> None:
    keep = tenant.http.post(tenant.base + "Subaccount/", json={"name": "keep"}).json()
    drop = tenant.http.post(tenant.base + "Subaccount/", json={"name": "drop"}).json()
    tenant.add_numbers(tenant.vn(0), subaccount=keep["auth_id"])
    tenant.add_numbers(tenant.vn(1), subaccount=drop["auth_id"])
    assert tenant.http.delete(tenant.base + f"Subaccount/{keep['auth_id']}/").status_code == 200
    path = tenant.base + f"Subaccount/{drop['auth_id']}/"
    assert tenant.http.request("DELETE", path, json={"cascade": True}).status_code == 200
    numbers = {o["number"] for o in tenant.http.get(tenant.base + "Number/").json()["objects"]}
    assert numbers == {tenant.vn(0)}  # back in the main pool; vn(1) left with its owner


def test_a_number_reads_in_the_family_shape(tenant: Tenant) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "x"}).json()
    tenant.add_numbers(tenant.vn(0), subaccount=sub["auth_id"])
    got = tenant.http.get(tenant.base + f"Number/{tenant.vn(0)}/").json()
    assert "response" not in got
    assert got["sub_account"] == got["subaccount"] == sub["auth_id"]
    assert got["active"] is True and got["voice_enabled"] is True and got["sms_enabled"] is False
    assert got["number_type"] == "local"
    assert got["added_on"] == got["added_time"][:10]
    assert got["resource_uri"] == f"{tenant.base}Number/{tenant.vn(0)}/"
    listed = tenant.http.get(tenant.base + "Number/").json()
    assert set(listed) == LIST_KEYS
    assert listed["objects"] == [{k: v for k, v in got.items() if k != "api_id"}]


def test_a_number_update_answers_the_number(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    r = tenant.http.post(tenant.base + f"Number/{tenant.vn(0)}/", json={"alias": "desk"})
    body = r.json()
    assert body["message"] == "Number updated" and body["alias"] == "desk"
    assert body["number"] == tenant.vn(0)


def test_number_startswith_is_a_prefix_with_or_without_plus(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0), "+44 20 7183 8770")
    for prefix in ("44", "+4420"):
        got = tenant.http.get(tenant.base + "Number/", params={"number_startswith": prefix})
        assert [o["number"] for o in got.json()["objects"]] == ["+442071838770"]
    bad = tenant.http.get(tenant.base + "Number/", params={"number_startswith": "4x"})
    assert bad.status_code == 400


@pytest.fixture
def recorded(tenant: Tenant, tmp_path) -> tuple[Tenant, dict, LoggedCall]:
    tenant.add_numbers(tenant.vn(0))
    session = tenant.session(first_party=us(1), second_party=us(2), record=True)
    media = tmp_path / "call.wav"
    media.write_bytes(b"RIFF" + bytes(range(200)))
    call = log_call(tenant.live, session, start=datetime(2026, 2, 3, 4, 5, 6), talk=61, media=media)
    return tenant, session, call


def test_a_recording_reads_in_the_family_shape_with_absolute_urls(recorded) -> None:
    t, session, call = recorded
    listed = t.http.get(t.base + "Recording/").json()
    assert set(listed) == LIST_KEYS
    rec = t.http.get(t.base + f"Recording/{call.recording}/").json()
    base = t.live.url + t.base
    assert rec["recording_resource_url"] == f"{base}Recording/{call.recording}/"
    assert rec["recording_url"] == f"{base}Recording/{call.recording}/Media/"
    assert rec["resource_uri"] == f"{t.base}Recording/{call.recording}/"
    assert (rec["session_uuid"], rec["call_uuid"]) == (session["session_uuid"], call.caller_leg)
    assert (rec["from_number"], rec["to_number"]) == (us(1), session["virtual_number"])
    assert rec["add_time"] == "2026-02-03 04:05:09"
    assert rec["recording_start_ms"] == 1770091509000
    assert rec["recording_end_ms"] - rec["recording_start_ms"] == rec["recording_duration_ms"]
    assert rec["rounded_recording_duration"] == 120
    assert t.http.get(rec["recording_url"]).content == b"RIFF" + bytes(range(200))


def test_a_session_s_interaction_links_are_absolute_and_resolve(recorded) -> None:
    t, session, call = recorded
    view = t.http.get(t.base + f"Masking/Session/{session['session_uuid']}/").json()["response"]
    inter = view["interaction"][0]
    base = t.live.url + t.base
    assert inter["first_party_resource_url"] == f"{base}Call/{call.caller_leg}/"
    assert inter["second_party_resource_url"] == f"{base}Call/{call.callee_leg}/"
    assert inter["recording_resource_url"] == f"{base}Recording/{call.recording}/"
    assert t.http.get(inter["second_party_resource_url"]).json()["call_uuid"] == call.callee_leg


def test_the_public_url_is_used_when_configured(db_url: str, tmp_path) -> None:
    with LiveService(db_url, tmp_path, public_url="https://masking.example.com/") as live:
        t = make_tenant(live)
        t.add_numbers(t.vn(0))
        session = t.session(first_party=us(1), second_party=us(2))
        media = tmp_path / "call.mp3"
        media.write_bytes(b"ID3")
        call = log_call(live, session, start=datetime(2026, 2, 3, 4, 5, 6), media=media)
        rec = t.http.get(t.base + f"Recording/{call.recording}/").json()
        assert rec["recording_url"].startswith(f"https://masking.example.com{t.base}Recording/")
        view = t.http.get(t.base + f"Masking/Session/{session['session_uuid']}/").json()
        assert view["response"]["interaction"][0]["first_party_resource_url"].startswith(
            "https://masking.example.com/v1/"
        )
        t.http.close()


def test_the_event_log_names_its_session(recorded) -> None:
    t, session, _ = recorded
    r = t.http.get(t.base + f"Masking/Session/{session['session_uuid']}/Event/")
    events = r.json()["response"]["objects"]
    assert events and {e["session_uuid"] for e in events} == {session["session_uuid"]}


def test_numbers_filter_by_the_family_s_type(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0), "+1 800 555 0199")
    for kind, expected in (("tollfree", ["+18005550199"]), ("local", [tenant.vn(0)])):
        got = tenant.http.get(tenant.base + "Number/", params={"type": kind}).json()
        assert [o["number"] for o in got["objects"]] == expected
        assert {o["number_type"] for o in got["objects"]} == {kind}


@pytest.mark.parametrize(("services", "found"), [("voice", 1), ("sms", 0), ("voice,mms", 0)])
def test_numbers_carry_voice_only(tenant: Tenant, services: str, found: int) -> None:
    tenant.add_numbers(tenant.vn(0))
    got = tenant.http.get(tenant.base + "Number/", params={"services": services}).json()
    assert got["meta"]["total_count"] == len(got["objects"]) == found


@pytest.mark.parametrize(
    ("resource", "name"),
    [
        ("Number/", "renewal_date__lt"),
        ("Number/", "tendlc_campaign_id"),
        ("Recording/", "conference_name"),
        ("Recording/", "mpc_uuid"),
        ("Call/", "hangup_source"),
    ],
)
def test_a_filter_on_what_is_not_kept_is_refused(tenant: Tenant, resource: str, name: str) -> None:
    r = tenant.http.get(tenant.base + resource, params={name: "x"})
    assert r.status_code == 400
    assert r.json()["error"] == f"Invalid parameter. {name} is not kept by this service."


def test_recordings_by_days_kept(recorded) -> None:
    t, _, call = recorded  # recorded on 2026-02-03; the service's clock reads today
    rec = t.http.get(t.base + f"Recording/{call.recording}/").json()
    days = rec["recording_storage_duration"]
    assert days == (datetime.now(UTC).replace(tzinfo=None) - datetime(2026, 2, 3, 4, 5, 9)).days
    for params, found in (
        ({"recording_storage_duration": days}, 1),
        ({"recording_storage_duration__gte": days}, 1),
        ({"recording_storage_duration__gt": days}, 0),
        ({"recording_storage_duration__lt": days}, 0),
        ({"recording_storage_duration__lte": days + 1}, 1),
    ):
        got = t.http.get(t.base + "Recording/", params=params).json()
        assert got["meta"]["total_count"] == found, params


@pytest.mark.parametrize(
    ("resource", "name", "value"),
    [
        ("Masking/Session/", "duration__gt", 2**31),
        ("Recording/", "recording_storage_duration__gt", 10**6),  # no such date
        ("Recording/", "recording_storage_duration", -1),
    ],
)
def test_an_integer_filter_past_its_range_is_400(
    tenant: Tenant, resource: str, name: str, value: int
) -> None:
    r = tenant.http.get(tenant.base + resource, params={name: value})
    assert r.status_code == 400
    assert r.json()["error"] == f"Invalid parameter. {name} is outside the allowed range."
