"""Parser, serializer and framer of SIP messages."""

from __future__ import annotations

import pytest

from tests.unit.sip.samples import INVITE
from vts_masking.sip.message import (
    Headers,
    Request,
    Response,
    SipParseError,
    StreamFramer,
    make_response,
    parse_message,
    parse_name_addr,
    parse_uri,
    parse_via,
)


def test_parses_request_line_headers_and_body():
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.uri == "sip:+15550001@127.0.0.1:5060"
    assert msg.call_id == "cid-1@10.0.0.1"
    assert msg.cseq.number == 1 and msg.cseq.method == "INVITE"
    assert msg.body.startswith(b"v=0")
    assert len(msg.body) == 130


def test_header_lookup_is_case_insensitive_and_understands_compact_forms():
    raw = (
        b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"f: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: c1\r\nCSEQ: 7 OPTIONS\r\nl: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    assert msg.headers.get("Via") == "SIP/2.0/UDP h;branch=z9hG4bK1"
    assert msg.headers.get("call-id") == "c1"
    assert msg.headers.get("FROM") == "<sip:x@y>;tag=1"
    assert msg.cseq.number == 7


def test_multiple_vias_in_one_line_and_several_lines_are_listed_in_order():
    raw = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a:1;branch=z9hG4bK1, SIP/2.0/TCP b:2;branch=x\r\n"
        b"Via: SIP/2.0/UDP c;received=1.2.3.4\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n"
        b"Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    assert isinstance(msg, Response)
    assert [v.host for v in msg.vias] == ["a", "b", "c"]
    assert msg.vias[1].transport == "TCP"
    assert msg.vias[2].params["received"] == "1.2.3.4"
    assert msg.top_via.branch == "z9hG4bK1"


def test_via_parameters_and_sent_by():
    via = parse_via("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx;rport;received=9.9.9.9")
    assert via.sent_by == ("10.0.0.1", 5060)
    assert via.params == {"branch": "z9hG4bKx", "rport": None, "received": "9.9.9.9"}
    assert str(via) == "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx;rport;received=9.9.9.9"


def test_name_addr_with_quoted_display_uri_params_and_tag():
    na = parse_name_addr('"Alice \\"A\\"" <sip:+1444@10.0.0.1:5070;user=phone>;tag=abc')
    assert na.display == 'Alice "A"'
    assert na.uri.user == "+1444"
    assert na.uri.port == 5070
    assert na.uri.params == {"user": "phone"}
    assert na.tag == "abc"


def test_addr_spec_parameters_belong_to_the_header():
    na = parse_name_addr("sip:bob@example.com;tag=77")
    assert na.tag == "77"
    assert na.uri.params == {}


def test_uri_with_password_ipv6_and_headers():
    u = parse_uri("sips:bob:pw@[2001:db8::1]:5071;transport=tcp?subject=hi")
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips",
        "bob",
        "pw",
        "[2001:db8::1]",
        5071,
    )
    assert u.hostport == ("2001:db8::1", 5071)
    assert u.headers == "subject=hi"
    assert str(u) == "sips:bob:pw@[2001:db8::1]:5071;transport=tcp?subject=hi"


def test_tel_uri_keeps_number_as_user():
    assert parse_uri("tel:+15550001;phone-context=x").user == "+15550001"


def test_content_length_truncates_extra_bytes_of_a_datagram():
    msg = parse_message(INVITE + b"garbage")
    assert len(msg.body) == 130


def test_short_body_is_a_parse_error_with_the_partial_message():
    with pytest.raises(SipParseError) as err:
        parse_message(INVITE[:-10])
    assert isinstance(err.value.partial, Request)


def test_missing_mandatory_header_is_a_parse_error():
    raw = INVITE.replace(b"Call-ID: cid-1@10.0.0.1\r\n", b"")
    with pytest.raises(SipParseError):
        parse_message(raw)


def test_cseq_method_must_match_request_method():
    with pytest.raises(SipParseError):
        parse_message(INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"))


def test_folded_header_lines_are_joined():
    raw = INVITE.replace(b"Max-Forwards: 70\r\n", b"Subject: hello\r\n  world\r\n")
    assert parse_message(raw).headers.get("subject") == "hello world"


def test_serialize_round_trips_and_sets_content_length():
    msg = parse_message(INVITE)
    msg.body = b"v=0\r\n"
    again = parse_message(msg.to_bytes())
    assert again.body == b"v=0\r\n"
    assert again.headers.get("content-length") == "5"
    assert again.headers.get("from") == msg.headers.get("from")


def test_make_response_copies_dialog_headers_and_adds_to_tag():
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    resp = make_response(req, 180, to_tag="ours")
    parsed = parse_message(resp.to_bytes())
    assert isinstance(parsed, Response)
    assert parsed.status == 180 and parsed.reason == "Ringing"
    assert parsed.to.tag == "ours"
    assert parsed.top_via.branch == "z9hG4bKabc1"
    assert parsed.call_id == req.call_id


def test_headers_set_replaces_all_and_remove_first_pops_list_element():
    h = Headers([("Via", "a, b"), ("Route", "<sip:r1;lr>"), ("Via", "c")])
    h.remove_first("via")
    assert h.get_all("via") == ["b", "c"]
    h.set("via", "z")
    assert h.get_all("via") == ["z"]


def test_stream_framer_splits_and_reassembles_messages():
    framer = StreamFramer()
    data = b"\r\n\r\n" + INVITE + INVITE
    out = []
    for i in range(0, len(data), 37):
        out += framer.feed(data[i : i + 37])
    assert len(out) == 2
    assert all(m.body.startswith(b"v=0") for m in out)
    assert framer.pending == 0


def test_stream_framer_rejects_garbage():
    with pytest.raises(SipParseError):
        StreamFramer().feed(b"HELLO\r\n\r\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5070", ("127.0.0.1", 5070)),
        ("trunk.example", ("trunk.example", 5060)),
        ("[::1]:5080", ("::1", 5080)),
        ("[2001:db8::2]", ("2001:db8::2", 5060)),
    ],
)
def test_parse_hostport(text, expected):
    from vts_masking.sip.transport import parse_hostport

    assert parse_hostport(text) == expected


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"CSeq: 1 INVITE", "CSeq: \u00b2 INVITE".encode()),
        (b"Content-Length: 130", "Content-Length: 1\u00b2".encode()),
        (b"127.0.0.1:5060 SIP", "127.0.0.1:\u0663 SIP".encode()),
    ],
)
def test_unicode_digits_are_parse_errors_not_crashes(old, new):
    with pytest.raises(SipParseError):
        msg = parse_message(INVITE.replace(old, new))
        msg.parsed_uri  # noqa: B018


def test_a_stream_with_a_5000_digit_content_length_is_a_parse_error() -> None:
    from vts_masking.sip.message import SipParseError, StreamFramer

    head = (
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n"
    )
    with pytest.raises(SipParseError, match="Content-Length"):
        StreamFramer().feed(head)
