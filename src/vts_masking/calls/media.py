"""SDP ↔ relay glue: puts a :class:`~vts_masking.media.relay.RelayedCall` in a call's media path.

The B2BUA hands every SDP it is about to send to a leg to :meth:`CallMedia.rewrite`
(its ``sdp_rewriter`` hook). That SDP came from the *other* leg's phone, so it says where
that phone receives media: the relay leg of that side learns it (``set_remote``), and the
SDP is pointed at the relay leg of the receiving side before it goes out. Offers and
answers, provisional answers, re-INVITEs and UPDATEs all pass through here, so the relay
follows every change of address or codec.

Relay leg ``"A"`` faces B2BUA side ``"a"`` (the caller, or the first party dialled by
``originate``), relay leg ``"B"`` side ``"b"``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..domain.coerce import is_number
from ..media import g711
from ..media.relay import Leg, PortAllocator, RelayedCall
from ..sip.sdp import SessionDescription

log = logging.getLogger("vts_masking.calls.media")

_RELAY_LEG = {"a": "A", "b": "B"}


@dataclass(frozen=True, slots=True)
class AudioStream:
    """The first usable audio stream of an SDP, as plain values for the relay."""

    index: int
    host: str
    port: int
    payload_type: int
    codec: g711.Codec
    event_pt: int | None


def _rtpmaps(lines: list[tuple[str, str]]) -> dict[int, str]:
    out: dict[int, str] = {}
    for t, v in lines:
        if t == "a" and v.lower().startswith("rtpmap:"):
            pt, _, enc = v[7:].partition(" ")
            if is_number(pt.strip()):
                out[int(pt)] = enc.strip().lower()
    return out


def audio_stream(sd: SessionDescription) -> AudioStream | None:
    """The first audio stream with a port and a G.711 format (in preference order)."""
    for i, m in enumerate(sd.media):
        if m.kind != "audio" or m.port == 0:
            continue
        host, port = sd.media_address(i)
        if not host:
            continue
        maps = _rtpmaps(m.lines)
        chosen: tuple[int, g711.Codec] | None = None
        event_pt = None
        for f in m.formats:
            if not is_number(f):
                continue
            pt = int(f)
            enc = maps.get(pt, "")
            if enc.startswith("telephone-event/8000") and event_pt is None:
                event_pt = pt
                continue
            if chosen is None:
                if enc.startswith("pcmu/8000") or (not enc and pt == 0):
                    chosen = (pt, "PCMU")
                elif enc.startswith("pcma/8000") or (not enc and pt == 8):
                    chosen = (pt, "PCMA")
        if chosen is None:
            continue
        return AudioStream(i, host, port, chosen[0], chosen[1], event_pt)
    return None


def point_leg(leg: Leg, stream: AudioStream) -> None:
    """Send relay leg ``leg``'s media to the phone ``stream`` describes."""
    leg.set_remote(stream.host, stream.port, stream.payload_type, stream.event_pt, stream.codec)


class CallMedia:
    """One call's relay, driven by the SDPs the B2BUA exchanges for it."""

    def __init__(self, allocator: PortAllocator, **relay_kw: object) -> None:
        self.relay = RelayedCall(allocator, **relay_kw)  # type: ignore[arg-type]
        #: the B2BUA side whose offer awaits an answer
        self._offerer: str | None = None

    def rewrite(self, side: str, sd: SessionDescription) -> None:
        """``sd`` (from the phone of the other side) is about to be sent to ``side``."""
        other = "b" if side == "a" else "a"
        stream = audio_stream(sd)
        if stream is None:
            log.info("no G.711 audio in SDP for side %s: media not relayed", side)
            return
        relay = self.relay
        if relay.closed:
            return
        source = relay.leg(_RELAY_LEG[other])
        answer = self._offerer == side
        if not answer:
            self._offerer = other
        point_leg(source, stream)
        if answer:
            # The offerer sends what the answer chose (same numbers: the SDP crossed as is).
            own = relay.leg(_RELAY_LEG[side])
            if own.remote is not None:
                own.set_remote(
                    own.remote[0],
                    own.remote[1],
                    stream.payload_type,
                    stream.event_pt,
                    stream.codec,
                )
        host, port = relay.leg(_RELAY_LEG[side]).local_address
        point_at(sd, stream.index, host, port)

    def bridge(self) -> None:
        """Both phones hear each other from now; silence from now on counts."""
        self.relay.bridge()
        for name in ("A", "B"):
            self.relay.arm_inactivity(name)

    def close(self) -> None:
        self.relay.close()


def point_at(sd: SessionDescription, index: int, host: str, port: int) -> None:
    """Make stream ``index`` of ``sd`` say: send to ``host:port``; others are refused."""
    for i, m in enumerate(sd.media):
        if i == index:
            m.port = port
            m.connection = host
            m.connection_prefix = "IN IP6" if ":" in host else "IN IP4"
        else:
            m.port = 0  # a stream we do not relay (video, a second audio) is declined
    if sd.connection is not None:
        sd.connection = host
        sd.connection_prefix = sd.media[index].connection_prefix
    # a=rtcp would name the phone's own RTCP port: drop it (RTCP is not relayed)
    m = sd.media[index]
    m.lines = [(t, v) for t, v in m.lines if not (t == "a" and v.lower().startswith("rtcp:"))]


def answer_sdp(
    offer: SessionDescription, stream: AudioStream, host: str, port: int
) -> SessionDescription:
    """Our own answer to ``offer``: the chosen G.711 format (+ telephone-event) at host:port."""
    sd = SessionDescription()
    sd.connection = host
    sd.connection_prefix = "IN IP6" if ":" in host else "IN IP4"
    sd.lines = [("t", "0 0")]
    from ..sip.sdp import Media

    for i, m in enumerate(offer.media):
        if i != stream.index:
            sd.media.append(Media(m.kind, 0, m.proto, m.formats[:1]))
            continue
        fmts = [str(stream.payload_type)]
        lines = [("a", f"rtpmap:{stream.payload_type} {stream.codec}/8000")]
        if stream.event_pt is not None:
            fmts.append(str(stream.event_pt))
            lines += [
                ("a", f"rtpmap:{stream.event_pt} telephone-event/8000"),
                ("a", f"fmtp:{stream.event_pt} 0-16"),
            ]
        lines += [("a", "ptime:20"), ("a", "sendrecv")]
        sd.media.append(Media("audio", port, m.proto, fmts, lines=lines))
    return sd


def offer_sdp(host: str, port: int) -> SessionDescription:
    """Our own offer (to a party we dial after answering the caller ourselves)."""
    from ..sip.sdp import Media

    sd = SessionDescription()
    sd.connection = host
    sd.connection_prefix = "IN IP6" if ":" in host else "IN IP4"
    sd.lines = [("t", "0 0")]
    sd.media.append(
        Media(
            "audio",
            port,
            "RTP/AVP",
            ["0", "8", "101"],
            lines=[
                ("a", "rtpmap:0 PCMU/8000"),
                ("a", "rtpmap:8 PCMA/8000"),
                ("a", "rtpmap:101 telephone-event/8000"),
                ("a", "fmtp:101 0-16"),
                ("a", "ptime:20"),
                ("a", "sendrecv"),
            ],
        )
    )
    return sd
