"""End to end: real SIPp phones on loopback calling through the masking B2BUA.

The caller SIPp dials the virtual number V; a dict router bridges V to the callee SIPp at
the "trunk" with caller ID V. The callee's own message log proves what crossed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import Sipp, SippResult, requires_sipp
from vts_masking.calls.b2bua import B2BUA, Bridge, Call, InboundCall, Leg, Reject

pytestmark = [pytest.mark.sipp, requires_sipp, pytest.mark.timeout(60)]

V = "+15550001"
CALLEE = "+15550002"
CALLER = "+14445556666"


class Recorder:
    """CallObserver that keeps (event, side, cause, by) tuples."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None, str | None]] = []
        self.ended: list[Call] = []

    def _add(self, name: str, leg: Leg) -> None:
        self.events.append((name, leg.side, leg.hangup_cause, leg.hangup_by))

    def on_leg_initiated(self, call: Call, leg: Leg, at: datetime) -> None:
        self._add("initiated", leg)

    def on_leg_ringing(self, call: Call, leg: Leg, at: datetime) -> None:
        self._add("ringing", leg)

    def on_leg_answered(self, call: Call, leg: Leg, at: datetime) -> None:
        self._add("answered", leg)

    def on_leg_failed(self, call: Call, leg: Leg, at: datetime) -> None:
        self._add("failed", leg)

    def on_leg_ended(self, call: Call, leg: Leg, at: datetime) -> None:
        self._add("ended", leg)

    def on_call_ended(self, call: Call, at: datetime) -> None:
        self.ended.append(call)

    def of(self, name: str) -> list[tuple[str, str | None, str | None]]:
        return [(side, cause, by) for n, side, cause, by in self.events if n == name]


async def run_call(
    tmp_path: Path,
    caller: str,
    callee: str | None,
    *,
    service: str = V,
    caller_subs: dict[str, str] | None = None,
    callee_subs: dict[str, str] | None = None,
    ring_timeout: float | None = None,
    call_time_limit: float | None = None,
    callee_builtin: str = "uas",
) -> tuple[SippResult, SippResult | None, Recorder, list[InboundCall]]:
    recorder = Recorder()
    routed: list[InboundCall] = []
    callee_sipp = Sipp(
        tmp_path, "callee", scenario=callee, builtin=callee_builtin, subs=callee_subs
    )
    routes = {
        V: Bridge(
            number=CALLEE,
            caller_id=V,
            ring_timeout=ring_timeout,
            call_time_limit=call_time_limit,
            context="session-1",
        )
    }

    async def router(call: InboundCall) -> Bridge | Reject:
        routed.append(call)
        return routes.get(call.to_user or "", Reject(404))

    b2bua = B2BUA(
        router,
        trunk=("127.0.0.1", callee_sipp.port),
        listen=("127.0.0.1", 0),
        observer=recorder,
    )
    await b2bua.start()
    try:
        callee_result = None
        if service in routes:
            await callee_sipp.start()
        caller_sipp = Sipp(
            tmp_path,
            "caller",
            scenario=caller,
            remote=("127.0.0.1", b2bua.transport.port),
            service=service,
            subs=caller_subs,
        )
        await caller_sipp.start()
        caller_result = await caller_sipp.finish()
        if service in routes:
            callee_result = await callee_sipp.finish()
        # Let the B2BUA finish any last exchange (e.g. the BYE answer) before checking.
        for _ in range(100):
            if not b2bua.calls:
                break
            await asyncio.sleep(0.05)
    finally:
        await b2bua.stop()
    return caller_result, callee_result, recorder, routed


def ok(result: SippResult | None) -> None:
    assert result is not None
    assert result.returncode == 0, result.output + result.messages[-4000:]


