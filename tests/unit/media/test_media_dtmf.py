"""DTMF detection (RFC 4733, SIP INFO) and the PIN collector."""

import pytest

from vts_masking.media.dtmf import (
    PinCollector,
    PinResult,
    TelephoneEventDetector,
    digit_from_sip_info,
)
from vts_masking.media.rtp import TelephoneEvent


def _event_packets(event: int, ts: int) -> list[bytes]:
    # start, two updates, three end copies — as phones send them
    return [TelephoneEvent(event, duration=d).build() for d in (160, 320, 480)] + [
        TelephoneEvent(event, end=True, duration=640).build()
    ] * 3


def test_one_digit_per_event_despite_repeats_and_end_copies():
    det = TelephoneEventDetector()
    got = [det.feed(1, 1000, p) for p in _event_packets(5, 1000)]
    assert [d for d in got if d] == ["5"]


def test_same_digit_twice_is_two_events_by_timestamp():
    det = TelephoneEventDetector()
    digits = [det.feed(1, ts, p) for ts in (1000, 3000) for p in _event_packets(1, ts)]
    assert [d for d in digits if d] == ["1", "1"]


def test_event_with_lost_start_is_reported_from_end_packet():
    det = TelephoneEventDetector()
    assert det.feed(1, 500, TelephoneEvent(11, end=True, duration=800).build()) == "#"


def test_late_duplicate_of_earlier_event_is_ignored():
    det = TelephoneEventDetector()
    det.feed(1, 1000, TelephoneEvent(1).build())
    det.feed(1, 2000, TelephoneEvent(2).build())
    assert det.feed(1, 1000, TelephoneEvent(1, end=True).build()) is None


def test_flash_event_and_garbage_give_no_digit():
    det = TelephoneEventDetector()
    assert det.feed(1, 1, TelephoneEvent(16).build()) is None
    assert det.feed(1, 2, b"\x01") is None


@pytest.mark.parametrize(
    ("ctype", "body", "digit"),
    [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay", "signal= #\nDuration=100", "#"),
        ("application/dtmf-relay", b"Signal=11\r\nDuration=160", "#"),
        ("Application/DTMF-Relay; charset=utf-8", "Signal=*\r\n", "*"),
        ("application/dtmf", "5", "5"),
        ("application/dtmf", "10\r\n", "*"),
        ("application/dtmf", "a", "A"),
        ("application/dtmf-relay", "Duration=160", None),
        ("application/dtmf", "55", None),
        ("text/plain", "Signal=5", None),
    ],
)
def test_sip_info_bodies(ctype, body, digit):
    assert digit_from_sip_info(ctype, body) == digit


def test_pin_ends_on_terminator():
    pc = PinCollector(max_length=8)
    pc.start(now=0.0)
    for i, d in enumerate("1234"):
        assert pc.feed(d, now=1.0 + i) is None
    assert pc.feed("#", now=5.0) == PinResult("1234", "terminator")
    assert pc.done


def test_pin_ends_at_max_length():
    pc = PinCollector(max_length=4)
    pc.start(0.0)
    results = [pc.feed(d, 0.1) for d in "4321"]
    assert results[-1] == PinResult("4321", "max_length")


def test_pin_inter_digit_timeout():
    pc = PinCollector(inter_digit_timeout=3.0, first_digit_timeout=10.0)
    pc.start(0.0)
    pc.feed("1", 2.0)
    assert pc.deadline == 5.0
    assert pc.poll(4.9) is None
    assert pc.poll(5.0) == PinResult("1", "timeout")


def test_pin_first_digit_timeout_with_nothing_pressed():
    pc = PinCollector(first_digit_timeout=10.0)
    pc.start(100.0)
    assert pc.poll(109.0) is None
    assert pc.poll(110.0) == PinResult("", "timeout")


def test_digit_after_deadline_is_a_timeout_not_a_digit():
    pc = PinCollector(inter_digit_timeout=1.0)
    pc.start(0.0)
    pc.feed("1", 0.5)
    assert pc.feed("2", 2.0) == PinResult("1", "timeout")


def test_result_is_reported_once_and_digits_after_are_ignored():
    pc = PinCollector(max_length=1)
    pc.start(0.0)
    assert pc.feed("9", 0.1) is not None
    assert pc.feed("8", 0.2) is None
    assert pc.poll(100.0) is None
    assert pc.deadline is None


def test_restart_clears_digits():
    pc = PinCollector(max_length=2)
    pc.start(0.0)
    pc.feed("1", 0.1)
    pc.start(1.0)
    pc.feed("2", 1.1)
    assert pc.feed("3", 1.2) == PinResult("23", "max_length")


def test_no_terminator_means_hash_is_a_digit():
    pc = PinCollector(max_length=2, terminator=None)
    pc.start(0.0)
    pc.feed("#", 0.1)
    assert pc.feed("1", 0.2) == PinResult("#1", "max_length")


def test_a_signal_of_non_ascii_digits_is_no_digit() -> None:
    assert digit_from_sip_info("application/dtmf-relay", "Signal=\u00b9\u00b9\r\n") is None
