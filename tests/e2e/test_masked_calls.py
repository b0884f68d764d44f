"""End to end through the whole service: sessions over HTTP, calls over SIP with SIPp.

The service runs with its SIP edge on loopback; a SIPp caller plays a party dialling the
virtual number, a SIPp callee plays the operator's trunk. What the callee received, the
Call records, the session's interaction and the events in the outbox are all checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Tenant
from tests.e2e.conftest import (
    SCENARIOS,
    Sipp,
    SippResult,
    ok,
    requires_sipp,
    running_edge,
    wait_for,
)

pytestmark = [pytest.mark.sipp, requires_sipp, pytest.mark.timeout(90)]

A = "+14155550101"  # first party
B = "+12125550102"  # second party
STRANGER = "+13125550199"


@pytest.fixture
def edge(db_url: str, tmp_path: Path) -> Iterator[tuple[Tenant, int, int]]:
    """The whole service on each store (SQLite, PostgreSQL) with its SIP edge up."""
    with running_edge(db_url, tmp_path) as e:
        yield e.t, e.sip_port, e.trunk_port


def scenario(tmp_path: Path, name: str, caller: str, out: str, status: str = "") -> str:
    """One of the SIPp scenarios with the caller's number swapped for ``caller``."""
    text = (SCENARIOS / name).read_text().replace("+14445556666", caller)
    text = text.replace("@STATUS@", status)
    path = tmp_path / out
    path.write_text(text)
    return str(path)


async def call(
    tmp_path: Path,
    sip_port: int,
    trunk_port: int,
    *,
    caller: str,
    dialled: str,
    caller_scenario: str = "caller_bye.xml",
    callee_scenario: str | None = None,
    callee_subs: dict[str, str] | None = None,
    callee_runs: bool = True,
    expect: str = "",
) -> tuple[SippResult, SippResult | None]:
    callee = Sipp(
        tmp_path,
        "callee",
        port=trunk_port,
        scenario=callee_scenario,
        builtin=None if callee_scenario else "uas",
        subs=callee_subs,
    )
    if callee_runs:
        await callee.start()
    phone = Sipp(
        tmp_path,
        "caller",
        scenario=scenario(tmp_path, caller_scenario, caller, "caller.xml", expect),
        remote=("127.0.0.1", sip_port),
        service=dialled,
    )
    await phone.start()
    caller_result = await phone.finish()
    callee_result = await callee.finish() if callee_runs else None
    return caller_result, callee_result


def session_view(t: Tenant, uuid: str) -> dict:
    return t.http.get(t.base + f"Masking/Session/{uuid}/").json()["response"]


def event_names(t: Tenant, uuid: str) -> list[str]:
    r = t.http.get(t.base + f"Masking/Session/{uuid}/Event/")
    return [e["event_name"] for e in r.json()["response"]["objects"]]


@pytest.mark.asyncio
async def test_first_party_reaches_second_party_who_sees_only_the_virtual_number(
    edge, tmp_path
) -> None:
    t, sip_port, trunk_port = edge
    s = t.session(first_party=A, second_party=B, callback_url="https://example.com/cb")
    caller, callee = await call(tmp_path, sip_port, trunk_port, caller=A, dialled=t.vn(1))
    ok(caller)
    ok(callee)
    seen = callee.received()
    assert f"sip:{t.vn(1)}@" in seen.split("From:")[1].split("\n")[0]
    assert f"INVITE sip:{B}@" in seen
    for secret in (A, "Alice", "Secret", "alicesecret", "callertag", "SecretPhone", "secret-proxy"):
        assert secret not in seen, secret
    view = wait_for(
        lambda: (
            (v := session_view(t, s["session_uuid"]))["interaction"]
            and v["interaction"][0]["end_time"]
            and v
        )
    )
    assert view["status"] == "active"
    assert view["total_call_count"] == 2
    inter = view["interaction"][0]
    assert (
        inter["first_party_status"] == "completed" and inter["second_party_status"] == "completed"
    )
    leg = t.http.get(inter["second_party_resource_url"]).json()
    assert (leg["from_number"], leg["to_number"], leg["call_direction"]) == (t.vn(1), B, "outbound")
    assert leg["hangup_cause_name"] == "NORMAL_CLEARING"
    names = event_names(t, s["session_uuid"])
    for expected in (
        "SessionFirstPartyInitiated",
        "SessionSecondPartyInitiated",
        "SessionSecondPartyRing",
        "SessionSecondPartyRinging",
        "SessionSecondPartyAnswer",
        "SessionVirtualNumberAnswer",
        "SessionFirstPartyAnswer",
        "SessionFirstPartyHangup",
        "SessionFirstPartyComplete",
        "SessionSecondPartyHangup",
        "SessionSecondPartyComplete",
        "SessionPartiesHangup",
    ):
        assert expected in names, (expected, names)
    assert names.index("SessionSecondPartyInitiated") < names.index("SessionSecondPartyAnswer")


@pytest.mark.asyncio
async def test_second_party_reaches_first_party(edge, tmp_path) -> None:
    t, sip_port, trunk_port = edge
    t.session(first_party=A, second_party=B)
    caller, callee = await call(tmp_path, sip_port, trunk_port, caller=B, dialled=t.vn(1))
    ok(caller)
    ok(callee)
    assert f"INVITE sip:{A}@" in callee.received()
    assert B not in callee.received()


