"""DTMF digits from RFC 4733 telephone-events and SIP INFO, and a PIN collector.

All sans-I/O: callers feed packets/bodies and pass ``now`` (monotonic seconds) in.

RFC 4733 senders repeat every event packet (start, updates with growing ``duration``,
and usually three copies of the final "end" packet), all with the same RTP timestamp —
the timestamp is the event's identity. :class:`TelephoneEventDetector` reports one
digit per distinct (SSRC, timestamp), on the first packet that arrives, whether that is
a start, an update or an end packet (the start can be lost).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from ..domain.coerce import is_number
from .rtp import EVENT_DIGITS, RtpParseError, parse_telephone_event

_REMEMBERED_EVENTS = 16


class TelephoneEventDetector:
    """Turns a stream of telephone-event packets into digits, one per event."""

    def __init__(self) -> None:
        self._seen: deque[tuple[int, int]] = deque(maxlen=_REMEMBERED_EVENTS)

    def feed(self, ssrc: int, timestamp: int, payload: bytes) -> str | None:
        """Return the digit if this packet starts a new event, else None."""
        try:
            ev = parse_telephone_event(payload)
        except RtpParseError:
            return None
        key = (ssrc, timestamp)
        if key in self._seen:
            return None
        self._seen.append(key)
        return ev.digit


_RELAY_SIGNAL = re.compile(r"^\s*signal\s*=\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def digit_from_sip_info(content_type: str, body: str | bytes) -> str | None:
    """The DTMF digit carried by a SIP INFO body, or None.

    ``application/dtmf-relay``: lines ``Signal=5`` / ``Duration=160``;
    ``application/dtmf``: the body is the digit itself (or its event code, "11" for '#').
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/dtmf-relay":
        m = _RELAY_SIGNAL.search(body)
        value = m.group(1) if m else ""
    elif ctype == "application/dtmf":
        value = body.strip()
    else:
        return None
    return _normalise_digit(value)


def _normalise_digit(value: str) -> str | None:
    if len(value) == 1 and value.upper() in EVENT_DIGITS:
        return value.upper()
    if is_number(value) and 10 <= int(value) < len(EVENT_DIGITS):
        return EVENT_DIGITS[int(value)]  # some phones send "Signal=11" for '#'
    return None


@dataclass(frozen=True, slots=True)
class PinResult:
    digits: str
    #: why collection ended: terminator pressed, max length reached, or a time-out
    #: ("timeout" with digits == "" means the caller pressed nothing at all)
    reason: Literal["terminator", "max_length", "timeout"]


@dataclass(slots=True)
class PinCollector:
    """Collects a PIN: digits until '#', ``max_length`` digits, or a time-out.

    ``first_digit_timeout`` runs from :meth:`start`; ``inter_digit_timeout`` from the last
    digit. Feed digits with :meth:`feed`, and call :meth:`poll` at :attr:`deadline` (or any
    time) to learn about a time-out. Both return a :class:`PinResult` once, when done.
    """

    max_length: int = 8
    inter_digit_timeout: float = 5.0
    first_digit_timeout: float = 10.0
    terminator: str | None = "#"
    digits: str = ""
    result: PinResult | None = None
    _deadline: float | None = field(default=None, repr=False)

    def start(self, now: float) -> None:
        self.digits = ""
        self.result = None
        self._deadline = now + self.first_digit_timeout

    @property
    def deadline(self) -> float | None:
        """When :meth:`poll` will time the collection out (None if not running)."""
        return None if self.result is not None else self._deadline

    @property
    def done(self) -> bool:
        return self.result is not None

    def feed(self, digit: str, now: float) -> PinResult | None:
        if self.result is not None or self._deadline is None:
            return None
        if now >= self._deadline:
            return self.poll(now)
        if self.terminator is not None and digit == self.terminator:
            return self._finish("terminator")
        self.digits += digit
        self._deadline = now + self.inter_digit_timeout
        if len(self.digits) >= self.max_length:
            return self._finish("max_length")
        return None

    def poll(self, now: float) -> PinResult | None:
        if self.result is None and self._deadline is not None and now >= self._deadline:
            return self._finish("timeout")
        return None

    def _finish(self, reason: Literal["terminator", "max_length", "timeout"]) -> PinResult:
        self.result = PinResult(self.digits, reason)
        return self.result
