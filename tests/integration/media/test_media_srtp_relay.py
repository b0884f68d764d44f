"""SRTP legs in the relay on real UDP sockets: one leg SRTP, the other plain, both ways;
the SDP each leg gets (calls/media.py through media/crossing.py) carries only our keys.

The phones here are UDP sockets of the test holding the keys a real phone would: the key
it offered (to seal what it sends) and the key our SDP gave it (to open what it gets)."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.media.test_media_relay import (  # noqa: F401 - an autouse fixture
    _close_phones,
    audio_packet,
    free_even_range,
    phone,
)
from vts_masking.calls.media import CallMedia, describe
from vts_masking.media import rtp
from vts_masking.media.crossing import NotRelayable
from vts_masking.media.relay import PortAllocator
from vts_masking.media.srtp import SrtpLeg, crypto_attributes, offer_crypto
from vts_masking.sip.sdp import parse_sdp


@pytest.fixture
def ports() -> PortAllocator:
    lo, hi = free_even_range()
    return PortAllocator("127.0.0.1", lo, hi)


def sdp(port: int, proto: str = "RTP/AVP", crypto: str = "") -> bytes:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {port} {proto} 0",
        "a=rtpmap:0 PCMU/8000",
    ]
    if crypto:
        lines.append(f"a={crypto}")
    return ("\r\n".join(lines) + "\r\n").encode()


def keys_in(body: bytes) -> list:
    sd = parse_sdp(body)
    return crypto_attributes(sd.media[0].lines)


@pytest.mark.asyncio
async def test_srtp_caller_and_plain_callee_hear_each_other(ports: PortAllocator) -> None:
    media = CallMedia(ports)
    pa, pb = await phone(), await phone()
    a_key = offer_crypto(["AES_CM_128_HMAC_SHA1_80"])[0]
    offer = describe(sdp(pa.addr[1], "RTP/SAVP", a_key.value()))
    assert offer is not None
    to_b = media.rewrite("b", offer, True).to_bytes()
    assert b"crypto" not in to_b and b"RTP/SAVP" not in to_b  # the caller's key stays
    assert a_key.value().split("inline:")[1].encode() not in to_b
    answer = describe(sdp(pb.addr[1]))
    assert answer is not None
    to_a = media.rewrite("a", answer, False).to_bytes()
    (ours,) = keys_in(to_a)
    assert b"RTP/SAVP" in to_a and ours.key != a_key.key and ours.tag == a_key.tag
    media.bridge()
    phone_a = SrtpLeg(ours, a_key)  # the caller opens with our key, seals with its own
    relay = media.relay
    sent = [audio_packet(i, bytes([i]) * 160) for i in range(1, 6)]
    for p in sent:
        pa.send(phone_a.protect(p) or b"", relay.a.local_address)
    await pb.wait_for(5)
    assert [p.payload for p in pb.packets()] == [rtp.parse(p).payload for p in sent]
    back = [audio_packet(i, bytes([50 + i]) * 160, ssrc=0x2222) for i in range(1, 6)]
    for p in back:
        pb.send(p, relay.b.local_address)
    await pa.wait_for(5)
    opened = [phone_a.unprotect(d) for _, d in pa.received]
    assert all(o is not None for o in opened)
    assert [rtp.parse(o).payload for o in opened if o] == [rtp.parse(p).payload for p in back]
    assert all(d != o for (_, d), o in zip(pa.received, opened, strict=True))  # sealed
    media.close()


@pytest.mark.asyncio
async def test_plain_caller_and_srtp_trunk_with_separate_keys(ports: PortAllocator) -> None:
    media = CallMedia(ports)
    pa, pb = await phone(), await phone()
    to_b = media.rewrite("b", describe(sdp(pa.addr[1])), True, srtp="require").to_bytes()  # type: ignore[arg-type]
    (offered,) = [k for k in keys_in(to_b) if k.suite == "AES_CM_128_HMAC_SHA1_80"]
    assert b"RTP/SAVP" in to_b
    b_key = offer_crypto(["AES_CM_128_HMAC_SHA1_80"])[0]
    answer_line = f"crypto:{offered.tag} {b_key.suite} inline:" + b_key.value().split("inline:")[1]
    to_a = media.rewrite(
        "a",
        describe(sdp(pb.addr[1], "RTP/SAVP", answer_line)),
        False,  # type: ignore[arg-type]
    ).to_bytes()
    assert b"crypto" not in to_a and b"RTP/SAVP" not in to_a
    media.bridge()
    trunk = SrtpLeg(offered, b_key)
    relay = media.relay
    for i in range(1, 4):
        pb.send(trunk.protect(audio_packet(i, b"\x11" * 160)) or b"", relay.b.local_address)
    await pa.wait_for(3)
    assert all(p.payload == b"\x11" * 160 for p in pa.packets())
    media.close()


@pytest.mark.asyncio
async def test_required_srtp_answered_without_a_key_is_refused(ports: PortAllocator) -> None:
    media = CallMedia(ports)
    pa, pb = await phone(), await phone()
    media.rewrite("b", describe(sdp(pa.addr[1])), True, srtp="require")  # type: ignore[arg-type]
    with pytest.raises(NotRelayable) as err:
        media.rewrite("a", describe(sdp(pb.addr[1])), False)  # type: ignore[arg-type]
    assert err.value.status == 488
    media.close()


@pytest.mark.asyncio
async def test_packets_sealed_with_another_key_are_dropped_not_relayed(
    ports: PortAllocator,
) -> None:
    media = CallMedia(ports)
    pa, pb = await phone(), await phone()
    a_key = offer_crypto(["AES_CM_128_HMAC_SHA1_80"])[0]
    media.rewrite("b", describe(sdp(pa.addr[1], "RTP/SAVP", a_key.value())), True)  # type: ignore[arg-type]
    to_a = media.rewrite("a", describe(sdp(pb.addr[1])), False).to_bytes()  # type: ignore[arg-type]
    (ours,) = keys_in(to_a)
    media.bridge()
    intruder = SrtpLeg(ours, offer_crypto(["AES_CM_128_HMAC_SHA1_80"])[0])
    pa.send(intruder.protect(audio_packet(1, b"\x22" * 160)) or b"", media.relay.a.local_address)
    pa.send(audio_packet(2, b"\x22" * 160), media.relay.a.local_address)  # plain: refused too
    await asyncio.sleep(0.2)
    assert pb.received == [] and media.relay.a.srtp is not None
    assert media.relay.a.srtp.rejected == 2
    media.close()


@pytest.mark.asyncio
async def test_prompt_played_into_an_srtp_leg_is_sealed_with_that_legs_key(
    ports: PortAllocator,
) -> None:
    media = CallMedia(ports)
    pa, pb = await phone(), await phone()
    a_key = offer_crypto(["AES_CM_128_HMAC_SHA1_80"])[0]
    media.rewrite("b", describe(sdp(pa.addr[1], "RTP/SAVP", a_key.value())), True)  # type: ignore[arg-type]
    to_a = media.rewrite("a", describe(sdp(pb.addr[1])), False).to_bytes()  # type: ignore[arg-type]
    (ours,) = keys_in(to_a)
    frames = [bytes([0x10 + i]) * 160 for i in range(5)]
    played = await media.relay.play("A", frames)
    await pa.wait_for(5)
    phone_a = SrtpLeg(ours, a_key)
    opened = [phone_a.unprotect(d) for _, d in pa.received]
    assert played and all(o is not None for o in opened)
    assert [rtp.parse(o).payload for o in opened if o] == frames
    media.close()
