"""Property: nothing of one phone's SDP (or SIP headers) reaches the other phone.

Hypothesis writes random SDPs — every line type RFC 4566 knows and the attributes real
phones send (ssrc/cname, msid, label, mid, ICE, extmap, fingerprint, crypto, rtcp with an
address, unknown ones), codecs beyond G.711 — with a marker string, a marker address and
a marker port that may sit in any line, any field and any attribute, and a caller whose
SIP headers carry the marker too. The call goes through the real B2BUA (over a fake
transport) and the real relay glue (``CallMedia`` with relay sockets on loopback), both
ways: the caller's offer to the callee, the callee's answer to the caller. Whatever the
other side received (every byte of every message) must not contain the markers.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.sip.test_b2bua_flows import CALLER, TRUNK, FakeTransport
from vts_masking.calls.b2bua import B2BUA, Bridge, InboundCall, Leg
from vts_masking.calls.media import CallMedia
from vts_masking.media.crossing import Description
from vts_masking.media.relay import PortAllocator
from vts_masking.sip.message import make_response, parse_message
from vts_masking.sip.sdp import SessionDescription

# Marker values: a word, an address and a port our own output can never contain by chance.
WORD = {"a": "zqxalice", "b": "zqxbob"}
ADDR = {"a": "198.51.100.77", "b": "198.51.100.88"}
PORT = {"a": "47113", "b": "47227"}  # outside the relay ports used here
RELAY_PORTS = (41500, 41599)


def marked(side: str, normal: str) -> st.SearchStrategy[str]:
    """``normal`` (most often, so that most calls get through), or a value of this slot
    carrying one of ``side``'s markers."""
    w = WORD[side]
    return st.sampled_from([normal] * 10 + [w, normal + w, w + normal, ADDR[side], PORT[side]])


def attribute(side: str) -> st.SearchStrategy[str]:
    w, ip, port = WORD[side], ADDR[side], PORT[side]
    return st.one_of(
        st.builds(
            lambda pt, enc: f"rtpmap:{pt} {enc}/8000", marked(side, "0"), marked(side, "PCMU")
        ),
        st.builds(lambda v: f"fmtp:101 {v}", marked(side, "0-15")),
        st.builds(lambda v: f"fmtp:0 {v}", marked(side, "annexb=no")),
        st.builds(lambda v: f"ptime:{v}", marked(side, "20")),
        st.builds(lambda v: f"maxptime:{v}", marked(side, "40")),
        st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive", "sendrecv" + w]),
        st.just(f"ssrc:1503989818 cname:sip:+14155552345@{ip}:{port}"),
        st.just(f"ssrc:1503989818 cname:{w}"),
        st.just(f"msid:{w} {w}-audio"),
        st.just(f"label:{w}"),
        st.just(f"mid:{w}"),
        st.just(f"candidate:1 1 UDP 2130706431 {ip} {port} typ host"),
        st.just(f"ice-ufrag:{w}"),
        st.just(f"ice-pwd:{w}{w}{w}"),
        st.just(f"extmap:1 urn:{w}:ssrc-audio-level"),
        st.just(f"fingerprint:sha-256 {w}:AB:CD"),
        st.just(f"setup:{w}"),
        st.just(f"crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{w}"),
        st.just(f"rtcp:{port} IN IP4 {ip}"),
        st.just("rtcp-mux"),
        st.just(f"rtcp-fb:* {w}"),
        st.just(f"tool:{w} 1.0"),
        st.just(f"{w}:{w}"),
        st.just(w),
    )


def media_section(side: str, audio: bool) -> st.SearchStrategy[list[str]]:
    if audio:
        formats = st.sampled_from(["0", "8 0 101", "111 9 0 8 101", "0 " + WORD[side], "18 8"])
        kind, proto = st.just("audio"), st.sampled_from(["RTP/AVP", "RTP/AVP", "RTP/AVPF"])
    else:
        formats = st.sampled_from(["96", "t38", WORD[side]])
        kind = marked(side, "video")
        proto = marked(side, "RTP/AVP")
    base = [
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:9 G722/8000",
    ]
    return st.builds(
        lambda k, port, pr, f, extra, attrs: [
            f"m={k} {port} {pr} {f}",
            *extra,
            *(base if audio else []),
            *(f"a={a}" for a in attrs),
        ],
        kind,
        st.sampled_from(["4000"] * 12 + [PORT[side], "4000/2", WORD[side]]),
        proto,
        formats,
        st.lists(
            st.sampled_from(
                [
                    f"i={WORD[side]}",
                    f"c=IN IP4 {ADDR[side]}",
                    f"b=AS:{PORT[side]}",
                    f"k=clear:{WORD[side]}",
                ]
            ),
            max_size=3,
        ),
        st.lists(attribute(side), max_size=8),
    )


