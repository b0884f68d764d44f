"""Fuzz stage (issue 11): properties of the parsers bad input reaches first.

Each parser either returns a value or raises its own one error type — never anything
else (an uncaught ``ValueError`` from ``int()`` is a 500 in the API and a dropped
datagram or a dead connection on the SIP edge). Inputs mix random bytes and text with
the shapes the attack found: numbers of thousands of digits, lone surrogates, NUL,
deep nesting, non-ASCII digits.
"""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import ANY_CHAR, HOSTILE_TEXT, HOSTILE_VALUE
from tests.unit.sip.samples import INVITE
from vts_masking.api.parsing import check_text, parse_json
from vts_masking.domain import coerce, outbound, phone, session_params
from vts_masking.domain.errors import InvalidParameter
from vts_masking.sip.message import SipParseError, StreamFramer, parse_message
from vts_masking.sip.sdp import SdpError, parse_sdp, rewrite_origin

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SIP_HEADERS = ["Content-Length", "l", "CSeq", "Max-Forwards", "Expires", "Via", "From", "To"]


# -- SIP ---------------------------------------------------------------------------------


def _with_header(name: str, value: bytes) -> bytes:
    head, _, body = INVITE.partition(b"\r\n\r\n")
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith(name.lower().encode() + b":")
    ]
    return b"\r\n".join([*lines, name.encode() + b": " + value]) + b"\r\n\r\n" + body


@FUZZ
@given(
    name=st.sampled_from(SIP_HEADERS),
    value=st.one_of(
        st.integers(0, 6000).map(lambda n: b"9" * n),
        st.binary(max_size=60),
        st.text(ANY_CHAR, max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    ),
)
def test_sip_headers_with_huge_or_odd_values_raise_only_sip_parse_error(
    name: str, value: bytes
) -> None:
    data = _with_header(name, value.replace(b"\r", b"").replace(b"\n", b""))
    with contextlib.suppress(SipParseError):
        parse_message(data).to_bytes()
    with contextlib.suppress(SipParseError):
        StreamFramer().feed(data)


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.sampled_from([INVITE, b"\r\n\r\n", b"Content-Length: " + b"7" * 5000 + b"\r\n"]),
        ),
        max_size=6,
    )
)
def test_a_tcp_stream_of_anything_raises_only_sip_parse_error(chunks: list[bytes]) -> None:
    framer = StreamFramer()
    try:
        for chunk in chunks:
            for msg in framer.feed(chunk):
                msg.to_bytes()
    except SipParseError:
        pass


# -- SDP ---------------------------------------------------------------------------------

SDP = (
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


@FUZZ
@given(
    cut=st.integers(0, len(SDP)),
    insert=st.text(ANY_CHAR, max_size=40),
)
def test_sdp_rewriting_of_mutated_offers_raises_only_sdp_error(cut: int, insert: str) -> None:
    body = (SDP[:cut] + insert + SDP[cut:]).encode("utf-8", "surrogatepass")
    try:
        rewrite_origin(body, 1, 2, "192.0.2.1")
        parse_sdp(body).to_bytes()
    except SdpError:
        pass


# -- the API's parsers -----------------------------------------------------------------


@FUZZ
@given(st.one_of(st.binary(max_size=300), HOSTILE_VALUE.map(lambda v: json.dumps(v).encode())))
def test_a_body_parses_or_is_refused_with_a_precise_400(raw: bytes) -> None:
    try:
        data = parse_json(raw)
        if isinstance(data, dict):
            check_text(data)
    except InvalidParameter as exc:
        assert exc.status == 400 and exc.message


@FUZZ
@given(depth=st.integers(1, 3000), comma=st.booleans())
def test_nesting_of_any_depth_is_parsed_or_refused(depth: int, comma: bool) -> None:
    raw = ("[" * depth + ("1," if comma else "") + "]" * depth).encode()
    try:
        parse_json(raw)
    except InvalidParameter as exc:
        assert "nested deeper" in exc.message or exc.message == "Invalid JSON body."


@FUZZ
@given(value=HOSTILE_VALUE)
def test_every_reader_returns_or_refuses_naming_the_parameter(value: object) -> None:
    readers = [
        lambda v: coerce.integer("p", v),
        lambda v: coerce.bounded("p", v, 1, 100),
        lambda v: coerce.boolean("p", v),
        lambda v: coerce.url("p", v),
        lambda v: coerce.text("p", v),
        lambda v: coerce.digits("p", v, 4, 15),
        lambda v: coerce.choice("p", v, ("mp3", "wav"), upper=False),
    ]
    for read in readers:
        try:
            read(value)
        except InvalidParameter as exc:
            assert exc.message.startswith("Invalid parameter. p ")


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from([*session_params.CreateParams.__dataclass_fields__]),
        HOSTILE_VALUE,
        max_size=8,
    )
)
def test_session_parameters_validate_or_refuse(body: dict) -> None:
    for parse in (session_params.parse_create, session_params.parse_update):
        with contextlib.suppress(InvalidParameter):
            parse(body)


@FUZZ
@given(text=HOSTILE_TEXT)
def test_phone_numbers_normalise_or_are_invalid(text: str) -> None:
    try:
        e164 = phone.normalize(text)
    except phone.InvalidNumber:
        return
    assert e164.isascii() and e164[1:].isdigit()


@FUZZ
@given(
    url=st.one_of(
        HOSTILE_TEXT,
        st.builds(
            lambda host, rest: f"http://{host}/{rest}",
            st.one_of(st.text(ANY_CHAR, max_size=20), st.ip_addresses().map(str)),
            st.text(ANY_CHAR, max_size=10),
        ),
    )
)
def test_outbound_urls_parse_or_are_refused(url: str) -> None:
    try:
        target = outbound.parse(url)
    except outbound.UnsafeUrl:
        return
    outbound.host_problem(target)
    assert target.host and 0 < target.port < 65536
