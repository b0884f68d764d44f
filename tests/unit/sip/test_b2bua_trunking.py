"""B2BUA trunking behaviour without sockets (the fake transport of test_b2bua_flows over
the real transaction layer): digest challenges on INVITE/BYE/re-INVITE, CANCEL after a
resubmitted INVITE, redirects, reliable provisionals both ways (RFC 3262), session timers
(RFC 4028), a trunk that must authenticate to us, and the outbound choice of trunk."""

from __future__ import annotations

import pytest

from tests.unit.sip.test_b2bua_flows import (
    CALLEE,
    CALLEE_SDP,
    CALLER,
    TRUNK,
    FakeTransport,
    V,
    caller_ack,
    caller_invite,
    settle,
)
from vts_masking.calls.b2bua import B2BUA, Bridge, InboundCall
from vts_masking.sip.digest import Credentials, DigestClient, DigestServer, parse_auth_params
from vts_masking.sip.message import Request, Response, make_response, new_branch
from vts_masking.sip.transaction import build_cancel
from vts_masking.sip.trunks import Trunk, TrunkTable

REALM = "carrier"


class Fake(FakeTransport):
    """The fake transport, with reliable provisionals (RFC 3262) as the real one has."""

    acl = None

    def respond(self, txn, response, *, reliable: bool = False) -> None:  # type: ignore[override]
        self._run(self.layer.respond(txn, response, self.clock, reliable=reliable))


def trunk(**kw) -> Trunk:
    kw.setdefault("credentials", Credentials("acct", "pw"))
    return Trunk("carrier", TRUNK[0], TRUNK[1], default=True, **kw)


async def start_call(t: Trunk | None = None, invite: Request | None = None, trunks=None):
    fake = Fake()

    async def router(call: InboundCall):
        return Bridge(number=CALLEE, caller_id=V)

    table = trunks or TrunkTable.build([t or trunk()], resolve=False)
    b2bua = B2BUA(router, trunks=table, transport=fake)  # type: ignore[arg-type]
    fake.deliver(invite or caller_invite(), CALLER)
    await settle()
    return b2bua, fake


class Carrier:
    """Answers for the trunk: challenges what lacks valid credentials, like Kamailio's
    ``pv_proxy_authenticate`` + ``auth_challenge`` (407 for all but REGISTER)."""

    def __init__(self, password: str = "pw") -> None:
        self.auth = DigestServer(REALM, {"acct": password})

    def challenge(self, fake: Fake, req: Request) -> None:
        fake.deliver(
            make_response(
                req,
                407,
                to_tag="proxytag",
                extra=[
                    ("Proxy-Authenticate", c.to_header_value())
                    for c in self.auth.challenges(fake.clock)
                ],
            ),
            TRUNK,
        )

    def accepts(self, fake: Fake, req: Request) -> bool:
        return self.auth.check(req.method, req.headers.get("proxy-authorization"), fake.clock).ok


def last(fake: Fake, method: str) -> Request:
    return fake.requests_to(TRUNK, method)[-1]


def respond(fake: Fake, req: Request, status: int, body: bytes = b"", extra=()) -> None:
    headers = [("Contact", "<sip:b@192.0.2.50>"), *extra]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    fake.deliver(make_response(req, status, to_tag="calleetag", extra=headers, body=body), TRUNK)


async def answered_call(carrier: Carrier):
    b2bua, fake = await start_call()
    carrier.challenge(fake, last(fake, "INVITE"))
    respond(fake, last(fake, "INVITE"), 200, CALLEE_SDP)
    caller_ack(fake)
    return b2bua, fake


# --------------------------------------------------------------------------- digest


@pytest.mark.asyncio
async def test_challenged_invite_goes_again_with_valid_credentials() -> None:
    carrier = Carrier()
    _, fake = await start_call()
    first = last(fake, "INVITE")
    carrier.challenge(fake, first)
    again = last(fake, "INVITE")
    assert again is not first and carrier.accepts(fake, again)
    assert (again.call_id, again.from_.tag) == (first.call_id, first.from_.tag)
    assert again.cseq.number == first.cseq.number + 1
    assert again.top_via.branch != first.top_via.branch
    assert len(fake.requests_to(TRUNK, "ACK")) == 1  # the 407 was acknowledged


