"""RFC 3261 §17 transaction machines and the transaction layer, in simulated time."""

from __future__ import annotations

import itertools

from tests.unit.sip.samples import INVITE
from vts_masking.sip.message import Headers, Request, Response, make_response, parse_message
from vts_masking.sip.transaction import (
    T1,
    T2,
    T4,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    RequestReceived,
    ResponseReceived,
    Send,
    ServerInviteTransaction,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
    build_cancel,
)

PEER = ("10.0.0.1", 5061)


def invite() -> Request:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    return msg


def request(method: str, branch: str = "z9hG4bKnon1", to_tag: str | None = None) -> Request:
    h = Headers()
    h.add("Via", f"SIP/2.0/UDP 10.0.0.1:5061;branch={branch}")
    h.add("From", "<sip:a@h>;tag=f1")
    h.add("To", "<sip:b@h>" + (f";tag={to_tag}" if to_tag else ""))
    h.add("Call-ID", "cid-1@10.0.0.1")
    h.add("CSeq", f"2 {method}")
    return Request(method, "sip:b@h", h)


def parsed(message):
    """A sent message; retransmittable ones travel already serialised."""
    return parse_message(message) if isinstance(message, bytes) else message


def sends(actions) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def run_until(txn, end: float, start: float = 0.0):
    """Fire every timer up to ``end``; return [(time, action)]."""
    out = []
    while True:
        d = txn.next_deadline()
        if d is None or d > end:
            return out
        out += [(d, a) for a in txn.on_timer(d)]


def test_client_invite_retransmits_on_timer_a_doubling_until_timer_b():
    txn = ClientInviteTransaction(invite(), PEER)
    assert len(sends(txn.start(0.0))) == 1
    events = run_until(txn, 100.0)
    times = [t for t, a in events if isinstance(a, Send)]
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [type(a) for t, a in events if t == 64 * T1][-2:] == [
        TransactionTimeout,
        TransactionTerminated,
    ]
    assert txn.terminated


def test_client_invite_over_tcp_never_retransmits():
    txn = ClientInviteTransaction(invite(), PEER, "tcp")
    txn.start(0.0)
    events = run_until(txn, 100.0)
    assert not [a for _, a in events if isinstance(a, Send)]
    assert any(isinstance(a, TransactionTimeout) for _, a in events)


def test_client_invite_provisional_stops_retransmissions_and_timer_b():
    txn = ClientInviteTransaction(invite(), PEER)
    txn.start(0.0)
    out = txn.on_response(make_response(invite(), 180, to_tag="t"), 0.1)
    assert isinstance(out[0], ResponseReceived)
    assert txn.state == "proceeding"
    assert txn.next_deadline() is None


def test_client_invite_failure_is_acked_and_retransmitted_final_reacked():
    txn = ClientInviteTransaction(invite(), PEER)
    txn.start(0.0)
    busy = make_response(invite(), 486, to_tag="t")
    out = txn.on_response(busy, 0.2)
    ack = parsed(sends(out)[0].message)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.top_via.branch == "z9hG4bKabc1"
    assert ack.to.tag == "t"
    assert [type(a) for a in out] == [Send, ResponseReceived]
    again = txn.on_response(busy, 0.3)
    assert len(sends(again)) == 1 and len(again) == 1  # absorbed, ACK repeated
    assert txn.next_deadline() == 0.2 + 32.0


def test_client_invite_2xx_goes_to_accepted_and_passes_retransmissions_to_tu():
    txn = ClientInviteTransaction(invite(), PEER)
    txn.start(0.0)
    ok = make_response(invite(), 200, to_tag="t")
    assert [type(a) for a in txn.on_response(ok, 0.1)] == [ResponseReceived]
    assert txn.state == "accepted"
    assert [type(a) for a in txn.on_response(ok, 0.6)] == [ResponseReceived]
    assert [type(a) for a in txn.on_timer(0.1 + 64 * T1)] == [TransactionTerminated]