@pytest.mark.asyncio
async def test_busy_callee_is_reported_busy_to_the_caller(edge, tmp_path) -> None:
    t, sip_port, trunk_port = edge
    s = t.session(first_party=A, second_party=B)
    caller, callee = await call(
        tmp_path,
        sip_port,
        trunk_port,
        caller=A,
        dialled=t.vn(1),
        caller_scenario="caller_fail.xml",
        callee_scenario="callee_fail.xml",
        callee_subs={"STATUS": "486"},
        expect="486",
    )
    ok(caller)
    ok(callee)
    assert "SIP/2.0 486" in caller.received()
    view = wait_for(
        lambda: (
            (v := session_view(t, s["session_uuid"]))["interaction"]
            and v["interaction"][0]["end_time"]
            and v
        )
    )
    assert view["interaction"][0]["second_party_status"] == "busy"
    assert "SessionSecondPartyFailed" in event_names(t, s["session_uuid"])
    assert "SessionPartiesHangup" not in event_names(t, s["session_uuid"])


@pytest.mark.asyncio
async def test_unknown_caller_is_refused_with_403(edge, tmp_path) -> None:
    t, sip_port, trunk_port = edge
    t.session(first_party=A, second_party=B)
    caller, _ = await call(
        tmp_path,
        sip_port,
        trunk_port,
        caller=STRANGER,
        dialled=t.vn(1),
        caller_scenario="caller_fail.xml",
        callee_runs=False,
        expect="403",
    )
    ok(caller)
    assert "SIP/2.0 403" in caller.received()


@pytest.mark.asyncio
async def test_expired_session_is_not_forwarded(edge, tmp_path) -> None:
    t, sip_port, trunk_port = edge
    s = t.session(first_party=A, second_party=B)
    t.http.delete(t.base + f"Masking/Session/{s['session_uuid']}")
    caller, _ = await call(
        tmp_path,
        sip_port,
        trunk_port,
        caller=A,
        dialled=t.vn(1),
        caller_scenario="caller_fail.xml",
        callee_runs=False,
        expect="480",
    )
    ok(caller)
    assert "SIP/2.0 480" in caller.received()


@pytest.mark.asyncio
async def test_unknown_number_is_404(edge, tmp_path) -> None:
    _t, sip_port, trunk_port = edge
    caller, _ = await call(
        tmp_path,
        sip_port,
        trunk_port,
        caller=A,
        dialled="+12205550000",
        caller_scenario="caller_fail.xml",
        callee_runs=False,
        expect="404",
    )
    ok(caller)
    assert "SIP/2.0 404" in caller.received()


@pytest.mark.asyncio
async def test_initiate_call_to_first_party_calls_both_from_the_virtual_number(
    edge, tmp_path
) -> None:
    t, _sip_port, trunk_port = edge
    trunk = Sipp(tmp_path, "trunk", port=trunk_port, builtin="uas", extra=["-m", "2"])
    await trunk.start()
    await asyncio.sleep(0.3)
    s = t.session(
        first_party=A, second_party=B, initiate_call_to_first_party=True, call_time_limit=2
    )
    result = await trunk.finish(timeout=40)
    ok(result)
    seen = result.received()
    assert f"INVITE sip:{A}@" in seen and f"INVITE sip:{B}@" in seen
    view = wait_for(
        lambda: (
            (v := session_view(t, s["session_uuid"]))["interaction"]
            and v["interaction"][0]["end_time"]
            and v
        )
    )
    assert view["total_call_count"] == 2
    names = event_names(t, s["session_uuid"])
    assert "SessionFirstPartyAnswer" in names and "SessionSecondPartyAnswer" in names


@pytest.mark.asyncio
async def test_session_is_in_progress_while_a_call_is_up_and_time_limit_ends_it(
    edge, tmp_path
) -> None:
    t, sip_port, trunk_port = edge
    s = t.session(first_party=A, second_party=B, call_time_limit=3)
    running = asyncio.create_task(
        call(
            tmp_path,
            sip_port,
            trunk_port,
            caller=A,
            dialled=t.vn(1),
            caller_scenario="caller_wait_bye.xml",
        )
    )
    seen = await asyncio.to_thread(
        wait_for, lambda: session_view(t, s["session_uuid"])["status"] == "in-progress"
    )
    assert seen, "the session never read in-progress during the call"
    listed = t.http.get(t.base + "Masking/Session/", params={"status": "in-progress"}).json()
    assert [o["session_uuid"] for o in listed["response"]["objects"]] == [s["session_uuid"]]
    caller, callee = await running
    ok(caller)
    ok(callee)
    view = await asyncio.to_thread(
        wait_for,
        lambda: (v := session_view(t, s["session_uuid"]))["status"] == "active" and v,
    )
    leg = t.http.get(view["interaction"][0]["first_party_resource_url"]).json()
    assert leg["hangup_cause_name"] == "ALLOTTED_TIMEOUT"
    assert 2 <= leg["call_duration"] <= 5
    assert leg["bill_duration"] == leg["call_duration"]
    assert leg["billed_duration"] == 60
