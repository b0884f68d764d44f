"""What of one party may reach the other: the one allow-list, for SDP and for RTP.

Every SDP the service sends is *written* here, never passed through, and every RTP
packet the relay forwards gets its header written here. To answer "can X of party A
reach party B?", read this file: if X is not named below, it cannot.

**SDP.** A phone's SDP is first reduced by :func:`read` to a :class:`Description` — plain
values checked against fixed sets — and only a ``Description`` is used to write the SDP
the other leg receives (:func:`offer`, :func:`answer`, :func:`decline`, :func:`direct`).
What is taken from a phone's SDP:

- per ``m=`` line: its media kind (one of :data:`KINDS`, else ``application``), transport
  profile (one of :data:`PROTOS`, else ``RTP/AVP``) and first format (a number 0–127 or
  ``t38``, else ``0``) — used only to decline that line in the same place;
- for an audio line: its port and connection address (handed to the relay to send to,
  never written to the other leg), its G.711 formats (``PCMU/8000``, ``PCMA/8000``, the
  static 0/8 without ``rtpmap``) in its order of preference, its ``telephone-event/8000``
  format with the event list of its ``fmtp`` (digits, ``-`` and ``,`` only), its direction
  (``sendrecv``/``sendonly``/``recvonly``/``inactive``, media or session level; a
  ``c=0.0.0.0`` hold counts as ``sendonly``), ``ptime`` and ``maxptime`` (whole numbers
  1–1000).

**SRTP (SDES).** A phone's ``a=crypto`` lines (RFC 4568) are read into its stream —
like its address, for its own relay leg only (the key that opens its packets) — and are
never written to the other leg: the SDP sent to an SRTP leg carries a key of our own
(:func:`offer` and :func:`answer` take it), the SDP sent to a plain leg carries none.
``RTP/SAVP`` (and ``RTP/SAVPF``) is relayable when a usable crypto line comes with it.

Everything else never crosses: ``o=`` (ours: ``-``, our session id and version, our
address), ``s=`` (``-``), ``i=``/``u=``/``e=``/``p=``, ``b=``, ``k=``, ``z=``, ``t=``/``r=``
(ours: ``t=0 0``), every other attribute (``ssrc``, ``cname``, ``msid``, ``label``, ``mid``,
``tool``, ICE ``candidate``/``ice-*``, ``extmap``, ``fingerprint``, ``setup``, ``crypto``,
``rtcp``, ``rtcp-mux``, ``rtcp-fb``, ``rtpmap``/``fmtp`` text, unknown ones), and any codec
other than G.711 and telephone-event: offers to a phone carry only what the relay and the
recorder handle (PCMU, PCMA, telephone-event), so a phone offering opus or G.722 first
ends up on G.711. Offers use our own payload type numbers (0, 8, 101): not even the
other phone's numbering crosses. The address in every SDP is the relay's; the only
exception is :func:`direct`, for a bare B2BUA without a relay (tests and the signalling
benchmark), which the service never uses: a call it cannot relay is refused.

**SIP INFO** (relayed in a bridged call): only a DTMF digit crosses, written again by
:func:`info_body` as ``application/dtmf-relay``; any other body is refused (415). Of
the SIP messages themselves nothing is relayed but methods and status codes: the B2BUA
writes every header of each leg (``calls/b2bua.py``).

**RTP.** :class:`RtpStream` is the one stream the relay sends to a phone. A forwarded
packet keeps only its payload (the voice, transcoded or not, or a telephone-event), its
marker bit and the *distances* between its sequence numbers and timestamps; its header is
ours: version 2, no padding (stripped: padding octets can carry anything), no header
extension, no CSRC list, the payload type the receiving phone negotiated, our SSRC (one
per leg for the whole call, prompts included), our sequence numbers and timestamps
(their bases ours; a new source, a prompt or a forwarded stream after a prompt, continues
our numbering). Packets of any other payload type (comfort noise, RTCP sent to the RTP
port, unknown ones) are dropped. RTCP is never relayed: each leg's RTCP port is bound and
never read, and the relay sends no RTCP of its own.
"""

from __future__ import annotations

import ipaddress
import random
import re
import struct
from dataclasses import dataclass, replace
from typing import Literal

from ..sip.sdp import Media, SessionDescription
from .dtmf import digit_from_sip_info
from .srtp import CryptoAttribute, crypto_attributes

__all__ = [
    "DIRECTIONS",
    "KINDS",
    "PROTOS",
    "Description",
    "NotRelayable",
    "RtpStream",
    "Stream",
    "answer",
    "decline",
    "direct",
    "info_body",
    "offer",
    "read",
]