def test_client_non_invite_timer_e_caps_at_t2_and_timer_f_times_out():
    txn = ClientNonInviteTransaction(request("BYE"), PEER)
    txn.start(0.0)
    events = run_until(txn, 40.0)
    times = [t for t, a in events if isinstance(a, Send)]
    assert times[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]
    assert all(b - a == T2 for a, b in itertools.pairwise(times[3:]))
    assert any(isinstance(a, TransactionTimeout) for _, a in events)


def test_client_non_invite_proceeding_retransmits_every_t2_then_waits_timer_k():
    txn = ClientNonInviteTransaction(request("BYE"), PEER)
    txn.start(0.0)
    txn.on_response(make_response(request("BYE"), 100), 0.1)
    assert txn.on_timer(0.5) and txn.next_deadline() == 0.5 + T2
    out = txn.on_response(make_response(request("BYE"), 200), 1.0)
    assert isinstance(out[0], ResponseReceived)
    assert txn.next_deadline() == 1.0 + T4


def test_server_invite_failure_retransmitted_until_ack_then_confirmed():
    txn = ServerInviteTransaction(invite(), PEER)
    resp = make_response(invite(), 486, to_tag="x")
    assert len(sends(txn.respond(resp, 0.0))) == 1
    events = run_until(txn, 5.0)
    assert [t for t, a in events if isinstance(a, Send)] == [0.5, 1.5, 3.5]
    ack = request("ACK", "z9hG4bKabc1", "x")
    txn.on_request(ack, 5.0)
    assert txn.state == "confirmed"
    assert [type(a) for a in txn.on_timer(5.0 + T4)] == [TransactionTerminated]


def test_server_invite_failure_without_ack_times_out_on_timer_h():
    txn = ServerInviteTransaction(invite(), PEER)
    txn.respond(make_response(invite(), 603, to_tag="x"), 0.0)
    events = run_until(txn, 100.0)
    assert any(isinstance(a, TransactionTimeout) for _, a in events)


def test_server_invite_2xx_retransmitted_until_ack_received():
    txn = ServerInviteTransaction(invite(), PEER)
    txn.respond(make_response(invite(), 200, to_tag="x"), 0.0)
    assert sends(txn.on_timer(0.5))
    txn.ack_received()
    events = run_until(txn, 100.0)
    assert not [a for _, a in events if isinstance(a, Send)]
    assert not [a for _, a in events if isinstance(a, TransactionTimeout)]
    assert txn.terminated


def test_server_invite_retransmitted_invite_repeats_last_provisional():
    txn = ServerInviteTransaction(invite(), PEER)
    txn.respond(make_response(invite(), 100), 0.0)
    out = txn.on_request(invite(), 0.2)
    assert isinstance(sends(out)[0].message, Response)


def test_layer_absorbs_retransmitted_invite_and_delivers_once():
    layer = TransactionLayer()
    first = layer.receive(invite(), PEER, "udp", 0.0)
    assert [type(a) for a in first] == [RequestReceived]
    txn = first[0].txn
    layer.respond(txn, make_response(invite(), 100), 0.0)
    again = layer.receive(invite(), PEER, "udp", 0.5)
    assert [type(a) for a in again] == [Send]


def test_layer_matches_cancel_to_its_invite():
    layer = TransactionLayer()
    inv_txn = layer.receive(invite(), PEER, "udp", 0.0)[0].txn
    cancel = build_cancel(invite())
    out = layer.receive(cancel, PEER, "udp", 0.1)
    assert isinstance(out[0], RequestReceived)
    assert out[0].request.method == "CANCEL"
    assert out[0].cancelled is inv_txn
    assert out[0].txn is not inv_txn


