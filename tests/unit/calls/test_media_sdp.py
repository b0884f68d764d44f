"""The SDP ↔ relay glue of the calls engine: which stream is relayed, what SDP is written."""

from __future__ import annotations

import asyncio

import pytest

from vts_masking.calls.media import CallMedia, describe
from vts_masking.media import crossing
from vts_masking.media.crossing import NotRelayable
from vts_masking.media.relay import PortAllocator
from vts_masking.sip.sdp import parse_sdp

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 18 8 0 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:4001\r\n"
    "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
)
CALLEE_ANSWER = (
    "v=0\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    "m=video 0 RTP/AVP 96\r\n"
)


def desc(text: str) -> crossing.Description:
    d = describe(text.encode())
    assert d is not None
    return d


def test_the_relayed_stream_is_the_first_audio_with_g711_in_the_phones_order() -> None:
    s = desc(OFFER).audio
    assert s is not None
    assert (s.host, s.port, s.audio, s.event_pt) == (
        "10.0.0.1",
        4000,
        ((8, "PCMA"), (0, "PCMU")),
        101,
    )


def test_an_offer_without_g711_cannot_be_relayed() -> None:
    d = desc(OFFER.replace(" 8 0 101", ""))
    assert d.audio is None
    with pytest.raises(NotRelayable) as exc:
        crossing.offer(d, "192.0.2.9", 20002)
    assert exc.value.status == 488


def test_static_payload_types_need_no_rtpmap() -> None:
    s = desc("v=0\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n").audio
    assert s is not None and (s.audio, s.event_pt) == (((0, "PCMU"),), None)


def test_our_offer_carries_only_g711_and_telephone_event_at_the_relay() -> None:
    text = crossing.offer(desc(OFFER), "192.0.2.9", 20002).to_bytes().decode()
    assert "m=audio 20002 RTP/AVP 8 0 101\r\n" in text
    assert "c=IN IP4 192.0.2.9\r\n" in text
    assert "m=video 0 RTP/AVP 96\r\n" in text
    for gone in ("10.0.0.1", "G729", "a=rtcp", "H264", "4000", "5000"):
        assert gone not in text, gone


def test_opus_and_g722_offered_first_end_up_on_g711() -> None:
    phone = (
        "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 111 9 0 8 101\r\n"
        "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1\r\na=rtpmap:9 G722/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
    text = crossing.offer(desc(phone), "192.0.2.9", 20002).to_bytes().decode()
    assert "m=audio 20002 RTP/AVP 0 8 101\r\n" in text
    assert "opus" not in text and "G722" not in text and "111" not in text


def test_the_other_law_is_offered_too_and_the_relay_transcodes() -> None:
    only_pcma = (
        "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
    )
    text = crossing.offer(desc(only_pcma), "192.0.2.9", 20002).to_bytes().decode()
    assert "m=audio 20002 RTP/AVP 8 0\r\n" in text


def test_our_answer_keeps_the_callers_numbers_and_lines() -> None:
    offer = desc(OFFER.replace(":101 ", ":97 ").replace(" 101", " 97"))
    choice = crossing.choose(offer, None, True)
    text = crossing.answer(offer, choice, "192.0.2.9", 20000).to_bytes().decode()
    assert "m=audio 20000 RTP/AVP 8 97\r\n" in text
    assert "a=rtpmap:8 PCMA/8000" in text and "a=rtpmap:97 telephone-event/8000" in text
    assert "m=video 0 " in text
    assert "c=IN IP4 192.0.2.9" in text


def test_our_own_offer_lists_both_laws_and_telephone_event() -> None:
    s = crossing.read(crossing.offer(None, "192.0.2.9", 20004)).audio
    assert s is not None
    assert (s.port, s.audio, s.event_pt, s.ptime) == (
        20004,
        ((0, "PCMU"), (8, "PCMA")),
        101,
        20,
    )


def test_a_session_level_direction_and_a_zero_address_hold_are_read() -> None:
    held = "v=0\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    s = desc(held).audio
    assert s is not None and (s.host, s.direction) == (None, "sendonly")
    inactive = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\n"
    s = desc(inactive).audio
    assert s is not None and s.direction == "inactive"


def test_a_format_of_non_ascii_digits_is_skipped_not_a_crash() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP \u00b2 0\r\na=rtpmap:\u00b2 PCMU/8000\r\n"
    )
    s = desc(sdp).audio
    assert s is not None and s.audio == ((0, "PCMU"),)