@pytest.mark.asyncio
async def test_masked_call_callee_sees_only_the_virtual_number(tmp_path):
    caller, callee, rec, routed = await run_call(tmp_path, "caller_bye.xml", None)
    ok(caller)
    ok(callee)
    assert routed[0].from_user == CALLER and routed[0].to_user == V
    seen = callee.received()
    assert f"From: <sip:{V}@" in seen
    for secret in (
        CALLER,
        "Alice",
        "Secret",
        routed[0].call_id,
        "callertag",  # caller's From tag
        "-inv",  # caller's Via branch
        f":{caller.messages and routed[0].source[1]}",  # caller's port (Via, Contact)
        "P-Asserted-Identity",
        "Remote-Party-ID",
        "User-Agent",
        "SecretPhone",
        "Record-Route",
        "secret-proxy",
        "alicesecret",  # SDP o= username
        "53655765",  # SDP o= session id
    ):
        assert secret not in seen, secret
    # And the other way: nothing of the callee's origin line reaches the caller.
    assert "user1" not in caller.received()
    assert rec.of("answered") == [("b", None, None), ("a", None, None)]
    assert sorted(rec.of("ended")) == [("a", "NORMAL_CLEARING", "a"), ("b", "NORMAL_CLEARING", "a")]
    assert rec.ended and rec.ended[0].context == "session-1"


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "cause"), [("486", "USER_BUSY"), ("603", "CALL_REJECTED")])
async def test_callee_failure_is_mapped_to_the_caller(tmp_path, status, cause):
    caller, callee, rec, _ = await run_call(
        tmp_path,
        "caller_fail.xml",
        "callee_fail.xml",
        caller_subs={"STATUS": status},
        callee_subs={"STATUS": status},
    )
    ok(caller)
    ok(callee)
    assert ("b", cause, None) in rec.of("failed")
    assert rec.ended


@pytest.mark.asyncio
async def test_caller_cancel_while_ringing_cancels_the_callee(tmp_path):
    caller, callee, rec, _ = await run_call(tmp_path, "caller_cancel.xml", "callee_ring.xml")
    ok(caller)
    ok(callee)
    assert ("a", "ORIGINATOR_CANCEL", "a") in rec.of("failed")
    assert ("b", "ORIGINATOR_CANCEL", "a") in rec.of("failed")


@pytest.mark.asyncio
async def test_ring_timeout_cancels_the_callee_and_releases_the_caller(tmp_path):
    caller, callee, rec, _ = await run_call(
        tmp_path,
        "caller_fail.xml",
        "callee_ring.xml",
        caller_subs={"STATUS": "480"},
        ring_timeout=1.0,
    )
    ok(caller)
    ok(callee)
    assert ("b", "NO_ANSWER", None) in rec.of("failed")


@pytest.mark.asyncio
async def test_call_time_limit_ends_both_legs_with_bye(tmp_path):
    caller, callee, rec, _ = await run_call(
        tmp_path, "caller_wait_bye.xml", None, call_time_limit=1.0
    )
    ok(caller)
    ok(callee)
    assert sorted(rec.of("ended")) == [
        ("a", "ALLOTTED_TIMEOUT", "system"),
        ("b", "ALLOTTED_TIMEOUT", "system"),
    ]


@pytest.mark.asyncio
async def test_bye_from_callee_ends_both_legs(tmp_path):
    caller, callee, rec, _ = await run_call(tmp_path, "caller_wait_bye.xml", "callee_bye.xml")
    ok(caller)
    ok(callee)
    assert sorted(rec.of("ended")) == [("a", "NORMAL_CLEARING", "b"), ("b", "NORMAL_CLEARING", "b")]


@pytest.mark.asyncio
async def test_retransmitted_invite_places_one_call(tmp_path):
    caller, callee, _, routed = await run_call(tmp_path, "caller_dup_invite.xml", None)
    ok(caller)
    ok(callee)
    assert len(routed) == 1
    assert callee.received().count("INVITE sip:") == 1


@pytest.mark.asyncio
async def test_unknown_virtual_number_is_rejected(tmp_path):
    caller, callee, rec, routed = await run_call(
        tmp_path, "caller_fail.xml", None, service="+15559999", caller_subs={"STATUS": "404"}
    )
    ok(caller)
    assert callee is None
    assert len(routed) == 1
    assert rec.events == []
