"""What crosses the B2BUA, flow by flow: refusals when the relay cannot carry an SDP,
delayed offers, in-dialog SDP and INFO bodies (a fake transport, no sockets)."""

from __future__ import annotations

import pytest

from tests.unit.sip.test_b2bua_flows import (
    CALLEE_SDP,
    CALLER,
    TRUNK,
    FakeTransport,
    answer,
    caller_ack,
    caller_invite,
    settle,
    start,
)
from vts_masking.calls.b2bua import B2BUA, Bridge, InboundCall, Leg
from vts_masking.media import crossing
from vts_masking.media.crossing import Description, NotRelayable
from vts_masking.sip.message import Request, Response, new_branch
from vts_masking.sip.sdp import SessionDescription, parse_sdp

V = "+15550001"
CALLEE = "+15550002"


def relay_at(host: str = "203.0.113.7"):
    """An SDP hook standing in for the relay: writes offers and answers at ``host``."""
    offers: dict[str, Description] = {}  # the last offer each side's phone made

    def hook(leg: Leg, desc: Description, offer: bool) -> SessionDescription:
        port = 30000 if leg.side == "b" else 30002
        if offer:
            offers["a" if leg.side == "b" else "b"] = desc
            return crossing.offer(desc, host, port)
        offered = offers[leg.side]
        s = desc.audio
        assert s is not None
        choice = crossing.choose(offered, s.audio[0][1], False)
        return crossing.answer(offered, choice, host, port)

    return hook


def refusing(status: int, retry_after: int | None = None):
    def hook(leg: Leg, desc: Description, offer: bool) -> SessionDescription:
        raise NotRelayable(status, "No Media Ports Available", retry_after)

    return hook