Codec = Literal["PCMU", "PCMA"]

#: media kinds written back when a line is declined (RFC 4566 §5.14, RFC 8866)
KINDS = frozenset({"audio", "video", "text", "application", "message", "image"})
#: transport profiles written back when a line is declined
PROTOS = frozenset(
    {
        "RTP/AVP",
        "RTP/AVPF",
        "RTP/SAVP",
        "RTP/SAVPF",
        "UDP/TLS/RTP/SAVP",
        "UDP/TLS/RTP/SAVPF",
        "UDP/DTLS/SCTP",
        "TCP/DTLS/SCTP",
        "udptl",
        "UDP",
        "TCP",
    }
)
#: profiles the relay can carry: plain RTP (AVPF is AVP plus feedback we never send)
RELAYABLE = frozenset({"RTP/AVP", "RTP/AVPF"})
#: SRTP profiles the relay carries when the stream has a usable SDES key (a=crypto)
SECURE = frozenset({"RTP/SAVP", "RTP/SAVPF"})
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
#: what a direction answers (RFC 3264 §6.1)
ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
#: our payload type numbers in every offer we write
OUR_PT: dict[str, int] = {"PCMU": 0, "PCMA": 8, "telephone-event": 101}
#: the static payload types that need no rtpmap (RFC 3551)
STATIC: dict[int, Codec] = {0: "PCMU", 8: "PCMA"}
DEFAULT_EVENTS = "0-16"

_EVENTS_RE = re.compile(r"^\d{1,3}(-\d{1,3})?(,\d{1,3}(-\d{1,3})?){0,31}$")
_DIGITS_RE = re.compile(r"^\d{1,4}$")


class NotRelayable(Exception):
    """An SDP the service cannot put through its relay: the call (or the re-INVITE) is
    refused with ``status`` and ``reason`` (``retry_after`` seconds for a 503)."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


# --------------------------------------------------------------------------- SDP in


@dataclass(frozen=True, slots=True)
class Stream:
    """One ``m=`` line of a phone's SDP, reduced to what may be used (see module doc)."""

    kind: str
    proto: str
    first_format: str
    port: int = 0
    #: where the phone receives this stream: for the relay only, never written across
    host: str | None = None
    #: G.711 formats in the phone's order: (its payload type number, codec)
    audio: tuple[tuple[int, Codec], ...] = ()
    event_pt: int | None = None
    events: str = DEFAULT_EVENTS
    direction: str = "sendrecv"
    ptime: int | None = None
    maxptime: int | None = None
    #: the phone's SDES keys in its order: for its own relay leg only, never written across
    crypto: tuple[CryptoAttribute, ...] = ()

    @property
    def usable(self) -> bool:
        """Audio the relay can carry: a port, plain RTP (or SRTP with a usable key), at
        least one G.711 format."""
        if self.kind != "audio" or self.port <= 0 or not self.audio:
            return False
        return self.proto in RELAYABLE or (self.proto in SECURE and bool(self.crypto))

    @property
    def secure(self) -> bool:
        """The phone wants SRTP on this stream (RTP/SAVP, or best-effort keys on RTP/AVP)."""
        return bool(self.crypto)

    def pt_of(self, codec: Codec) -> int | None:
        return next((pt for pt, c in self.audio if c == codec), None)


@dataclass(frozen=True, slots=True)
class Description:
    """A phone's SDP as far as the allow-list lets it be known."""

    streams: tuple[Stream, ...]

    @property
    def audio_index(self) -> int | None:
        """The stream the relay carries: the first usable audio line."""
        return next((i for i, s in enumerate(self.streams) if s.usable), None)

    @property
    def audio(self) -> Stream | None:
        i = self.audio_index
        return None if i is None else self.streams[i]


def _number(text: str, lo: int, hi: int) -> int | None:
    """A whole number in ``lo..hi`` written in ASCII digits, else None."""
    text = text.strip()
    if not _DIGITS_RE.match(text):
        return None
    n = int(text)
    return n if lo <= n <= hi else None


