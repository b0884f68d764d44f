"""RTP packets (RFC 3550) and telephone-events (RFC 4733), without I/O.

:func:`parse` / :meth:`RtpPacket.build` handle the whole fixed header, CSRC list, header
extension and padding. The relay's per-packet path does not build objects for every
packet: it reads the few header fields it needs with the small helpers at the end
(:func:`payload_type_of`, :func:`payload_offset`, …), which is why they exist.

Every malformed input raises :class:`RtpParseError` and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
HEADER_SIZE = 12
_HDR = struct.Struct("!BBHII")
_EVENT = struct.Struct("!BBH")


class RtpParseError(ValueError):
    """The bytes are not a well-formed RTP packet / telephone-event payload."""


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    #: (profile-defined 16 bits, extension data whose length is a multiple of 4) or None
    extension: tuple[int, bytes] | None = None
    #: number of padding octets to add on build / found on parse (0 = no padding)
    padding: int = 0
    version: int = field(default=RTP_VERSION)

    def build(self) -> bytes:
        if not 0 <= self.payload_type <= 127:
            raise ValueError("payload type out of range")
        if len(self.csrc) > 15:
            raise ValueError("at most 15 CSRC")
        b0 = (self.version << 6) | len(self.csrc)
        if self.padding:
            b0 |= 0x20
        if self.extension is not None:
            b0 |= 0x10
        b1 = (0x80 if self.marker else 0) | self.payload_type
        parts = [
            _HDR.pack(
                b0, b1, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF
            )
        ]
        parts.extend(struct.pack("!I", c & 0xFFFFFFFF) for c in self.csrc)
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise ValueError("extension data length must be a multiple of 4")
            parts.append(struct.pack("!HH", profile & 0xFFFF, len(data) // 4))
            parts.append(data)
        parts.append(self.payload)
        if self.padding:
            if not 1 <= self.padding <= 255:
                raise ValueError("padding must be 1..255 octets")
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def parse(data: bytes | bytearray | memoryview) -> RtpPacket:
    """Parse one RTP packet; raises :class:`RtpParseError` on anything malformed."""
    data = bytes(data)
    n = len(data)
    if n < HEADER_SIZE:
        raise RtpParseError("shorter than the RTP fixed header")
    b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
    version = b0 >> 6
    if version != RTP_VERSION:
        raise RtpParseError(f"RTP version {version}")
    cc = b0 & 0x0F
    off = HEADER_SIZE + 4 * cc
    if off > n:
        raise RtpParseError("CSRC list truncated")
    csrc = struct.unpack_from(f"!{cc}I", data, HEADER_SIZE) if cc else ()
    ext = None
    if b0 & 0x10:
        if off + 4 > n:
            raise RtpParseError("extension header truncated")
        profile, words = struct.unpack_from("!HH", data, off)
        off += 4
        if off + 4 * words > n:
            raise RtpParseError("extension data truncated")
        ext = (profile, data[off : off + 4 * words])
        off += 4 * words
    end = n
    pad = 0
    if b0 & 0x20:
        pad = data[-1]
        if pad == 0 or off + pad > n:
            raise RtpParseError("bad padding length")
        end = n - pad
    return RtpPacket(
        payload_type=b1 & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=data[off:end],
        marker=bool(b1 & 0x80),
        csrc=tuple(csrc),
        extension=ext,
        padding=pad,
        version=version,
    )


# --- RFC 4733 telephone-event -------------------------------------------------------

#: event code → DTMF character (RFC 4733 §3.2); 16 (flash) has no digit.
EVENT_DIGITS = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0
    reserved: bool = False

    @property
    def digit(self) -> str | None:
        return EVENT_DIGITS[self.event] if self.event < len(EVENT_DIGITS) else None

    def build(self) -> bytes:
        b1 = (0x80 if self.end else 0) | (0x40 if self.reserved else 0) | (self.volume & 0x3F)
        return _EVENT.pack(self.event & 0xFF, b1, self.duration & 0xFFFF)


def parse_telephone_event(payload: bytes | bytearray | memoryview) -> TelephoneEvent:
    """Parse the first event block of a telephone-event payload (later blocks, if any,
    are RFC 4733 §2.5.1.5 redundancy for earlier events and carry nothing new)."""
    if len(payload) < 4:
        raise RtpParseError("telephone-event payload shorter than 4 octets")
    event, b1, duration = _EVENT.unpack_from(bytes(payload[:4]))
    return TelephoneEvent(
        event=event,
        end=bool(b1 & 0x80),
        volume=b1 & 0x3F,
        duration=duration,
        reserved=bool(b1 & 0x40),
    )


def digit_to_event(digit: str) -> int:
    i = EVENT_DIGITS.find(digit.upper())
    if len(digit) != 1 or i < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return i


# --- sequence / timestamp arithmetic -------------------------------------------------


def seq_add(seq: int, n: int) -> int:
    return (seq + n) & 0xFFFF


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in 16-bit sequence space (-32768..32767)."""
    d = (a - b) & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d


def ts_add(ts: int, n: int) -> int:
    return (ts + n) & 0xFFFFFFFF


def ts_diff(a: int, b: int) -> int:
    """Signed distance a - b in 32-bit timestamp space."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d >= 0x80000000 else d


# --- header peeks for the hot path (caller guarantees len >= 12) -----------------------


def looks_like_rtp(data: bytes) -> bool:
    return len(data) >= HEADER_SIZE and data[0] >> 6 == RTP_VERSION


def payload_type_of(data: bytes) -> int:
    return data[1] & 0x7F


def timestamp_of(data: bytes) -> int:
    return int.from_bytes(data[4:8], "big")


def payload_offset(data: bytes) -> int:
    """Offset of the payload (after CSRC and extension); raises RtpParseError if short."""
    off = HEADER_SIZE + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if off + 4 > len(data):
            raise RtpParseError("extension header truncated")
        off += 4 + 4 * int.from_bytes(data[off + 2 : off + 4], "big")
    if off > len(data):
        raise RtpParseError("header longer than packet")
    return off


def payload_end(data: bytes) -> int:
    return len(data) - data[-1] if data[0] & 0x20 else len(data)
