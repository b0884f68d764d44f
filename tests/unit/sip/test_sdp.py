"""SDP parsing and per-leg rewriting."""

from __future__ import annotations

import pytest

from vts_masking.sip.sdp import SdpError, parse_sdp, rewrite_origin

SDP = (
    b"v=0\r\no=alice 2890844526 2890844527 IN IP4 10.0.0.1\r\ns=Secret Session\r\n"
    b"c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\nm=video 51372 RTP/AVP 31\r\n"
    b"c=IN IP4 10.0.0.2\r\na=rtpmap:31 H261/90000\r\n"
)


def test_parses_session_and_media_sections():
    sd = parse_sdp(SDP)
    assert sd.connection == "10.0.0.1"
    assert [m.kind for m in sd.media] == ["audio", "video"]
    assert sd.media[0].formats == ["0", "101"]
    assert sd.media[0].direction == "sendrecv"
    assert sd.media_address(0) == ("10.0.0.1", 49170)
    assert sd.media_address(1) == ("10.0.0.2", 51372)


def test_round_trip_keeps_every_line():
    assert parse_sdp(SDP).to_bytes() == SDP


def test_rewrite_origin_drops_the_original_origin_entirely():
    out = rewrite_origin(SDP, 42, 7, "192.0.2.9")
    assert b"o=- 42 7 IN IP4 192.0.2.9\r\n" in out
    assert b"alice" not in out and b"2890844526" not in out


def test_connection_rewrite_per_media_and_session():
    sd = parse_sdp(SDP)
    sd.set_connection("192.0.2.1", 1)
    sd.media[1].port = 40000
    assert sd.media_address(1) == ("192.0.2.1", 40000)
    sd.set_connection("192.0.2.5")
    out = sd.to_bytes()
    assert b"10.0.0." not in out.replace(b"o=alice 2890844526 2890844527 IN IP4 10.0.0.1", b"")


def test_ipv6_connection_gets_ip6_prefix():
    sd = parse_sdp(SDP)
    sd.set_connection("2001:db8::1")
    assert b"c=IN IP6 2001:db8::1" in sd.to_bytes()


@pytest.mark.parametrize("bad", [b"", b"hello", b"v=0\r\nm=audio x RTP/AVP 0\r\n", b"\xff=1"])
def test_garbage_is_an_sdp_error(bad):
    with pytest.raises(SdpError):
        parse_sdp(bad)