def _host(address: str | None) -> str | None:
    """A connection address usable to send to, else None (a name, 0.0.0.0 hold, junk)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("/")[0])
    except ValueError:
        return None
    return None if ip.is_unspecified or ip.is_multicast else str(ip)


def _token(value: str, allowed: frozenset[str], default: str) -> str:
    return value if value in allowed else default


def _first_format(formats: list[str]) -> str:
    f = formats[0] if formats else ""
    if f == "t38" or (f.isascii() and f.isdigit() and len(f) <= 3 and int(f) <= 127):
        return f
    return "0"


def read(sd: SessionDescription) -> Description:
    """Reduce a phone's SDP to what the allow-list lets cross (or point the relay)."""
    session_dir = next((v for t, v in sd.lines if t == "a" and v in DIRECTIONS), "sendrecv")
    streams: list[Stream] = []
    for i, m in enumerate(sd.media):
        kind = _token(m.kind, KINDS, "application")
        proto = _token(m.proto, PROTOS, "RTP/AVP")
        base = Stream(kind, proto, _first_format(m.formats))
        if kind != "audio" or m.port == 0:
            streams.append(base)
            continue
        maps: dict[int, str] = {}
        fmtps: dict[int, str] = {}
        direction = session_dir
        ptime = maxptime = None
        crypto = tuple(crypto_attributes(m.lines))
        for t, v in m.lines:
            if t != "a":
                continue
            name, _, value = v.partition(":")
            name = name.strip().lower()
            if name in DIRECTIONS and not value:
                direction = name
            elif name in ("rtpmap", "fmtp"):
                pt_s, _, rest = value.partition(" ")
                pt = _number(pt_s, 0, 127)
                if pt is not None:
                    (maps if name == "rtpmap" else fmtps).setdefault(pt, rest.strip())
            elif name == "ptime":
                ptime = _number(value, 1, 1000)
            elif name == "maxptime":
                maxptime = _number(value, 1, 1000)
        audio: list[tuple[int, Codec]] = []
        event_pt = None
        for f in m.formats:
            pt = _number(f, 0, 127)
            if pt is None or any(pt == p for p, _ in audio):
                continue
            enc = maps.get(pt, "").lower()
            if enc:
                if enc == "pcmu/8000" or enc == "pcmu/8000/1":
                    audio.append((pt, "PCMU"))
                elif enc == "pcma/8000" or enc == "pcma/8000/1":
                    audio.append((pt, "PCMA"))
                elif enc == "telephone-event/8000" and event_pt is None:
                    event_pt = pt
            elif pt in STATIC:
                audio.append((pt, STATIC[pt]))
        events = DEFAULT_EVENTS
        if event_pt is not None:
            listed = fmtps.get(event_pt, "").replace(" ", "")
            if _EVENTS_RE.match(listed) and all(int(n) <= 255 for n in re.split("[-,]", listed)):
                events = listed
        address, port = sd.media_address(i)
        host = _host(address)
        if host is None and address is not None and address.split("/")[0] in ("0.0.0.0", "::"):
            # RFC 2543 hold: "send me nothing"
            direction = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(direction, direction)
        streams.append(
            replace(
                base,
                port=port,
                host=host,
                audio=tuple(audio),
                event_pt=event_pt,
                events=events,
                direction=direction,
                ptime=ptime,
                maxptime=maxptime,
                crypto=crypto,
            )
        )
    return Description(tuple(streams))


# --------------------------------------------------------------------------- SDP out


def _new(host: str) -> SessionDescription:
    sd = SessionDescription()  # v=0, o= (the B2BUA sets ours), s=-
    sd.connection = host
    sd.connection_prefix = "IN IP6" if ":" in host else "IN IP4"
    sd.lines = [("t", "0 0")]
    return sd


def _declined(s: Stream) -> Media:
    return Media(s.kind, 0, s.proto, [s.first_format])


def _audio_media(
    port: int,
    formats: list[tuple[int, str]],
    event: tuple[int, str] | None,
    direction: str,
    ptime: int | None,
    maxptime: int | None,
    proto: str = "RTP/AVP",
    crypto: tuple[CryptoAttribute, ...] = (),
) -> Media:
    lines = [("a", f"rtpmap:{pt} {codec}/8000") for pt, codec in formats]
    fmts = [str(pt) for pt, _ in formats]
    if event is not None:
        fmts.append(str(event[0]))
        lines += [
            ("a", f"rtpmap:{event[0]} telephone-event/8000"),
            ("a", f"fmtp:{event[0]} {event[1]}"),
        ]
    if ptime is not None:
        lines.append(("a", f"ptime:{ptime}"))
    if maxptime is not None:
        lines.append(("a", f"maxptime:{maxptime}"))
    lines.append(("a", direction))
    lines += [("a", c.value()) for c in crypto]  # our own keys, never a phone's
    return Media("audio", port, proto, fmts, lines=lines)


def _proto(secure: str, crypto: tuple[CryptoAttribute, ...], base: str = "RTP/AVP") -> str:
    """The profile of a line we write: SAVP when we send our key and SRTP is required."""
    if crypto and secure == "require":
        return "RTP/SAVP"
    if not crypto and base in SECURE:
        return "RTP/AVP"
    return base