def sdp(side: str) -> st.SearchStrategy[bytes]:
    w, ip = WORD[side], ADDR[side]
    session = st.builds(
        lambda user, name, extra, attrs: [
            "v=0",
            f"o={user} 2890844526 2890842807 IN IP4 {ip}",
            f"s={name}",
            *extra,
            f"c=IN IP4 {ip}",
            "t=0 0",
            *(f"a={a}" for a in attrs),
        ],
        marked(side, "-"),
        marked(side, "-"),
        st.lists(
            st.sampled_from(
                [
                    f"i={w}",
                    f"u=http://{w}.example",
                    f"e={w}@example.com",
                    f"p=+1 {w}",
                    f"b=CT:{PORT[side]}",
                    f"z=0 {w}",
                    "k=prompt",
                    f"r={w}",
                ]
            ),
            max_size=4,
        ),
        st.lists(attribute(side), max_size=4),
    )
    sections = st.tuples(
        media_section(side, True),
        st.lists(st.one_of(media_section(side, False), media_section(side, True)), max_size=2),
    )
    return st.builds(
        lambda sess, ms: (
            "\r\n".join(sess + ms[0] + [x for m in ms[1] for x in m]) + "\r\n"
        ).encode(),
        session,
        sections,
    )


def caller_invite(body: bytes) -> bytes:
    w, ip, port = WORD["a"], ADDR["a"], PORT["a"]
    head = (
        "INVITE sip:+15550001@192.0.2.10:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.1:5061;branch=z9hG4bK{w};rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "{w}" <sip:+14445556666@{ip}:{port}>;tag={w}\r\n'
        "To: <sip:+15550001@192.0.2.10>\r\n"
        f"Call-ID: {w}@{ip}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:{w}@{ip}:{port}>\r\n"
        f"User-Agent: {w}/1.0\r\n"
        f"P-Asserted-Identity: <sip:{w}@{ip}>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def leaked(side: str, messages: list[bytes]) -> list[str]:
    seen = b"".join(messages)
    return [m for m in (WORD[side], ADDR[side], PORT[side]) if m.encode() in seen]


async def one_call(offer: bytes, answer: bytes) -> tuple[list[bytes], list[bytes]]:
    fake = FakeTransport()
    ports = PortAllocator("127.0.0.1", *RELAY_PORTS)
    media: list[CallMedia] = []

    def hook(leg: Leg, desc: Description, is_offer: bool) -> SessionDescription:
        if not media:
            media.append(CallMedia(ports))
        return media[0].rewrite(leg.side, desc, is_offer)

    async def router(call: InboundCall):
        return Bridge(number="+15550002", caller_id="+15550001")

    B2BUA(router, trunk=TRUNK, transport=fake, sdp_rewriter=hook)  # type: ignore[arg-type]
    inv = parse_message(caller_invite(offer))
    fake.deliver(inv, CALLER)
    for _ in range(5):
        await asyncio.sleep(0)
    out = fake.requests_to(TRUNK, "INVITE")
    if out:
        extra = (
            ("Contact", f"<sip:{WORD['b']}@{ADDR['b']}:{PORT['b']}>"),
            ("Server", f"{WORD['b']}/2"),
            ("Content-Type", "application/sdp"),
        )
        resp = make_response(
            out[0], 200, f"OK {WORD['b']}", to_tag=WORD["b"], extra=extra, body=answer
        )
        fake.deliver(resp, TRUNK)
    for m in media:
        m.close()
    to_callee = [m.to_bytes() for m in fake.to(TRUNK)]
    to_caller = [m.to_bytes() for m in fake.to(CALLER)]
    return to_callee, to_caller


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offer=sdp("a"), answer=sdp("b"))
def test_no_marker_of_one_phone_reaches_the_other(offer: bytes, answer: bytes) -> None:
    to_callee, to_caller = asyncio.run(one_call(offer, answer))
    answered = any(m.startswith(b"SIP/2.0 200") and b"m=audio" in m for m in to_caller)
    event("the callee's answer reached the caller" if answered else "refused")
    assert leaked("a", to_callee) == []
    assert leaked("b", to_caller) == []
