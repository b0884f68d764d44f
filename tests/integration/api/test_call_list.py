"""``GET .../Call/``: call legs listed with the family's filters and list shape, its live
and queued views, and the call-control methods the service does not offer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from tests.conftest import Tenant, make_tenant, us
from tests.support.calls import LoggedCall, log_call
from tests.support.live import LiveService

T0 = datetime(2026, 5, 6, 7, 0, 0, 500000)


@pytest.fixture(scope="module")
def calls(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Tenant, dict, dict, list[LoggedCall]]]:
    """Two sessions: three finished calls (the second one busy) and one still up."""
    with LiveService(module_db_url, tmp_path_factory.mktemp("data")) as live:
        t = make_tenant(live)
        t.add_numbers(t.vn(0), t.vn(1))
        one = t.session(first_party=us(11), second_party=us(12))
        two = t.session(first_party=us(13), second_party=us(14))
        made = [
            log_call(live, one, start=T0, talk=61),
            log_call(live, one, start=T0 + timedelta(minutes=1), caller="second", answered=False),
            log_call(live, two, start=T0 + timedelta(minutes=2), talk=5),
            log_call(live, two, start=T0 + timedelta(minutes=3), hang_up=False),
        ]
        yield t, one, two, made
        t.http.close()


def listed(t: Tenant, **params: object) -> dict:
    r = t.http.get(t.base + "Call/", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def uuids(t: Tenant, **params: object) -> list[str]:
    return [o["call_uuid"] for o in listed(t, **params)["objects"]]


def test_the_list_is_top_level_newest_first(calls) -> None:
    t, _, _, made = calls
    body = listed(t)
    assert set(body) == {"api_id", "meta", "objects"}
    assert body["meta"]["total_count"] == 8
    assert uuids(t)[:2] == [made[3].callee_leg, made[3].caller_leg]


def test_a_leg_reads_in_the_family_s_record_shape(calls) -> None:
    t, one, _, made = calls
    leg = next(o for o in listed(t)["objects"] if o["call_uuid"] == made[0].callee_leg)
    assert leg["session_uuid"] == one["session_uuid"]
    assert leg["parent_call_uuid"] == made[0].caller_leg
    assert (leg["call_direction"], leg["from_number"], leg["to_number"]) == (
        "outbound",
        one["virtual_number"],
        us(12),
    )
    assert leg["call_status"] == "completed"
    assert (leg["call_duration"], leg["bill_duration"], leg["billed_duration"]) == (61, 61, 120)
    assert (leg["total_amount"], leg["total_rate"]) == ("0.02000", "0.01000")
    assert leg["resource_uri"] == f"{t.base}Call/{made[0].callee_leg}/"
    assert t.http.get(leg["resource_uri"]).json()["call_uuid"] == made[0].callee_leg


def test_filter_by_session(calls) -> None:
    t, _, two, made = calls
    expected = {made[2].caller_leg, made[2].callee_leg, made[3].caller_leg, made[3].callee_leg}
    assert set(uuids(t, session_uuid=two["session_uuid"])) == expected


def test_filter_by_direction(calls) -> None:
    t, _, _, made = calls
    assert set(uuids(t, call_direction="inbound")) == {m.caller_leg for m in made}


def test_filter_by_status(calls) -> None:
    t, _, _, made = calls
    assert uuids(t, status="busy") == [made[1].callee_leg]


def test_filter_by_from_or_to_number_or_its_prefix(calls) -> None:
    t, _, _, made = calls
    assert uuids(t, from_number=us(13)) == [made[3].caller_leg, made[2].caller_leg]
    assert uuids(t, to_number="1 415-555-0012") == [made[0].callee_leg]
    assert len(uuids(t, to_number="1415555001")) == 4  # us(12), us(11) (twice), us(14)


def test_filter_by_billed_seconds(calls) -> None:
    t, _, _, made = calls
    assert set(uuids(t, bill_duration__gt=60)) == {made[0].caller_leg, made[0].callee_leg}
    assert uuids(t, bill_duration=5, call_direction="outbound") == [made[2].callee_leg]


def test_filter_by_hangup_cause_code(calls) -> None:
    t, _, _, made = calls
    assert uuids(t, hangup_cause_code=17) == [made[1].callee_leg]


def test_the_b_legs_of_an_a_leg(calls) -> None:
    t, _, _, made = calls
    assert uuids(t, parent_call_uuid=made[0].caller_leg) == [made[0].callee_leg]
    assert uuids(t, parent_call_uuid=made[0].callee_leg) == []


def test_pagination_keeps_the_filters(calls) -> None:
    t, _, _, _ = calls
    page = listed(t, call_direction="outbound", limit=3)
    assert page["meta"]["total_count"] == 4 and len(page["objects"]) == 3
    assert "call_direction=outbound" in page["meta"]["next"]
    rest = t.http.get(page["meta"]["next"]).json()
    assert len(rest["objects"]) == 1 and rest["meta"]["next"] is None


def test_live_view_lists_the_legs_still_up(calls) -> None:
    t, _, _, made = calls
    body = listed(t, status="live")
    assert set(body) == {"api_id", "calls"}
    assert set(body["calls"]) == {made[3].caller_leg, made[3].callee_leg}


def test_a_live_leg_reads_in_the_family_s_live_shape(calls) -> None:
    t, _, _, made = calls
    r = t.http.get(t.base + f"Call/{made[3].caller_leg}/", params={"status": "live"})
    live = r.json()
    assert (live["call_uuid"], live["call_status"], live["direction"]) == (
        made[3].caller_leg,
        "in-progress",
        "inbound",
    )
    assert live["from"] == us(13) and live["session_start"] == "2026-05-06 07:03:00"


def test_an_ended_leg_is_not_live(calls) -> None:
    t, _, _, made = calls
    r = t.http.get(t.base + f"Call/{made[0].caller_leg}/", params={"status": "live"})
    assert r.status_code == 404 and r.json()["error"] == "Call not found."


def test_nothing_is_ever_queued(calls) -> None:
    t, _, _, made = calls
    assert listed(t, status="queued")["calls"] == []
    r = t.http.get(t.base + f"Call/{made[3].caller_leg}/", params={"status": "queued"})
    assert r.status_code == 404


def test_another_tenant_sees_none_of_the_calls(calls) -> None:
    t, _, _, made = calls
    other = make_tenant(t.live)
    try:
        assert other.http.get(other.base + "Call/").json()["meta"]["total_count"] == 0
        by_session = {"session_uuid": calls[1]["session_uuid"]}
        listed_by_session = other.http.get(other.base + "Call/", params=by_session).json()
        assert listed_by_session["meta"]["total_count"] == 0
        by_parent = {"parent_call_uuid": made[0].caller_leg}
        assert other.http.get(other.base + "Call/", params=by_parent).json()["objects"] == []
        assert other.http.get(other.base + f"Call/{made[0].caller_leg}/").status_code == 404
    finally:
        other.http.close()


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"call_direction": "sideways"}, "call_direction allowed values are inbound or outbound"),
        ({"status": "dropped"}, "status allowed values are live or queued or ringing"),
        ({"from_number": "caller"}, "from_number must be a phone number or the first digits"),
        ({"bill_duration__gt": "long"}, "bill_duration__gt must be an integer"),
        ({"limit": 21}, "limit is outside the allowed range"),
        ({"hangup_source": "Caller"}, "hangup_source is not kept by this service"),
        # past the 32-bit columns they compare with (PostgreSQL would fail the query)
        ({"bill_duration__gt": 2**31}, "bill_duration__gt is outside the allowed range"),
        ({"hangup_cause_code": 2**31}, "hangup_cause_code is outside the allowed range"),
    ],
)
def test_bad_filters_are_400(calls, params: dict, error: str) -> None:
    t = calls[0]
    r = t.http.get(t.base + "Call/", params=params)
    assert r.status_code == 400 and error in r.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "Call/"),
        ("POST", "Call/{uuid}/"),
        ("DELETE", "Call/{uuid}/"),
        ("POST", "Call/{uuid}/Play/"),
        ("DELETE", "Call/{uuid}/Stream/abc/"),
        ("DELETE", "Request/{uuid}/"),
    ],
)
def test_call_control_is_refused_with_a_reason(calls, method: str, path: str) -> None:
    t, _, _, made = calls
    r = t.http.request(method, t.base + path.format(uuid=made[3].caller_leg), json={})
    assert r.status_code == 405
    assert r.json()["error"].startswith("Calls are placed by masking sessions")
    served = {"Call/": "GET", "Call/{uuid}/": "GET"}.get(path, "")
    assert r.headers["Allow"] == served


def test_a_method_no_route_serves_names_only_the_served_ones_in_allow(calls) -> None:
    t, _, _, made = calls
    r = t.http.put(t.base + f"Call/{made[0].caller_leg}/", json={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


def test_call_control_still_needs_credentials(calls) -> None:
    t = calls[0]
    r = httpx.post(t.live.url + t.base + "Call/", json={})
    assert r.status_code == 401