def offer(
    other: Description | None,
    host: str,
    port: int,
    *,
    crypto: tuple[CryptoAttribute, ...] = (),
    srtp: str = "off",
) -> SessionDescription:
    """Our offer to a phone, receiving at ``host:port`` (the relay leg facing it).

    ``crypto``: our own SDES keys for that phone's leg; ``srtp`` ``"require"`` offers them
    as ``RTP/SAVP`` (SRTP or nothing), ``"offer"`` on ``RTP/AVP`` (best effort: a phone
    that answers with a key gets SRTP, one that ignores it plain RTP).

    ``other`` is the other phone's offer being carried across: its lines are mirrored in
    order (so the answer maps back onto it), the relayed audio line carries its G.711
    preference (the other law added: the relay transcodes), telephone-event if it had it,
    its direction and packet times; every other line is declined. Without ``other`` (we
    answered the caller ourselves and dial out): PCMU, PCMA, telephone-event, 20 ms.
    """
    sd = _new(host)
    if other is None:
        sd.media.append(
            _audio_media(
                port,
                [(0, "PCMU"), (8, "PCMA")],
                (OUR_PT["telephone-event"], DEFAULT_EVENTS),
                "sendrecv",
                20,
                None,
                _proto(srtp, crypto),
                crypto,
            )
        )
        return sd
    index = other.audio_index
    if index is None:
        raise NotRelayable(488, "Not Acceptable Here")
    for i, s in enumerate(other.streams):
        if i != index:
            sd.media.append(_declined(s))
            continue
        laws = [c for _, c in s.audio]
        laws = list(dict.fromkeys([*laws, "PCMU", "PCMA"]))  # its order, then the other law
        event = (OUR_PT["telephone-event"], s.events) if s.event_pt is not None else None
        sd.media.append(
            _audio_media(
                port,
                [(OUR_PT[c], c) for c in laws],
                event,
                s.direction,
                s.ptime,
                s.maxptime,
                _proto(srtp, crypto),
                crypto,
            )
        )
    return sd


@dataclass(frozen=True, slots=True)
class Choice:
    """What an answer settles for the phone being answered: its own numbers."""

    payload_type: int
    codec: Codec
    event_pt: int | None


def choose(offer_desc: Description, codec: Codec | None, event: bool) -> Choice:
    """The format of ``offer_desc``'s audio to answer with: ``codec`` if it offered it
    (else its first G.711: the relay transcodes), telephone-event if both sides have it."""
    s = offer_desc.audio
    if s is None:
        raise NotRelayable(488, "Not Acceptable Here")
    pt = s.pt_of(codec) if codec is not None else None
    chosen = (pt, codec) if pt is not None and codec is not None else s.audio[0]
    return Choice(chosen[0], chosen[1], s.event_pt if event else None)


def answer(
    offer_desc: Description,
    choice: Choice,
    host: str,
    port: int,
    *,
    direction: str | None = None,
    ptime: int | None = None,
    maxptime: int | None = None,
    crypto: CryptoAttribute | None = None,
) -> SessionDescription:
    """Our answer to a phone's offer ``offer_desc``, receiving at ``host:port``: one line
    per line of its offer, the relayed audio with ``choice`` (its own numbers), every
    other line declined. ``direction`` defaults to what its offer's direction answers.
    ``crypto``: our key answering the phone's SDES offer (its profile kept), if SRTP."""
    sd = _new(host)
    index = offer_desc.audio_index
    for i, s in enumerate(offer_desc.streams):
        if i != index:
            sd.media.append(_declined(s))
            continue
        event = (choice.event_pt, s.events) if choice.event_pt is not None else None
        sd.media.append(
            _audio_media(
                port,
                [(choice.payload_type, choice.codec)],
                event,
                direction or ANSWER_DIRECTION[s.direction],
                ptime,
                maxptime,
                s.proto if crypto is not None else _proto("off", (), s.proto),
                (crypto,) if crypto is not None else (),
            )
        )
    return sd


def decline(desc: Description, host: str) -> SessionDescription:
    """An answer refusing every line of ``desc`` (port 0 everywhere)."""
    sd = _new(host)
    sd.media = [_declined(s) for s in desc.streams]
    return sd


