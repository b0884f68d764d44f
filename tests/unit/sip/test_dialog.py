"""Dialog creation, in-dialog requests and CSeq checks."""

from __future__ import annotations

import pytest

from tests.unit.sip.samples import INVITE
from vts_masking.sip.dialog import Dialog, DialogError
from vts_masking.sip.message import Request, make_response, parse_message

OUR_CONTACT = "<sip:vts@127.0.0.1:5060>"


def invite() -> Request:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    return msg


def ok_with(*extra: tuple[str, str]):
    return make_response(
        invite(), 200, to_tag="btag", extra=(("Contact", "<sip:b@10.9.9.9>"), *extra)
    )


def test_uas_dialog_takes_remote_target_from_contact_and_tags_from_request():
    d = Dialog.as_uas(invite(), OUR_CONTACT, "mytag")
    assert d.id == ("cid-1@10.0.0.1", "mytag", "ftag1")
    assert d.remote_target == "sip:alice@10.0.0.1:5061"
    assert d.remote_cseq == 1


def test_uac_dialog_route_set_is_reversed_record_route():
    resp = ok_with(("Record-Route", "<sip:p2;lr>, <sip:p1;lr>"))
    d = Dialog.as_uac(invite(), resp)
    assert d.route_set == ("<sip:p1;lr>", "<sip:p2;lr>")
    assert d.remote_tag == "btag" and d.local_tag == "ftag1"
    bye = d.create_request("BYE", "SIP/2.0/UDP me;branch=z9hG4bK9")
    assert bye.uri == "sip:b@10.9.9.9"
    assert bye.headers.get_all("route") == ["<sip:p1;lr>", "<sip:p2;lr>"]


def test_uac_dialog_needs_to_tag():
    with pytest.raises(DialogError):
        Dialog.as_uac(invite(), make_response(invite(), 200))


def test_in_dialog_requests_increment_cseq_and_carry_tags():
    d = Dialog.as_uas(invite(), OUR_CONTACT, "mytag")
    bye = d.create_request("BYE", "SIP/2.0/UDP me;branch=z9hG4bK1")
    reinv = d.create_request("INVITE", "SIP/2.0/UDP me;branch=z9hG4bK2", b"v=0\r\n")
    assert bye.cseq.number == 1 and reinv.cseq.number == 2
    assert bye.from_.tag == "mytag" and bye.to.tag == "ftag1"
    assert bye.from_.uri.user == "+15550001"  # our side is the dialled number
    assert reinv.headers.get("contact") == OUR_CONTACT
    assert reinv.headers.get("content-type") == "application/sdp"


def test_ack_for_2xx_reuses_the_invite_cseq():
    d = Dialog.as_uac(invite(), ok_with())
    ack = d.create_ack(1, "SIP/2.0/UDP me;branch=z9hG4bK3")
    assert ack.method == "ACK" and ack.cseq.number == 1 and ack.cseq.method == "ACK"
    with pytest.raises(DialogError):
        d.create_request("ACK", "SIP/2.0/UDP me;branch=z9hG4bK4")


def test_remote_cseq_must_increase():
    d = Dialog.as_uas(invite(), OUR_CONTACT, "mytag")
    req = invite()
    req.headers.set("CSeq", "1 INVITE")
    req.invalidate()
    assert not d.check_remote_cseq(req)
    req.headers.set("CSeq", "5 INVITE")
    req.invalidate()
    assert d.check_remote_cseq(req)
    assert d.remote_cseq == 5


def test_dialog_matches_only_its_own_requests():
    d = Dialog.as_uas(invite(), OUR_CONTACT, "mytag")
    bye = Dialog.as_uac(invite(), ok_with()).create_request("BYE", "SIP/2.0/UDP x;branch=z9hG4bK5")
    assert not d.matches(bye)  # tags point the other way


def test_strict_route_puts_target_last():
    resp = ok_with(("Record-Route", "<sip:strict.example>"))
    d = Dialog.as_uac(invite(), resp)
    bye = d.create_request("BYE", "SIP/2.0/UDP me;branch=z9hG4bK1")
    assert bye.uri == "sip:strict.example"
    assert bye.headers.get_all("route") == ["<sip:b@10.9.9.9>"]
