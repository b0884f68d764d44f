"""End to end: real SIPp phones on loopback calling through the masking B2BUA.

The caller SIPp dials the virtual number V; a dict router bridges V to the callee SIPp at
the "trunk" with caller ID V. The callee's own message log proves what crossed.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import Sipp, SippResult, free_port, ok, requires_sipp
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
    caller_extra: list[str] | None = None,
    callee_extra: list[str] | None = None,
    trunk_transport: str = "udp",
) -> tuple[SippResult, SippResult | None, Recorder, list[InboundCall]]:
    recorder = Recorder()
    routed: list[InboundCall] = []
    callee_sipp = Sipp(
        tmp_path,
        "callee",
        scenario=callee,
        builtin=callee_builtin,
        subs=callee_subs,
        extra=callee_extra,
    )
    routes = {
        V: Bridge(
            number=CALLEE,
            caller_id=V,
            ring_timeout=ring_timeout,
            call_time_limit=call_time_limit,
            transport=trunk_transport,
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
            extra=caller_extra,
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
async def test_answer_to_the_caller_carries_its_record_route_so_a_proxy_stays_in_path(
    tmp_path,
):
    """RFC 3261 §12.1.1: the 180 and 200 that make the caller's dialog copy the INVITE's
    Record-Route (a dispatcher front drops in-dialog requests without its Route); the
    callee's leg is a new dialog of ours and gets none of it."""
    caller, callee, _, _ = await run_call(tmp_path, "caller_bye.xml", None)
    ok(caller)
    ok(callee)
    answers = [
        b
        for b in caller.received().split("-----------------------------------------------")
        if "CSeq: 1 INVITE" in b and ("SIP/2.0 200" in b or "SIP/2.0 180" in b)
    ]
    assert answers
    for answer in answers:
        assert "Record-Route: <sip:secret-proxy.example;lr>" in answer, answer
    assert "Record-Route" not in callee.received()


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
    assert ("b", cause, "b") in rec.of("failed")
    assert ("a", cause, "b") in rec.of("failed")
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
    assert ("b", "NO_ANSWER", "system") in rec.of("failed")
    assert ("a", "NO_ANSWER", "system") in rec.of("failed")


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


@pytest.mark.asyncio
async def test_reinvite_update_and_info_are_relayed_masked(tmp_path):
    caller, callee, _, _ = await run_call(tmp_path, "caller_midcall.xml", "callee_midcall.xml")
    ok(caller)
    ok(callee)
    at_callee = callee.received()
    assert "a=sendonly" in at_callee  # the re-INVITE's and UPDATE's offers crossed
    assert "Signal=5" in at_callee and "application/dtmf-relay" in at_callee
    assert "alicesecret" not in at_callee and "+14445556666" not in at_callee
    at_caller = caller.received()
    assert "a=recvonly" in at_caller  # and the answers came back
    assert "bobsecret" not in at_caller


@pytest.mark.asyncio
async def test_caller_over_tcp_is_bridged_to_udp_trunk(tmp_path):
    caller, callee, rec, _ = await run_call(
        tmp_path, "caller_bye.xml", None, caller_extra=["-t", "t1"]
    )
    ok(caller)
    ok(callee)
    assert "TCP message received" in caller.messages
    assert sorted(rec.of("ended")) == [("a", "NORMAL_CLEARING", "a"), ("b", "NORMAL_CLEARING", "a")]


@pytest.mark.asyncio
async def test_trunk_over_tcp(tmp_path):
    caller, callee, rec, _ = await run_call(
        tmp_path, "caller_bye.xml", None, callee_extra=["-t", "t1"], trunk_transport="tcp"
    )
    ok(caller)
    ok(callee)
    assert "TCP message received" in callee.messages
    assert "SIP/2.0/TCP" in callee.received()
    assert sorted(rec.of("ended")) == [("a", "NORMAL_CLEARING", "a"), ("b", "NORMAL_CLEARING", "a")]


@pytest.mark.asyncio
async def test_originate_calls_first_party_then_second_and_bridges(tmp_path):
    recorder = Recorder()
    first = Sipp(tmp_path, "first", builtin="uas")
    second = Sipp(tmp_path, "second", builtin="uas")

    async def router(call: InboundCall) -> Reject:
        return Reject(404)

    b2bua = B2BUA(router, trunk=("127.0.0.1", 9), listen=("127.0.0.1", 0), observer=recorder)
    await b2bua.start()
    try:
        await first.start()
        await second.start()
        b2bua.originate(
            Bridge(
                number="+15550010",
                caller_id=V,
                trunk=("127.0.0.1", first.port),
                call_time_limit=1.0,
            ),
            Bridge(number="+15550020", caller_id=V, trunk=("127.0.0.1", second.port)),
            context="session-2",
        )
        r1 = await first.finish()
        r2 = await second.finish()
    finally:
        await b2bua.stop()
    ok(r1)
    ok(r2)
    # The second party got the first party's offer; the first party's ACK carried the answer.
    assert "m=audio" in r2.received().split("ACK sip:")[0]
    ack_to_first = r1.received().split("ACK sip:")[1].split("BYE sip:")[0]
    assert "m=audio" in ack_to_first
    assert "user1" not in ack_to_first  # the second party's SDP origin is ours
    assert [e[:2] for e in recorder.events if e[0] == "answered"] == [
        ("answered", "a"),
        ("answered", "b"),
    ]
    assert recorder.ended and recorder.ended[0].context == "session-2"


def _udp_exchange(port: int, payloads: list[bytes]) -> list[bytes]:
    """Send each payload, then collect replies until one answers the last payload."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", free_port()))
    sock.settimeout(5.0)
    try:
        for p in payloads:
            sock.sendto(p, ("127.0.0.1", port))
        replies = []
        while True:
            data, _ = sock.recvfrom(65535)
            replies.append(data)
            if b"CSeq: 9 OPTIONS" in data:
                return replies
    finally:
        sock.close()


OPTIONS = (
    b"OPTIONS sip:+15550001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-o1\r\n"
    b"From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:+15550001@127.0.0.1>\r\nCall-ID: probe-1\r\n"
    b"CSeq: 9 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


@pytest.mark.asyncio
async def test_malformed_input_gets_400_or_silence_and_options_still_answered(tmp_path):
    async def router(call: InboundCall) -> Reject:
        return Reject(404)

    b2bua = B2BUA(router, trunk=("127.0.0.1", 9), listen=("127.0.0.1", 0))
    await b2bua.start()
    try:
        bad_from = OPTIONS.replace(b"From: <sip:probe@127.0.0.1>;tag=p1", b"From: <<<")
        bad_from = bad_from.replace(b"CSeq: 9", b"CSeq: 8").replace(b"z9hG4bK-o1", b"z9hG4bK-o0")
        replies = await asyncio.to_thread(
            _udp_exchange,
            b2bua.transport.port,
            [b"\x00\xffgarbage\r\n\r\n", b"SIP/2.0 999\r\n\r\n", bad_from, OPTIONS],
        )
    finally:
        await b2bua.stop()
    assert len(replies) == 2
    assert replies[0].startswith(b"SIP/2.0 400 ") and b"CSeq: 8 OPTIONS" in replies[0]
    assert replies[1].startswith(b"SIP/2.0 200 ")
    assert b2bua.transport.stats["malformed"] == 3
