"""RTP and telephone-event parse/build."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vts_masking.media import rtp
from vts_masking.media.rtp import RtpPacket, RtpParseError, TelephoneEvent


def test_build_then_parse_roundtrips_all_fields():
    pkt = RtpPacket(
        payload_type=8,
        sequence=65535,
        timestamp=0xFFFFFFF0,
        ssrc=0xDEADBEEF,
        payload=b"\x01" * 160,
        marker=True,
        csrc=(1, 2, 3),
        extension=(0xBEDE, b"\x10\xaa\0\0"),
        padding=4,
    )
    data = pkt.build()
    assert len(data) == 12 + 12 + 4 + 4 + 160 + 4
    assert rtp.parse(data) == pkt


def test_parse_minimal_header():
    data = bytes([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0, 0, 0, 7]) + b"\xff" * 160
    p = rtp.parse(data)
    assert (p.payload_type, p.sequence, p.timestamp, p.ssrc) == (0, 1, 160, 7)
    assert not p.marker and p.payload == b"\xff" * 160


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00",
        bytes([0x40]) + bytes(11),  # version 1
        bytes([0x83]) + bytes(11),  # 3 CSRC missing
        bytes([0x90]) + bytes(11),  # extension header missing
        bytes([0x90]) + bytes(11) + b"\x00\x00\x00\x05",  # extension data missing
        bytes([0xA0]) + bytes(11),  # padding length 0
        bytes([0xA0]) + bytes(10) + b"\x20",  # padding longer than packet
    ],
)
def test_malformed_packets_raise_rtp_parse_error(data):
    with pytest.raises(RtpParseError):
        rtp.parse(data)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_nothing_but_rtp_parse_error(data):
    with contextlib.suppress(RtpParseError):
        rtp.parse(data)


@given(st.binary(max_size=12))
def test_arbitrary_event_payload_raises_nothing_but_rtp_parse_error(data):
    with contextlib.suppress(RtpParseError):
        rtp.parse_telephone_event(data)


@given(
    pt=st.integers(0, 127),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=64),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    padding=st.integers(0, 255),
)
def test_any_valid_packet_roundtrips(pt, seq, ts, ssrc, payload, marker, csrc, padding):
    pkt = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrc), None, padding)
    assert rtp.parse(pkt.build()) == pkt


def test_hot_path_peeks_agree_with_parse():
    pkt = RtpPacket(101, 5, 123456, 9, b"abcd", csrc=(1,), extension=(1, b"1234"), padding=3)
    data = pkt.build()
    assert rtp.payload_type_of(data) == 101
    assert rtp.timestamp_of(data) == 123456
    assert data[rtp.payload_offset(data) : rtp.payload_end(data)] == b"abcd"


def test_telephone_event_roundtrip():
    ev = TelephoneEvent(event=11, end=True, volume=10, duration=800)
    assert ev.build() == bytes([11, 0x8A, 0x03, 0x20])
    assert rtp.parse_telephone_event(ev.build()) == ev
    assert ev.digit == "#"


def test_telephone_event_digits_map_rfc4733_codes():
    assert [TelephoneEvent(i).digit for i in range(17)] == [*list("0123456789*#ABCD"), None]
    assert rtp.digit_to_event("*") == 10
    with pytest.raises(ValueError):
        rtp.digit_to_event("x")


def test_sequence_and_timestamp_arithmetic_wraps():
    assert rtp.seq_add(65535, 1) == 0
    assert rtp.seq_diff(0, 65535) == 1
    assert rtp.seq_diff(65535, 0) == -1
    assert rtp.ts_add(0xFFFFFFFF, 160) == 159
    assert rtp.ts_diff(159, 0xFFFFFFFF) == 160
    assert rtp.ts_diff(0, 160) == -160