def in_dialog(fake: FakeTransport, method: str, cseq: int, body: bytes = b"", ctype: str = ""):
    """A request from the caller inside its dialog (after the 200 it got)."""
    ok = next(m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == 200)
    req = Request(method, "sip:vts@192.0.2.10:5060", body=body)
    req.headers.add("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    for name in ("From", "To", "Call-ID"):
        req.headers.add(name, ok.headers.get(name) or "")
    req.headers.add("CSeq", f"{cseq} {method}")
    req.headers.add("Contact", "<sip:alice@10.0.0.1:5061>")
    if ctype:
        req.headers.add("Content-Type", ctype)
    fake.deliver(req, CALLER)


@pytest.mark.asyncio
async def test_no_relay_ports_refuses_the_caller_503_with_retry_after_and_dials_nobody():
    b2bua, fake = await start(sdp_rewriter=refusing(503, 5))
    last = fake.to(CALLER)[-1]
    assert isinstance(last, Response) and last.status == 503
    assert last.reason == "No Media Ports Available"
    assert last.headers.get("retry-after") == "5"
    assert fake.requests_to(TRUNK, "INVITE") == []
    assert b2bua.calls == {}


@pytest.mark.asyncio
async def test_an_offer_without_g711_is_refused_488():
    _, fake = await start(sdp_rewriter=refusing(488))
    assert fake.statuses_to(CALLER)[-1] == 488
    assert fake.requests_to(TRUNK, "INVITE") == []


@pytest.mark.asyncio
async def test_an_answer_the_relay_cannot_carry_hangs_up_the_callee_and_fails_the_caller():
    calls = 0

    def hook(leg: Leg, desc: Description, offer: bool) -> SessionDescription:
        nonlocal calls
        calls += 1
        if offer:
            return crossing.offer(desc, "203.0.113.7", 30000)
        raise NotRelayable(488, "Not Acceptable Here")

    b2bua, fake = await start(sdp_rewriter=hook)
    answer(fake, 200, CALLEE_SDP)
    assert len(fake.requests_to(TRUNK, "ACK")) == 1
    assert len(fake.requests_to(TRUNK, "BYE")) == 1
    assert fake.statuses_to(CALLER)[-1] == 488
    assert b2bua.calls == {}


@pytest.mark.asyncio
async def test_delayed_offer_the_callees_offer_is_answered_by_the_callers_ack():
    fake = FakeTransport()

    async def router(call: InboundCall):
        return Bridge(number=CALLEE, caller_id=V)

    B2BUA(router, trunk=TRUNK, transport=fake, sdp_rewriter=relay_at())  # type: ignore[arg-type]
    inv = caller_invite()
    inv.body = b""
    inv.headers.remove("Content-Type")
    inv.invalidate()
    fake.deliver(inv, CALLER)
    await settle()
    assert fake.requests_to(TRUNK, "INVITE")[0].body == b""
    answer(fake, 200, CALLEE_SDP)  # the callee's offer
    assert fake.requests_to(TRUNK, "ACK") == []  # waits for the caller's answer
    ok = next(m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == 200)
    offer = parse_sdp(ok.body)
    assert offer.media_address(0) == ("203.0.113.7", 30002)
    assert b"192.0.2.50" not in ok.body and b"bob" not in ok.body
    # the caller's ACK carries its answer: it reaches the callee written by the relay
    ack = Request("ACK", "sip:+15550001@192.0.2.10:5060")
    for name in ("From", "To", "Call-ID"):
        ack.headers.add(name, ok.headers.get(name) or "")
    ack.headers.insert("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    ack.headers.add("CSeq", "1 ACK")
    ack.headers.add("Content-Type", "application/sdp")
    ack.body = (
        b"v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=Alice\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ssrc:1 cname:alice@10.0.0.1\r\n"
    )
    fake.deliver(ack, CALLER)
    (callee_ack,) = fake.requests_to(TRUNK, "ACK")
    assert parse_sdp(callee_ack.body).media_address(0) == ("203.0.113.7", 30000)
    for secret in (b"alice", b"Alice", b"10.0.0.1", b"ssrc"):
        assert secret not in callee_ack.body


@pytest.mark.asyncio
async def test_reinvite_the_relay_cannot_carry_is_refused_and_not_relayed():
    accept = True
    relay = relay_at()

    def hook(leg: Leg, desc: Description, offer: bool) -> SessionDescription:
        if not accept:
            raise NotRelayable(488, "Not Acceptable Here")
        return relay(leg, desc, offer)

    _, fake = await start(sdp_rewriter=hook)
    answer(fake, 200, CALLEE_SDP)
    caller_ack(fake)
    accept = False
    video_only = (
        b"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    )
    in_dialog(fake, "INVITE", 2, video_only, "application/sdp")
    assert fake.statuses_to(CALLER)[-1] == 488
    assert len(fake.requests_to(TRUNK, "INVITE")) == 1  # only the first one


@pytest.mark.asyncio
async def test_info_with_a_dtmf_digit_crosses_written_again():
    _, fake = await start(sdp_rewriter=relay_at())
    answer(fake, 200, CALLEE_SDP)
    caller_ack(fake)
    in_dialog(
        fake,
        "INFO",
        2,
        b"Signal=5\r\nDuration=250\r\nX-Secret=AliceWasHere\r\n",
        "application/dtmf-relay",
    )
    (info,) = fake.requests_to(TRUNK, "INFO")
    assert info.body == b"Signal=5\r\nDuration=160\r\n"


@pytest.mark.asyncio
async def test_info_with_any_other_body_is_refused_415_and_not_relayed():
    _, fake = await start(sdp_rewriter=relay_at())
    answer(fake, 200, CALLEE_SDP)
    caller_ack(fake)
    in_dialog(fake, "INFO", 2, b"<secret>Alice</secret>", "application/xml")
    assert fake.statuses_to(CALLER)[-1] == 415
    assert fake.requests_to(TRUNK, "INFO") == []


@pytest.mark.asyncio
async def test_refer_is_refused_405_and_nothing_reaches_the_other_party():
    _, fake = await start(sdp_rewriter=relay_at())
    answer(fake, 200, CALLEE_SDP)
    caller_ack(fake)
    before = len(fake.to(TRUNK))
    in_dialog(fake, "REFER", 2)
    last = fake.to(CALLER)[-1]
    assert isinstance(last, Response) and last.status == 405
    assert "REFER" not in (last.headers.get("allow") or "")
    assert len(fake.to(TRUNK)) == before