@pytest.mark.asyncio
async def test_call_through_a_challenging_trunk_is_answered() -> None:
    b2bua, fake = await answered_call(Carrier())
    assert 200 in fake.statuses_to(CALLER)
    (call,) = b2bua.calls.values()
    assert call.b is not None and call.b.is_up


@pytest.mark.asyncio
async def test_ack_of_the_answer_carries_the_invites_credentials() -> None:
    _, fake = await answered_call(Carrier())
    invite, ack = last(fake, "INVITE"), last(fake, "ACK")
    assert ack.headers.get("proxy-authorization") == invite.headers.get("proxy-authorization")


@pytest.mark.asyncio
async def test_refused_credentials_fail_the_call_with_403_to_the_caller() -> None:
    carrier = Carrier(password="other")
    _, fake = await start_call()
    carrier.challenge(fake, last(fake, "INVITE"))
    carrier.challenge(fake, last(fake, "INVITE"))  # our answer was refused
    assert len(fake.requests_to(TRUNK, "INVITE")) == 2
    assert fake.statuses_to(CALLER)[-1] == 403


@pytest.mark.asyncio
async def test_next_call_reuses_the_nonce_without_a_challenge() -> None:
    carrier = Carrier()
    t = trunk()
    table = TrunkTable.build([t], resolve=False)
    _, fake = await start_call(trunks=table)
    carrier.challenge(fake, last(fake, "INVITE"))
    second = caller_invite()
    second.headers.set("Call-ID", "cid-2@10.0.0.1")
    second.headers.set("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    fake.deliver(second, CALLER)
    await settle()
    invite = last(fake, "INVITE")
    assert invite.call_id != fake.requests_to(TRUNK, "INVITE")[0].call_id
    assert carrier.accepts(fake, invite)
    assert (
        parse_auth_params((invite.headers.get("proxy-authorization") or "")[7:])["nc"] == "00000002"
    )


@pytest.mark.asyncio
async def test_challenged_bye_goes_again_with_credentials() -> None:
    carrier = Carrier()
    b2bua, fake = await answered_call(carrier)
    (call,) = b2bua.calls.values()
    b2bua.hangup(call)
    bye = last(fake, "BYE")
    bye.headers.remove("proxy-authorization")  # as if the reused nonce had been refused
    carrier.challenge(fake, bye)
    again = last(fake, "BYE")
    assert again is not bye and carrier.accepts(fake, again)
    assert again.cseq.number == bye.cseq.number + 1


@pytest.mark.asyncio
async def test_challenged_reinvite_goes_again_with_credentials() -> None:
    carrier = Carrier()
    _, fake = await answered_call(carrier)
    ok = [m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == 200][-1]
    reinvite = Request("INVITE", "sip:vts@192.0.2.10:5060")
    reinvite.headers.add("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    for name in ("From", "To", "Call-ID"):
        reinvite.headers.add(name, ok.headers.get(name) or "")
    reinvite.headers.add("CSeq", "2 INVITE")
    reinvite.headers.add("Contact", "<sip:alice@10.0.0.1:5061>")
    reinvite.headers.add("Content-Type", "application/sdp")
    reinvite.body = caller_invite().body
    fake.deliver(reinvite, CALLER)
    relayed = last(fake, "INVITE")
    carrier.challenge(fake, relayed)
    again = last(fake, "INVITE")
    assert again is not relayed and carrier.accepts(fake, again)
    assert again.to.tag == "calleetag" and again.cseq.number == relayed.cseq.number + 1


@pytest.mark.asyncio
async def test_cancel_after_a_resubmitted_invite_matches_the_new_one() -> None:
    _, fake = await start_call()
    Carrier().challenge(fake, last(fake, "INVITE"))
    invite = last(fake, "INVITE")
    respond(fake, invite, 180)
    fake.deliver(build_cancel(caller_invite()), CALLER)
    (cancel,) = fake.requests_to(TRUNK, "CANCEL")
    assert cancel.top_via.branch == invite.top_via.branch
    assert cancel.cseq.number == invite.cseq.number
    assert cancel.headers.get("proxy-authorization") is None  # never challenged, §9.2


@pytest.mark.asyncio
async def test_challenge_to_a_trunk_without_credentials_fails_the_call() -> None:
    _, fake = await start_call(Trunk("plain", TRUNK[0], TRUNK[1]))
    Carrier().challenge(fake, last(fake, "INVITE"))
    assert len(fake.requests_to(TRUNK, "INVITE")) == 1
    assert fake.statuses_to(CALLER)[-1] == 403


# --------------------------------------------------------------------------- redirects


@pytest.mark.asyncio
async def test_redirect_is_followed_up_to_the_trunks_limit() -> None:
    _, fake = await start_call(trunk(max_redirects=1))
    first = last(fake, "INVITE")
    moved = [("Contact", "<sip:+15550077@192.0.2.60>")]
    fake.deliver(make_response(first, 302, to_tag="r", extra=moved), TRUNK)
    again = last(fake, "INVITE")
    assert again.uri == "sip:+15550077@192.0.2.60" and again.cseq.number == 2
    fake.deliver(make_response(again, 302, to_tag="r", extra=moved), TRUNK)
    assert len(fake.requests_to(TRUNK, "INVITE")) == 2
    assert fake.statuses_to(CALLER)[-1] == 480


@pytest.mark.asyncio
async def test_redirect_is_a_failure_when_not_allowed() -> None:
    _, fake = await start_call(trunk(max_redirects=0))
    fake.deliver(
        make_response(
            last(fake, "INVITE"), 301, to_tag="r", extra=[("Contact", "<sip:x@192.0.2.60>")]
        ),
        TRUNK,
    )
    assert len(fake.requests_to(TRUNK, "INVITE")) == 1
    assert fake.statuses_to(CALLER)[-1] == 480


# --------------------------------------------------------------------------- 100rel


def reliable_183(fake: Fake, invite: Request, rseq: int = 7) -> None:
    respond(fake, invite, 183, CALLEE_SDP, extra=[("Require", "100rel"), ("RSeq", str(rseq))])


@pytest.mark.asyncio
async def test_outbound_invite_offers_100rel() -> None:
    _, fake = await start_call(Trunk("plain", TRUNK[0], TRUNK[1]))
    assert "100rel" in (last(fake, "INVITE").headers.get("supported") or "")


@pytest.mark.asyncio
async def test_reliable_provisional_from_the_trunk_is_pracked_once() -> None:
    _, fake = await start_call(Trunk("plain", TRUNK[0], TRUNK[1]))
    invite = last(fake, "INVITE")
    reliable_183(fake, invite)
    reliable_183(fake, invite)  # a retransmission: not acknowledged again
    (prack,) = fake.requests_to(TRUNK, "PRACK")
    assert prack.headers.get("rack") == f"7 {invite.cseq.number} INVITE"
    assert prack.to.tag == "calleetag" and prack.call_id == invite.call_id
    assert prack.uri == "sip:b@192.0.2.50"


@pytest.mark.asyncio
async def test_dialog_after_prack_goes_on_with_higher_cseqs() -> None:
    b2bua, fake = await start_call(Trunk("plain", TRUNK[0], TRUNK[1]))
    invite = last(fake, "INVITE")
    reliable_183(fake, invite)
    respond(fake, invite, 200, CALLEE_SDP)
    caller_ack(fake)
    (call,) = b2bua.calls.values()
    b2bua.hangup(call)
    assert last(fake, "BYE").cseq.number > last(fake, "PRACK").cseq.number


def invite_with(*headers: tuple[str, str]) -> Request:
    inv = caller_invite()
    for name, value in headers:
        inv.headers.add(name, value)
    return inv


def to_caller(fake: Fake, status: int) -> list[Response]:
    return [m for m in fake.to(CALLER) if isinstance(m, Response) and m.status == status]


@pytest.mark.asyncio
async def test_early_media_goes_reliably_to_a_caller_that_supports_100rel() -> None:
    _, fake = await start_call(
        Trunk("plain", TRUNK[0], TRUNK[1]), invite_with(("Supported", "100rel"))
    )
    reliable_183(fake, last(fake, "INVITE"))
    (r183,) = to_caller(fake, 183)
    assert r183.headers.get("require") == "100rel" and r183.headers.get("rseq")
    assert r183.body  # the SDP of the early media
    fake.advance(1.6)  # unacknowledged: retransmitted (T1, then 2·T1)
    assert len(to_caller(fake, 183)) >= 3


def caller_prack(fake: Fake, r1xx: Response) -> None:
    prack = Request("PRACK", "sip:vts@192.0.2.10:5060")
    prack.headers.add("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    for name in ("From", "To", "Call-ID"):
        prack.headers.add(name, r1xx.headers.get(name) or "")
    prack.headers.add("CSeq", "2 PRACK")
    prack.headers.add("RAck", f"{r1xx.headers.get('rseq')} 1 INVITE")
    fake.deliver(prack, CALLER)


@pytest.mark.asyncio
async def test_answer_waits_for_the_prack_of_the_early_sdp() -> None:
    _, fake = await start_call(
        Trunk("plain", TRUNK[0], TRUNK[1]), invite_with(("Supported", "100rel"))
    )
    invite = last(fake, "INVITE")
    reliable_183(fake, invite)
    respond(fake, invite, 200, CALLEE_SDP)
    assert to_caller(fake, 200) == []  # must not overtake the unacknowledged SDP answer
    (r183,) = to_caller(fake, 183)
    caller_prack(fake, r183)
    oks = [m.cseq.method for m in to_caller(fake, 200)]
    assert oks == ["PRACK", "INVITE"]
    count = len(to_caller(fake, 183))
    fake.advance(2.0)
    assert len(to_caller(fake, 183)) == count  # retransmission stopped


@pytest.mark.asyncio
async def test_caller_that_never_pracks_is_refused_after_64_t1() -> None:
    b2bua, fake = await start_call(
        Trunk("plain", TRUNK[0], TRUNK[1]), invite_with(("Require", "100rel"))
    )
    reliable_183(fake, last(fake, "INVITE"))
    fake.advance(33.0)
    assert 500 in fake.statuses_to(CALLER)
    assert len({c.top_via.branch for c in fake.requests_to(TRUNK, "CANCEL")}) == 1
    assert b2bua.calls == {}


@pytest.mark.asyncio
async def test_caller_without_100rel_gets_early_media_unreliably() -> None:
    _, fake = await start_call(Trunk("plain", TRUNK[0], TRUNK[1]))
    reliable_183(fake, last(fake, "INVITE"))
    (r183,) = to_caller(fake, 183)
    assert r183.headers.get("rseq") is None and r183.body


@pytest.mark.asyncio
async def test_invite_requiring_an_unknown_extension_is_answered_420() -> None:
    _, fake = await start_call(invite=invite_with(("Require", "100rel, foo")))
    (r420,) = to_caller(fake, 420)
    assert r420.headers.get("unsupported") == "foo"
    assert fake.requests_to(TRUNK, "INVITE") == []


# --------------------------------------------------------------------------- session timers


@pytest.mark.asyncio
async def test_session_timer_asked_by_the_caller_is_granted_in_the_answer() -> None:
    _, fake = await start_call(
        Trunk("plain", TRUNK[0], TRUNK[1]),
        invite_with(("Session-Expires", "1800"), ("Supported", "timer")),
    )
    respond(fake, last(fake, "INVITE"), 200, CALLEE_SDP)
    (ok,) = to_caller(fake, 200)
    assert ok.headers.get("session-expires") == "1800;refresher=uac"
    assert "timer" in (ok.headers.get("require") or "")


@pytest.mark.asyncio
async def test_too_brief_session_timer_is_answered_422_with_min_se() -> None:
    _, fake = await start_call(invite=invite_with(("Session-Expires", "30")))
    (r422,) = to_caller(fake, 422)
    assert r422.headers.get("min-se") == "90"


@pytest.mark.asyncio
async def test_caller_that_cannot_refresh_is_refreshed_by_us_at_half_time() -> None:
    b2bua, fake = await start_call(
        Trunk("plain", TRUNK[0], TRUNK[1]),
        invite_with(("Session-Expires", "90"), ("Allow", "INVITE, ACK, BYE, UPDATE")),
    )
    respond(fake, last(fake, "INVITE"), 200, CALLEE_SDP)
    caller_ack(fake)
    (ok,) = to_caller(fake, 200)
    assert ok.headers.get("session-expires") == "90;refresher=uas"
    assert ok.headers.get("require") is None
    (call,) = b2bua.calls.values()
    assert call.a is not None and call.a.timer_handle is not None
    b2bua._refresh_session(call.a)  # what the timer runs at 45 s
    (update,) = fake.requests_to(CALLER, "UPDATE")
    assert update.headers.get("session-expires") == "90;refresher=uas"


@pytest.mark.asyncio
async def test_our_refresh_is_a_reinvite_with_the_same_sdp_without_update() -> None:
    b2bua, fake = await start_call(
        Trunk("plain", TRUNK[0], TRUNK[1]), invite_with(("Session-Expires", "90"))
    )
    respond(fake, last(fake, "INVITE"), 200, CALLEE_SDP)
    caller_ack(fake)
    (call,) = b2bua.calls.values()
    assert call.a is not None
    b2bua._refresh_session(call.a)
    (reinvite,) = fake.requests_to(CALLER, "INVITE")
    assert reinvite.body == to_caller(fake, 200)[0].body  # unchanged: same o= version


@pytest.mark.asyncio
async def test_session_without_its_refresh_is_ended() -> None:
    b2bua, fake = await start_call(
        Trunk("plain", TRUNK[0], TRUNK[1]),
        invite_with(("Session-Expires", "120"), ("Supported", "timer")),
    )
    respond(fake, last(fake, "INVITE"), 200, CALLEE_SDP)
    caller_ack(fake)
    (call,) = b2bua.calls.values()
    assert call.a is not None
    b2bua._session_expired(call.a)  # what the timer runs at 120 − 32 s
    assert fake.requests_to(CALLER, "BYE") and fake.requests_to(TRUNK, "BYE")
    assert b2bua.calls == {}


# --------------------------------------------------------------------------- inbound auth, choice


@pytest.mark.asyncio
async def test_trunk_that_must_authenticate_is_challenged_then_let_in() -> None:
    t = Trunk("in", CALLER[0], 5060, inbound_credentials={"carrier": "s3"})
    plain = Trunk("out", TRUNK[0], TRUNK[1], default=True)
    table = TrunkTable.build([plain, t], resolve=False)
    b2bua, fake = await start_call(trunks=table)
    (r401,) = to_caller(fake, 401)
    assert fake.requests_to(TRUNK, "INVITE") == []
    client = DigestClient(Credentials("carrier", "s3"))
    from vts_masking.sip.uac import challenges_of

    answer = client.answer(challenges_of(r401), "INVITE", caller_invite().uri)
    assert answer is not None
    again = caller_invite()
    again.headers.set("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={new_branch()}")
    again.headers.set("CSeq", "2 INVITE")
    again.headers.add(*answer)
    fake.deliver(again, CALLER)
    await settle()
    assert len(fake.requests_to(TRUNK, "INVITE")) == 1
    assert b2bua.auth_stats["challenged"] == 1


@pytest.mark.asyncio
async def test_outbound_leg_leaves_through_the_trunk_serving_the_caller_id() -> None:
    other = ("192.0.2.77", 5070)
    table = TrunkTable.build(
        [
            Trunk("default", TRUNK[0], TRUNK[1], default=True),
            Trunk("mine", other[0], other[1], numbers=(V.lstrip("+")[:4],)),
        ],
        resolve=False,
    )
    _, fake = await start_call(trunks=table)
    assert fake.requests_to(TRUNK, "INVITE") == []
    (inv,) = fake.requests_to(other, "INVITE")
    assert inv.uri == f"sip:{CALLEE}@192.0.2.77:5070"
