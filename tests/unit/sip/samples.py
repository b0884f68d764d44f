"""Shared SIP samples for the unit tests."""

from __future__ import annotations

INVITE = (
    b"INVITE sip:+15550001@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5061;branch=z9hG4bKabc1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice Secret" <sip:+14445556666@10.0.0.1>;tag=ftag1\r\n'
    b"To: <sip:+15550001@127.0.0.1>\r\n"
    b"Call-ID: cid-1@10.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@10.0.0.1:5061>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 130\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 10.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 10.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)