def direct(desc: Description) -> SessionDescription:
    """A bare B2BUA without a relay: ``desc`` written again at its *own* address and
    numbers (G.711 and telephone-event only). Media then flows phone to phone, so the
    phones' media addresses cross: the service never sends this (it refuses a call it
    cannot relay); tests of signalling alone and the signalling benchmark do."""
    index = desc.audio_index
    s = desc.audio
    if s is None or index is None:
        raise NotRelayable(488, "Not Acceptable Here")
    sd = _new(s.host or "0.0.0.0")
    for i, st in enumerate(desc.streams):
        if i != index:
            sd.media.append(_declined(st))
            continue
        event = (st.event_pt, st.events) if st.event_pt is not None else None
        sd.media.append(
            _audio_media(
                st.port, list(st.audio), event, st.direction, st.ptime, st.maxptime, st.proto
            )
        )
    return sd


# --------------------------------------------------------------------------- SIP INFO

INFO_TYPE = "application/dtmf-relay"


def info_body(content_type: str, body: bytes) -> tuple[str, bytes] | None:
    """The body of an INFO for the other leg: the DTMF digit of ``body``, written again
    (``application/dtmf-relay``); None if it carries no digit (then nothing crosses)."""
    digit = digit_from_sip_info(content_type, body)
    if digit is None:
        return None
    return INFO_TYPE, f"Signal={digit}\r\nDuration=160\r\n".encode()


# --------------------------------------------------------------------------- RTP

_HDR = struct.Struct("!BBHII")
_OWN = b"own"  # the source key of packets we make ourselves (prompts)
_CLOCK = 8000  # G.711 and telephone-event/8000: the only clock rates that cross


class RtpStream:
    """The RTP stream the relay sends to one phone: our SSRC, our numbering.

    :meth:`forward` makes the packet for this phone out of one from the other phone;
    :meth:`own` makes one of ours (a prompt frame). Within one source the distances
    between sequence numbers and timestamps are kept (reordering and loss stay visible to
    the phone's jitter buffer); when the source changes (another SSRC, a prompt, bridged
    audio after a prompt) our numbering simply continues: next sequence number, and a
    timestamp advanced by the time elapsed, with the marker bit set.
    """

    __slots__ = ("_last_at", "_own_len", "_seq", "_seq_delta", "_src", "_ts", "_ts_delta", "ssrc")

    def __init__(self, rng: random.Random | None = None) -> None:
        r = rng or random.SystemRandom()
        self.ssrc = r.getrandbits(32)
        self._seq = r.getrandbits(16)  # the highest sequence number sent so far
        self._ts = r.getrandbits(32)  # the latest timestamp sent so far
        self._src: bytes | None = None
        self._seq_delta = 0
        self._ts_delta = 0
        self._last_at: float | None = None
        self._own_len = 0

    def _next_ts(self, now: float) -> int:
        if self._last_at is None:
            return self._ts
        elapsed = max(160, round((now - self._last_at) * _CLOCK))
        return (self._ts + elapsed) & 0xFFFFFFFF

    def forward(self, data: bytes, payload_type: int, payload: bytes, now: float) -> bytes:
        """The packet for this phone carrying ``payload`` of the other phone's ``data``."""
        src = data[8:12]
        marker = data[1] & 0x80
        in_seq = (data[2] << 8) | data[3]
        in_ts = int.from_bytes(data[4:8], "big")
        if src != self._src:
            ts0 = self._next_ts(now)
            self._src = src
            self._seq_delta = (self._seq + 1 - in_seq) & 0xFFFF
            self._ts_delta = (ts0 - in_ts) & 0xFFFFFFFF
            marker = 0x80
            self._seq = (self._seq + 1) & 0xFFFF
            self._ts = ts0
        seq = (in_seq + self._seq_delta) & 0xFFFF
        ts = (in_ts + self._ts_delta) & 0xFFFFFFFF
        if 0 < ((seq - self._seq) & 0xFFFF) < 0x8000:
            self._seq = seq
        if 0 < ((ts - self._ts) & 0xFFFFFFFF) < 0x80000000:
            self._ts = ts
        self._last_at = now
        return _HDR.pack(0x80, marker | payload_type, seq, ts, self.ssrc) + payload

    def restart(self) -> None:
        """The next :meth:`own` packet starts a new run (a new prompt)."""
        self._src = None

    def own(self, payload: bytes, payload_type: int, now: float, marker: bool = False) -> bytes:
        """One packet of ours (``payload``: one frame, one octet per sample)."""
        if self._src != _OWN:
            self._ts = self._next_ts(now)
            self._src = _OWN
            marker = True
        else:
            self._ts = (self._ts + self._own_len) & 0xFFFFFFFF
        self._seq = (self._seq + 1) & 0xFFFF
        self._own_len = len(payload)
        self._last_at = now
        b1 = (0x80 if marker else 0) | payload_type
        return _HDR.pack(0x80, b1, self._seq, self._ts, self.ssrc) + payload
