"""The SDP ↔ relay glue of the calls engine: which stream is relayed, how SDP is rewritten."""

from __future__ import annotations

import asyncio

import pytest

from vts_masking.calls.media import CallMedia, answer_sdp, audio_stream, offer_sdp, point_at
from vts_masking.media.relay import PortAllocator
from vts_masking.sip.sdp import parse_sdp

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 18 8 0 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:4001\r\n"
    "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
)


def test_audio_stream_picks_the_first_g711_format_and_telephone_event() -> None:
    s = audio_stream(parse_sdp(OFFER))
    assert s is not None
    assert (s.index, s.host, s.port, s.payload_type, s.codec, s.event_pt) == (
        0,
        "10.0.0.1",
        4000,
        8,
        "PCMA",
        101,
    )


def test_audio_stream_is_none_without_g711() -> None:
    sdp = OFFER.replace(" 8 0 101", "")
    assert audio_stream(parse_sdp(sdp)) is None


def test_static_payload_types_need_no_rtpmap() -> None:
    sdp = "v=0\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
    s = audio_stream(parse_sdp(sdp))
    assert s is not None and (s.payload_type, s.codec, s.event_pt) == (0, "PCMU", None)


def test_point_at_sends_the_audio_to_the_relay_and_declines_other_streams() -> None:
    sd = parse_sdp(OFFER)
    point_at(sd, 0, "192.0.2.9", 20002)
    text = sd.to_bytes().decode()
    assert "10.0.0.1" not in text.split("o=")[1].split("\n", 1)[1]
    assert "m=audio 20002 RTP/AVP 18 8 0 101" in text
    assert "m=video 0 " in text
    assert "a=rtcp:" not in text


def test_our_answer_keeps_the_callers_numbers() -> None:
    offer = parse_sdp(OFFER)
    s = audio_stream(offer)
    assert s is not None
    text = answer_sdp(offer, s, "192.0.2.9", 20000).to_bytes().decode()
    assert "m=audio 20000 RTP/AVP 8 101" in text
    assert "a=rtpmap:8 PCMA/8000" in text and "a=rtpmap:101 telephone-event/8000" in text
    assert "m=video 0 " in text
    assert "c=IN IP4 192.0.2.9" in text


def test_our_offer_lists_both_laws_and_telephone_event() -> None:
    s = audio_stream(offer_sdp("192.0.2.9", 20004))
    assert s is not None and (s.port, s.payload_type, s.event_pt) == (20004, 0, 101)


@pytest.mark.asyncio
async def test_offer_and_answer_set_both_relay_legs_and_point_each_side_at_its_own() -> None:
    ports = PortAllocator("127.0.0.1", 41000, 41099)
    media = CallMedia(ports)
    try:
        # the caller's offer, on its way to side b
        sd = parse_sdp(OFFER)
        media.rewrite("b", sd)
        assert media.relay.a.remote == ("10.0.0.1", 4000)
        assert sd.media[0].port == media.relay.b.local_port
        # the callee's answer (PCMU only), on its way to side a
        answer = parse_sdp(
            "v=0\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
        )
        media.rewrite("a", answer)
        assert media.relay.b.remote == ("10.0.0.2", 7000)
        assert answer.media[0].port == media.relay.a.local_port
        # the offerer will send what the answer chose
        assert (media.relay.a.payload_type, media.relay.a.codec) == (0, "PCMU")
        assert ports.in_use == 2
    finally:
        media.close()
    assert ports.in_use == 0
    await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_a_reinvite_to_a_new_address_moves_the_relay_leg() -> None:
    ports = PortAllocator("127.0.0.1", 41100, 41199)
    media = CallMedia(ports)
    try:
        media.rewrite("b", parse_sdp(OFFER))
        media.rewrite(
            "a",
            parse_sdp("v=0\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n"),
        )
        # the caller moves (re-INVITE with a new address), the callee answers as before
        moved = parse_sdp(OFFER.replace("10.0.0.1", "10.0.0.3").replace("4000", "4100"))
        media.rewrite("b", moved)
        assert media.relay.a.remote == ("10.0.0.3", 4100)
        assert media.relay.a.latched is None
        assert moved.media[0].port == media.relay.b.local_port
    finally:
        media.close()


def test_a_format_of_non_ascii_digits_is_skipped_not_a_crash() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP \u00b2 0\r\na=rtpmap:\u00b2 PCMU/8000\r\n"
    ).encode()
    stream = audio_stream(parse_sdp(sdp))
    assert stream is not None and stream.payload_type == 0