def test_layer_absorbs_ack_for_failure_and_delivers_ack_for_2xx_once():
    layer = TransactionLayer()
    txn = layer.receive(invite(), PEER, "udp", 0.0)[0].txn
    layer.respond(txn, make_response(invite(), 200, to_tag="x"), 0.0)
    ack = request("ACK", "z9hG4bKotherbranch", "x")
    ack.headers.set("CSeq", "1 ACK")
    ack.invalidate()
    out = layer.receive(ack, PEER, "udp", 0.1)
    assert [type(a) for a in out] == [RequestReceived]
    assert out[0].txn is txn and txn.acked
    assert layer.receive(ack, PEER, "udp", 0.2) == []

    layer2 = TransactionLayer()
    txn2 = layer2.receive(invite(), PEER, "udp", 0.0)[0].txn
    layer2.respond(txn2, make_response(invite(), 486, to_tag="x"), 0.0)
    ack2 = request("ACK", "z9hG4bKabc1", "x")
    ack2.headers.set("CSeq", "1 ACK")
    ack2.invalidate()
    assert layer2.receive(ack2, PEER, "udp", 0.1) == []
    assert txn2.state == "confirmed"


def test_layer_routes_responses_by_branch_and_method_and_reports_strays():
    layer = TransactionLayer()
    txn, out = layer.send_request(invite(), PEER, "udp", 0.0)
    assert isinstance(out[0], Send)
    got = layer.receive(make_response(invite(), 180, to_tag="t"), PEER, "udp", 0.1)
    assert got[0].txn is txn
    stray = make_response(request("BYE", "z9hG4bKnobody"), 200)
    assert layer.receive(stray, PEER, "udp", 0.2)[0].txn is None


def test_layer_timer_heap_fires_due_transactions_and_forgets_terminated_ones():
    layer = TransactionLayer()
    layer.send_request(request("OPTIONS"), PEER, "udp", 0.0)
    assert layer.next_deadline() == T1
    fired = []
    while (d := layer.next_deadline()) is not None:
        fired += layer.on_timer(d)
    assert any(isinstance(a, TransactionTimeout) for a in fired)
    assert len(layer) == 0


def test_non_invite_server_repeats_final_for_retransmitted_request():
    layer = TransactionLayer()
    txn = layer.receive(request("BYE"), PEER, "udp", 0.0)[0].txn
    layer.respond(txn, make_response(request("BYE"), 200), 0.0)
    out = layer.receive(request("BYE"), PEER, "udp", 0.3)
    assert [type(a) for a in out] == [Send]
    assert parsed(out[0].message).status == 200


def test_transport_error_fails_client_transactions_to_that_address_at_once():
    layer = TransactionLayer()
    txn, _ = layer.send_request(invite(), PEER, "tcp", 0.0)
    other, _ = layer.send_request(request("OPTIONS"), ("10.0.0.9", 5060), "tcp", 0.0)
    out = layer.transport_error(PEER, "tcp", 0.1)
    assert [type(a) for a in out] == [TransactionTimeout, TransactionTerminated]
    assert out[0].txn is txn and not other.terminated


def test_layer_deadline_follows_timers_cleared_and_rearmed():
    layer = TransactionLayer()
    layer.send_request(invite(), PEER, "udp", 0.0)
    assert layer.next_deadline() == T1
    layer.receive(make_response(invite(), 180, to_tag="t"), PEER, "udp", 0.1)
    assert layer.next_deadline() is None  # A and B stop on a provisional
    layer.receive(make_response(invite(), 486, to_tag="t"), PEER, "udp", 2.0)
    assert layer.next_deadline() == 2.0 + 32.0  # Timer D
    assert [type(a) for a in layer.on_timer(34.0)] == [TransactionTerminated]
    assert len(layer) == 0 and layer.next_deadline() is None


def test_responses_tell_the_client_its_received_address_and_rport():
    layer = TransactionLayer()
    req = invite()  # top Via: 10.0.0.1:5061;branch=z9hG4bKabc1;rport
    txn = layer.receive(req, ("203.0.113.5", 40000), "udp", 0.0)[0].txn
    out = layer.respond(txn, make_response(txn.request, 100), 0.0)
    via = parsed(sends(out)[0].message).top_via
    assert via.params["received"] == "203.0.113.5" and via.params["rport"] == "40000"
    assert via.branch == "z9hG4bKabc1"
    # and a retransmission from the same place still matches the transaction
    again = layer.receive(invite(), ("203.0.113.5", 40000), "udp", 0.2)
    assert [type(a) for a in again] == [Send]