def test_srtp_audio_is_not_relayable() -> None:
    srtp = OFFER.replace("m=audio 4000 RTP/AVP", "m=audio 4000 RTP/SAVP")
    assert desc(srtp).audio is None


@pytest.mark.asyncio
async def test_offer_and_answer_set_both_relay_legs_and_point_each_side_at_its_own() -> None:
    ports = PortAllocator("127.0.0.1", 41000, 41099)
    media = CallMedia(ports)
    try:
        # the caller's offer, on its way to side b
        sd = media.rewrite("b", desc(OFFER), offer=True)
        assert media.relay.a.remote == ("10.0.0.1", 4000)
        assert sd.media[0].port == media.relay.b.local_port
        # the callee's answer (PCMU), on its way to side a
        out = media.rewrite("a", desc(CALLEE_ANSWER), offer=False)
        assert media.relay.b.remote == ("10.0.0.2", 7000)
        assert (media.relay.b.payload_type, media.relay.b.event_pt) == (0, 101)
        assert out.media[0].port == media.relay.a.local_port
        assert out.media[0].formats == ["0", "101"]  # the caller's numbers
        # the offerer will send what the answer chose
        assert (media.relay.a.payload_type, media.relay.a.codec) == (0, "PCMU")
        assert ports.in_use == 2
    finally:
        media.close()
    assert ports.in_use == 0
    await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_an_answer_in_a_law_the_caller_did_not_offer_is_transcoded() -> None:
    ports = PortAllocator("127.0.0.1", 41200, 41299)
    media = CallMedia(ports)
    try:
        only_pcma = (
            "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
            "a=rtpmap:8 PCMA/8000\r\n"
        )
        media.rewrite("b", desc(only_pcma), offer=True)
        out = media.rewrite("a", desc(CALLEE_ANSWER), offer=False)
        assert out.media[0].formats == ["8"]
        assert (media.relay.a.codec, media.relay.b.codec) == ("PCMA", "PCMU")
        assert media.relay.a.translate is not None
    finally:
        media.close()


@pytest.mark.asyncio
async def test_a_reinvite_to_a_new_address_moves_the_relay_leg() -> None:
    ports = PortAllocator("127.0.0.1", 41100, 41199)
    media = CallMedia(ports)
    try:
        media.rewrite("b", desc(OFFER), offer=True)
        media.rewrite("a", desc(CALLEE_ANSWER), offer=False)
        # the caller moves (re-INVITE with a new address), the callee answers as before
        moved = desc(OFFER.replace("10.0.0.1", "10.0.0.3").replace("4000", "4100"))
        sd = media.rewrite("b", moved, offer=True)
        assert media.relay.a.remote == ("10.0.0.3", 4100)
        assert media.relay.a.latched is None
        assert sd.media[0].port == media.relay.b.local_port
    finally:
        media.close()


@pytest.mark.asyncio
async def test_a_hold_crosses_as_a_direction_and_the_relay_keeps_the_address() -> None:
    ports = PortAllocator("127.0.0.1", 41300, 41399)
    media = CallMedia(ports)
    try:
        media.rewrite("b", desc(OFFER), offer=True)
        media.rewrite("a", desc(CALLEE_ANSWER), offer=False)
        hold = OFFER.replace("c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0")
        text = media.rewrite("b", desc(hold), offer=True).to_bytes().decode()
        assert "a=sendonly" in text and "c=IN IP4 127.0.0.1\r\n" in text
        assert media.relay.a.remote == ("10.0.0.1", 4000)
        answer = CALLEE_ANSWER.replace("m=video", "a=recvonly\r\nm=video")
        text = media.rewrite("a", desc(answer), offer=False).to_bytes().decode()
        assert "a=recvonly" in text
    finally:
        media.close()


@pytest.mark.asyncio
async def test_a_closed_relay_refuses_every_sdp() -> None:
    ports = PortAllocator("127.0.0.1", 41400, 41499)
    media = CallMedia(ports)
    media.close()
    with pytest.raises(NotRelayable):
        media.rewrite("b", desc(OFFER), offer=True)


def test_unreadable_sdp_describes_as_nothing() -> None:
    assert describe(b"this is no sdp") is None
    assert describe(b"") is None
    assert parse_sdp(OFFER).media[1].kind == "video"
