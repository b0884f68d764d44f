"""B2BUA call flows driven without sockets: a fake transport over the real transaction layer.

Each test plays the caller (10.0.0.1:5061) and the trunk (192.0.2.50:5060) by hand and
reads what the B2BUA sent. Time only moves when a test advances it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.unit.sip.samples import INVITE
from vts_masking.calls.b2bua import B2BUA, Bridge, InboundCall, Leg, Reject
from vts_masking.media import crossing
from vts_masking.media.crossing import Description
from vts_masking.sip.message import (
    Request,
    Response,
    make_response,
    new_branch,
    parse_message,
)
from vts_masking.sip.sdp import SessionDescription, parse_sdp
from vts_masking.sip.transaction import Send, TransactionLayer, build_cancel

CALLER = ("10.0.0.1", 5061)
TRUNK = ("192.0.2.50", 5060)
V = "+15550001"
CALLEE = "+15550002"


class FakeTransport:
    """The SipTransport interface, recording sends instead of using sockets."""

    advertised_host = "192.0.2.10"
    port = 5060

    def __init__(self) -> None:
        self.layer = TransactionLayer()
        self.clock = 0.0
        self.sent: list[tuple[Request | Response, tuple[str, int]]] = []
        self.on_event: Any = lambda ev: None

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def now(self) -> float:
        return self.clock

    def via(self, transport: str = "udp", branch: str | None = None) -> str:
        return f"SIP/2.0/UDP 192.0.2.10:5060;branch={branch or new_branch()};rport"

    def contact(self, user: str = "vts", transport: str = "udp", *, secure: bool = False) -> str:
        return "<sip:vts@192.0.2.10:5060>"

    def send_request(self, request, addr, transport="udp"):
        txn, actions = self.layer.send_request(request, addr, transport, self.clock)
        self._run(actions)
        return txn

    def respond(self, txn, response) -> None:
        self._run(self.layer.respond(txn, response, self.clock))

    def send_stateless(self, message, addr, transport="udp") -> None:
        self._run([Send(message, addr, transport)])

    def _run(self, actions) -> None:
        for a in actions:
            if isinstance(a, Send):
                msg = a.message
                self.sent.append(
                    (parse_message(msg.to_bytes() if not isinstance(msg, bytes) else msg), a.addr)
                )
            else:
                self.on_event(a)

    def deliver(self, message: Request | Response, addr: tuple[str, int]) -> None:
        self._run(self.layer.receive(parse_message(message.to_bytes()), addr, "udp", self.clock))

    def advance(self, seconds: float) -> None:
        end = self.clock + seconds
        while (d := self.layer.next_deadline()) is not None and d <= end:
            self.clock = max(self.clock, d)
            self._run(self.layer.on_timer(self.clock))
        self.clock = end

    # -- what was sent
    def to(self, addr) -> list[Request | Response]:
        return [m for m, a in self.sent if a == addr]

    def requests_to(self, addr, method: str) -> list[Request]:
        return [m for m in self.to(addr) if isinstance(m, Request) and m.method == method]

    def statuses_to(self, addr) -> list[int]:
        return [m.status for m in self.to(addr) if isinstance(m, Response)]


def caller_invite() -> Request:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    msg.headers.add("P-Asserted-Identity", '"Alice Secret" <sip:+14445556666@carrier>')
    msg.headers.add("User-Agent", "SecretPhone/1")
    return msg


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def start(router=None, **kw) -> tuple[B2BUA, FakeTransport]:
    fake = FakeTransport()

    async def default_router(call: InboundCall):
        return Bridge(number=CALLEE, caller_id=V)

    b2bua = B2BUA(router or default_router, trunk=TRUNK, transport=fake, **kw)  # type: ignore[arg-type]
    fake.deliver(caller_invite(), CALLER)
    await settle()
    return b2bua, fake


def answer(fake: FakeTransport, status: int = 200, body: bytes = b"") -> Request:
    """The callee answers our outbound INVITE with ``status``."""
    out = fake.requests_to(TRUNK, "INVITE")[0]
    extra = (("Contact", "<sip:b@192.0.2.50>"),)
    if body:
        extra += (("Content-Type", "application/sdp"),)
    fake.deliver(make_response(out, status, to_tag="calleetag", extra=extra, body=body), TRUNK)
    return out


CALLEE_SDP = (
    b"v=0\r\no=bob 7 7 IN IP4 192.0.2.50\r\ns=Bob\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\n"
)


def caller_ack(fake: FakeTransport) -> None:
    ok = [m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == 200][-1]
    ack = Request("ACK", "sip:+15550001@192.0.2.10:5060")
    for name in ("From", "To", "Call-ID"):
        ack.headers.add(name, ok.headers.get(name) or "")
    ack.headers.insert("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    ack.headers.add("CSeq", "1 ACK")
    fake.deliver(ack, CALLER)


@pytest.mark.asyncio
async def test_outbound_invite_is_built_from_scratch():
    _, fake = await start()
    inv = fake.requests_to(TRUNK, "INVITE")[0]
    raw = inv.to_bytes().decode()
    assert inv.from_.uri.user == V and inv.from_.display is None
    assert inv.to.uri.user == CALLEE
    assert inv.call_id != "cid-1@10.0.0.1"
    assert inv.top_via.host == "192.0.2.10" and len(inv.vias) == 1
    for secret in ("14445556666", "Alice", "SecretPhone", "ftag1", "z9hG4bKabc1", "10.0.0.1:5061"):
        assert secret not in raw, secret
    sd = parse_sdp(inv.body)
    assert sd.origin.startswith("- ") and sd.origin.endswith(" IN IP4 192.0.2.10")
    # a bare B2BUA (no relay hook) writes the phone's own media address: the service
    # never runs so (its calls engine relays every call or refuses it)
    assert sd.media_address(0) == ("10.0.0.1", 49170)


@pytest.mark.asyncio
async def test_answer_is_relayed_with_our_origin_and_acked():
    _, fake = await start()
    answer(fake, 200, CALLEE_SDP)
    assert len(fake.requests_to(TRUNK, "ACK")) == 1
    ok = next(m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == 200)
    assert b"bob" not in ok.body and b"Bob" not in ok.body
    assert ok.contact is not None and ok.contact.uri.host == "192.0.2.10"


@pytest.mark.asyncio
async def test_cancel_while_routing_answers_487_and_places_no_call():
    gate = asyncio.Event()

    async def slow_router(call: InboundCall):
        await gate.wait()
        return Bridge(number=CALLEE, caller_id=V)

    _, fake = await start(slow_router)
    fake.deliver(build_cancel(caller_invite()), CALLER)
    gate.set()
    await settle()
    assert fake.requests_to(TRUNK, "INVITE") == []
    assert sorted(fake.statuses_to(CALLER)) == [100, 200, 487]


@pytest.mark.asyncio
async def test_cancel_before_any_provisional_waits_for_one():
    _, fake = await start()
    fake.deliver(build_cancel(caller_invite()), CALLER)
    assert fake.requests_to(TRUNK, "CANCEL") == []
    answer(fake, 180)
    assert len(fake.requests_to(TRUNK, "CANCEL")) == 1


@pytest.mark.asyncio
async def test_callee_answer_crossing_a_cancel_is_acked_and_hung_up():
    _, fake = await start()
    answer(fake, 180)
    fake.deliver(build_cancel(caller_invite()), CALLER)
    assert len(fake.requests_to(TRUNK, "CANCEL")) == 1
    answer(fake, 200, CALLEE_SDP)
    assert len(fake.requests_to(TRUNK, "ACK")) == 1
    assert len(fake.requests_to(TRUNK, "BYE")) == 1
    invite_answers = [
        m.status for m in fake.to(CALLER) if isinstance(m, Response) and m.cseq.method == "INVITE"
    ]
    assert invite_answers == [100, 180, 487]


@pytest.mark.asyncio
async def test_unacknowledged_answer_ends_both_legs():
    b2bua, fake = await start()
    answer(fake, 200, CALLEE_SDP)
    fake.advance(33.0)  # no ACK from the caller for 64*T1
    # (BYEs nobody answers are retransmitted: count distinct ones)
    assert len({m.call_id for m in fake.requests_to(TRUNK, "BYE")}) == 1
    assert len({m.call_id for m in fake.requests_to(CALLER, "BYE")}) == 1
    assert b2bua.calls == {}


@pytest.mark.asyncio
async def test_service_unavailable_from_callee_becomes_500():
    _, fake = await start()
    answer(fake, 503)
    assert fake.statuses_to(CALLER)[-1] == 500


@pytest.mark.asyncio
async def test_rejected_route_status_reaches_the_caller():
    async def router(call: InboundCall):
        return Reject(403, "Unknown caller")

    _, fake = await start(router)
    last = fake.to(CALLER)[-1]
    assert isinstance(last, Response) and (last.status, last.reason) == (403, "Unknown caller")


@pytest.mark.asyncio
async def test_a_rejected_call_leaves_nothing_behind():
    async def router(call: InboundCall):
        return Reject(404)

    b2bua, _ = await start(router)
    assert not b2bua.calls and not b2bua._inbound and not b2bua._dialogs


@pytest.mark.asyncio
async def test_router_exception_is_a_500_not_a_crash():
    async def router(call: InboundCall):
        raise RuntimeError("database down")

    _, fake = await start(router)
    assert fake.statuses_to(CALLER)[-1] == 500


@pytest.mark.parametrize(
    ("edit", "status"),
    [
        (lambda r: r.headers.set("Max-Forwards", "0"), 483),
        (lambda r: r.headers.set("Content-Type", "text/plain"), 415),
        (lambda r: r.headers.remove("Contact"), 400),
    ],
)
def test_unusable_invites_are_refused(edit, status):
    fake = FakeTransport()

    async def router(call: InboundCall):
        raise AssertionError("not routed")

    B2BUA(router, trunk=TRUNK, transport=fake)  # type: ignore[arg-type]
    inv = caller_invite()
    edit(inv)
    fake.deliver(inv, CALLER)
    assert fake.statuses_to(CALLER) == [status]


@pytest.mark.asyncio
async def test_reinvite_while_one_is_pending_gets_491():
    _, fake = await start()
    answer(fake, 200, CALLEE_SDP)
    caller_ack(fake)
    ok = next(m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == 200)
    reinv = Request("INVITE", "sip:vts@192.0.2.10:5060")
    reinv.headers.add("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    for name in ("From", "To", "Call-ID"):
        reinv.headers.add(name, ok.headers.get(name) or "")
    reinv.headers.add("CSeq", "2 INVITE")
    reinv.headers.add("Contact", "<sip:alice@10.0.0.1:5061>")
    fake.deliver(reinv, CALLER)
    assert len(fake.requests_to(TRUNK, "INVITE")) == 2  # relayed
    out = fake.requests_to(TRUNK, "INVITE")[1]
    glare = Request("INVITE", "sip:vts@192.0.2.10:5060")
    glare.headers.add("Via", f"SIP/2.0/UDP 192.0.2.50:5060;branch={new_branch()}")
    glare.headers.add("From", out.headers.get("To") or "")
    glare.headers.add("To", out.headers.get("From") or "")
    glare.headers.add("Call-ID", out.call_id)
    glare.headers.add("CSeq", "9 INVITE")
    glare.headers.add("Contact", "<sip:b@192.0.2.50>")
    fake.deliver(glare, TRUNK)
    assert fake.statuses_to(TRUNK)[-1] == 491


@pytest.mark.asyncio
async def test_bye_outside_any_dialog_is_481_and_options_is_200():
    fake = FakeTransport()

    async def router(call: InboundCall):
        return Reject(404)

    B2BUA(router, trunk=TRUNK, transport=fake)  # type: ignore[arg-type]
    for method, cseq in (("BYE", 5), ("OPTIONS", 6)):
        req = Request(method, "sip:vts@192.0.2.10")
        req.headers.add("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
        req.headers.add("From", "<sip:x@10.0.0.1>;tag=a")
        req.headers.add("To", "<sip:vts@192.0.2.10>" + (";tag=zz" if method == "BYE" else ""))
        req.headers.add("Call-ID", "nope")
        req.headers.add("CSeq", f"{cseq} {method}")
        fake.deliver(req, CALLER)
    assert fake.statuses_to(CALLER) == [481, 200]


@pytest.mark.asyncio
async def test_sdp_rewriter_edits_the_sdp_sent_to_each_leg():
    seen: list[tuple[str, str, bool]] = []

    def rewriter(leg: Leg, desc: Description, offer: bool) -> SessionDescription:
        seen.append((leg.side, leg.direction, offer))
        sd = crossing.direct(desc)
        sd.set_connection("203.0.113.7")
        sd.media[0].port = 30000 if leg.side == "b" else 30002
        return sd

    _, fake = await start(sdp_rewriter=rewriter)
    answer(fake, 200, CALLEE_SDP)
    inv = fake.requests_to(TRUNK, "INVITE")[0]
    ok = next(m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == 200)
    assert parse_sdp(inv.body).media_address(0) == ("203.0.113.7", 30000)
    assert parse_sdp(ok.body).media_address(0) == ("203.0.113.7", 30002)
    assert seen == [("b", "outbound", True), ("a", "inbound", False)]


@pytest.mark.asyncio
async def test_identifying_sdp_lines_do_not_cross():
    _, fake = await start()
    sdp = (
        b"v=0\r\no=bob 7 7 IN IP4 192.0.2.50\r\ns=Bob's phone\r\ni=Bob Smith\r\n"
        b"u=http://bob.example\r\ne=bob@example.com\r\np=+1 555 0100\r\n"
        b"c=IN IP4 192.0.2.50\r\nt=0 0\r\na=tool:BobPhone 1.0\r\n"
        b"m=audio 40000 RTP/AVP 0\r\ni=Bob's mic\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    answer(fake, 180)
    answer(fake, 200, sdp)
    ok = next(m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == 200)
    assert b"Bob" not in ok.body and b"bob" not in ok.body and b"555" not in ok.body
    assert b"a=rtpmap:0 PCMU/8000" in ok.body and b"m=audio 40000" in ok.body


FIRST = ("192.0.2.61", 5060)
SECOND = ("192.0.2.62", 5060)


def reply(fake: FakeTransport, addr, status: int, body: bytes = b"") -> None:
    inv = fake.requests_to(addr, "INVITE")[0]
    extra: tuple[tuple[str, str], ...] = (("Contact", f"<sip:p@{addr[0]}>"),)
    if body:
        extra += (("Content-Type", "application/sdp"),)
    fake.deliver(make_response(inv, status, to_tag=f"t{addr[0]}", extra=extra, body=body), addr)


def originate_pair() -> tuple[B2BUA, FakeTransport]:
    fake = FakeTransport()

    async def router(call: InboundCall):
        return Reject(404)

    b2bua = B2BUA(router, trunk=TRUNK, transport=fake)  # type: ignore[arg-type]
    b2bua.originate(
        Bridge(number="+15550010", caller_id=V, trunk=FIRST),
        Bridge(number="+15550020", caller_id=V, trunk=SECOND),
    )
    return b2bua, fake


def test_originate_offers_first_party_answer_to_second_and_acks_with_its_answer():
    _, fake = originate_pair()
    assert fake.requests_to(FIRST, "INVITE")[0].body == b""  # offerless INVITE
    reply(fake, FIRST, 200, CALLEE_SDP)
    assert fake.requests_to(FIRST, "ACK") == []  # held until the second party answers
    offer = fake.requests_to(SECOND, "INVITE")[0]
    assert parse_sdp(offer.body).media_address(0) == ("192.0.2.50", 40000)
    answer_sdp = CALLEE_SDP.replace(b"40000", b"41000")
    reply(fake, SECOND, 200, answer_sdp)
    acks = fake.requests_to(FIRST, "ACK")
    assert len(acks) == 1 and parse_sdp(acks[0].body).media_address(0)[1] == 41000
    assert len(fake.requests_to(SECOND, "ACK")) == 1


def test_originate_second_party_busy_releases_first_party():
    b2bua, fake = originate_pair()
    reply(fake, FIRST, 200, CALLEE_SDP)
    reply(fake, SECOND, 486)
    ack = fake.requests_to(FIRST, "ACK")[0]
    assert parse_sdp(ack.body).media[0].port == 0  # every stream refused
    assert len(fake.requests_to(FIRST, "BYE")) == 1
    assert b2bua.calls == {}


@pytest.mark.asyncio
async def test_same_invite_under_a_new_branch_is_a_merged_request_482():
    _, fake = await start()
    again = caller_invite()
    again.headers.set("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    again.invalidate()
    fake.deliver(again, CALLER)
    assert fake.statuses_to(CALLER)[-1] == 482
    assert len(fake.requests_to(TRUNK, "INVITE")) == 1
