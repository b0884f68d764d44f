"""Property: the parser never raises anything but SipParseError, whatever it is fed."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.sip.samples import INVITE
from vts_masking.sip.message import SipParseError, StreamFramer, parse_message


def _parse_fully(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    # Whatever parsed must also serialise and expose its structured headers.
    msg.to_bytes()
    for attr in ("vias", "cseq", "from_", "to", "call_id"):
        getattr(msg, attr)
    with contextlib.suppress(SipParseError):
        msg.from_.uri  # noqa: B018
    with contextlib.suppress(SipParseError):
        msg.to.uri  # noqa: B018
    for attr in ("contact", "parsed_uri"):
        with contextlib.suppress(SipParseError):
            getattr(msg, attr, None)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_sip_parse_error(data: bytes) -> None:
    _parse_fully(data)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(INVITE) - 1), st.integers(0, 255), st.sampled_from("rdi")),
        min_size=1,
        max_size=8,
    )
)
def test_mutated_valid_messages_raise_only_sip_parse_error(edits) -> None:
    data = bytearray(INVITE)
    for pos, byte, op in edits:
        pos = min(pos, len(data) - 1) if data else 0
        if op == "r" and data:
            data[pos] = byte
        elif op == "d" and data:
            del data[pos]
        else:
            data.insert(pos, byte)
    _parse_fully(bytes(data))


_PIECES = [
    b"INVITE sip:a@b SIP/2.0\r\n",
    b"SIP/2.0 200 OK\r\n",
    b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n",
    b"v: SIP/2.0/UDP [::1]:99999\r\n",
    b"From: <sip:x@y>;tag=1\r\n",
    b'f: "q\\" <sip:@>\r\n',
    b"To: sip:a@b\r\n",
    b"Call-ID: c\r\n",
    b"CSeq: 1 INVITE\r\n",
    b"CSeq: 99999999999 INVITE\r\n",
    b"Content-Length: 3\r\n",
    b"l: -1\r\n",
    b"Contact: *\r\n",
    b"Contact: <sip:a@[zz]>\r\n",
    b" folded\r\n",
    b"\r\n",
    b"abc",
    b"\xff\xfe",
    b"CSeq: \xc2\xb2 INVITE\r\n",  # '²': str.isdigit() says yes, int() says no
    b"l: \xc2\xb2\r\n",
    b"Via: SIP/2.0/UDP h:\xd9\xa3;branch=z9hG4bK2\r\n",
    b"INVITE sip:a@b:\xc2\xb9 SIP/2.0\r\n",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_plausible_garbage_raises_only_sip_parse_error(pieces) -> None:
    data = b"".join(pieces)
    _parse_fully(data)
    with contextlib.suppress(SipParseError):
        StreamFramer().feed(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_sdp_parser_raises_only_sdp_error(text: str) -> None:
    from vts_masking.sip.sdp import SdpError, parse_sdp

    with contextlib.suppress(SdpError):
        parse_sdp(text).to_bytes()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 200), min_size=1, max_size=20))
def test_stream_framer_yields_the_same_messages_however_the_stream_is_cut(cuts) -> None:
    data = INVITE * 3
    framer = StreamFramer()
    out = []
    pos = 0
    for n in cuts:
        out += framer.feed(data[pos : pos + n])
        pos += n
    out += framer.feed(data[pos:])
    assert [m.to_bytes() for m in out] == [parse_message(INVITE).to_bytes()] * 3
