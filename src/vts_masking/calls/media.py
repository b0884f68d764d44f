"""SDP ↔ relay glue: puts a :class:`~vts_masking.media.relay.RelayedCall` in a call's media path.

The B2BUA reduces every SDP a phone sends to a :class:`~vts_masking.media.crossing.Description`
(the allow-list's reading) and asks :meth:`CallMedia.rewrite` (its ``sdp_rewriter`` hook)
for the SDP to send to the other leg. That description came from the *other* leg's
phone, so it says where that phone receives media: the relay leg of that side learns it
(``set_remote``), and the SDP written for the receiving side — by
:mod:`vts_masking.media.crossing`, never copied — points at the relay leg facing it.
Offers and answers, provisional answers, re-INVITEs and UPDATEs all pass through here,
so the relay follows every change of address, codec or direction.

SRTP is decided per leg, and keys never cross: a leg whose phone offered SDES keys
(``a=crypto``) is answered with a key of our own and becomes an SRTP relay leg; a leg we
offer to gets our keys when its trunk's policy says so (``srtp``: ``"require"`` —
``RTP/SAVP``, an answer without a key is refused 488 — or ``"offer"`` — keys on
``RTP/AVP``, plain RTP if the answer has none). Each relay leg's :class:`SrtpLeg` holds
that phone's key (to open its packets) and ours (to seal what we send it); the other
leg's SDP never sees either.

Relay leg ``"A"`` faces B2BUA side ``"a"`` (the caller, or the first party dialled by
``originate``), relay leg ``"B"`` side ``"b"``.
"""

from __future__ import annotations

import logging
from typing import Any

from ..media import crossing
from ..media.crossing import Description, NotRelayable, Stream
from ..media.relay import Leg, PortAllocator, RelayedCall
from ..media.srtp import (
    CryptoAttribute,
    SrtpLeg,
    answer_crypto,
    chosen_by_answer,
    offer_crypto,
)
from ..sip.sdp import SdpError, SessionDescription, parse_sdp

log = logging.getLogger("vts_masking.calls.media")

_RELAY_LEG = {"a": "A", "b": "B"}


def describe(body: bytes | None) -> Description | None:
    """A phone's SDP body through the allow-list; None if there is none or it is unreadable."""
    if not body:
        return None
    try:
        return crossing.read(parse_sdp(body))
    except SdpError:
        return None


def point_leg(leg: Leg, stream: Stream, choice: crossing.Choice | None = None) -> None:
    """Send relay leg ``leg``'s media to the phone ``stream`` describes, in its format
    ``choice`` (default: its first G.711 format and its telephone-event). A stream on
    hold without an address keeps the leg where it was (latched or declared)."""
    if choice is None:
        pt, codec = stream.audio[0]
        choice = crossing.Choice(pt, codec, stream.event_pt)
    if stream.host is not None:
        leg.set_remote(stream.host, stream.port, choice.payload_type, choice.event_pt, choice.codec)
    else:
        leg.set_format(choice.payload_type, choice.event_pt, choice.codec)


class CallMedia:
    """One call's relay, driven by the SDPs the B2BUA exchanges for it."""

    def __init__(self, allocator: PortAllocator, **relay_kw: object) -> None:
        self.relay = RelayedCall(allocator, **relay_kw)  # type: ignore[arg-type]
        #: the B2BUA call this relay serves (set by its owner; for the inactivity timeout)
        self.call: Any = None
        #: the last offer each side's phone made (an answer maps back onto it)
        self._offers: dict[str, Description] = {}
        #: our SDES keys in the last offer we wrote to a side, and its trunk's policy
        self._our_crypto: dict[str, tuple[CryptoAttribute, ...]] = {}
        self._policy: dict[str, str] = {}

    def _local(self, side: str) -> tuple[str, int]:
        return self.relay.leg(_RELAY_LEG[side]).local_address

    def _offer_keys(self, side: str, srtp: str) -> tuple[CryptoAttribute, ...]:
        """Our keys for an offer to ``side`` (none unless its policy asks for SRTP)."""
        self._policy[side] = srtp
        keys = tuple(offer_crypto()) if srtp in ("offer", "require") else ()
        self._our_crypto[side] = keys
        return keys

    def _take_answer_keys(self, side: str, stream: crossing.Stream) -> None:
        """``side``'s phone answered our offer: its SRTP keys (or plain, if allowed)."""
        ours = self._our_crypto.pop(side, ())
        if not ours:
            return
        picked = chosen_by_answer(list(ours), list(stream.crypto))
        if picked is None:
            if self._policy.get(side) == "require":
                log.info("side %s answered our SRTP offer without a usable key", side)
                raise NotRelayable(488, "Not Acceptable Here")
            self.relay.leg(_RELAY_LEG[side]).srtp = None
            return
        theirs, mine = picked
        self.relay.leg(_RELAY_LEG[side]).srtp = SrtpLeg(theirs, mine)

    def _answer_keys(self, side: str, offered: crossing.Stream) -> CryptoAttribute | None:
        """``side``'s phone offered ``offered``: our key answering its SDES offer, and its
        relay leg made SRTP (None: it offered none — plain RTP, unless required)."""
        if not offered.crypto:
            if self._policy.get(side) == "require":
                raise NotRelayable(488, "Not Acceptable Here")
            self.relay.leg(_RELAY_LEG[side]).srtp = None
            return None
        chosen = answer_crypto(list(offered.crypto))
        if chosen is None:
            raise NotRelayable(488, "Not Acceptable Here")
        theirs, mine = chosen
        self.relay.leg(_RELAY_LEG[side]).srtp = SrtpLeg(theirs, mine)
        return mine

    def rewrite(
        self, side: str, desc: Description, offer: bool, srtp: str = "off"
    ) -> SessionDescription:
        """``desc`` (from the phone of the other side) is to be sent to ``side``, whose
        trunk's SRTP policy is ``srtp``: the SDP to send instead. Raises
        :class:`NotRelayable` when the relay cannot carry it."""
        if self.relay.closed:
            raise NotRelayable(503, "Service Unavailable")
        stream = desc.audio
        if stream is None:
            log.info("no relayable G.711 audio in an SDP for side %s: refused", side)
            raise NotRelayable(488, "Not Acceptable Here")
        other = "b" if side == "a" else "a"
        source = self.relay.leg(_RELAY_LEG[other])
        host, port = self._local(side)
        if offer:
            self._offers[other] = desc
            point_leg(source, stream)  # until the answer says which format
            keys = self._offer_keys(side, srtp)
            return crossing.offer(desc, host, port, crypto=keys, srtp=srtp)
        offered = self._offers.get(side)
        if offered is None or offered.audio is None:
            raise NotRelayable(488, "Not Acceptable Here")
        self._policy[side] = srtp
        self._take_answer_keys(other, stream)  # the answering phone's keys, for its leg
        mine = self._answer_keys(side, offered.audio)  # the offering phone's, for its leg
        pt, codec = stream.audio[0]
        point_leg(source, stream, crossing.Choice(pt, codec, stream.event_pt))
        choice = crossing.choose(offered, codec, stream.event_pt is not None)
        point_leg(self.relay.leg(_RELAY_LEG[side]), offered.audio, choice)
        return crossing.answer(
            offered,
            choice,
            host,
            port,
            direction=stream.direction,
            ptime=stream.ptime,
            maxptime=stream.maxptime,
            crypto=mine,
        )

    # -- answered mode: the service is the other end of each leg's offer/answer ----------

    def answer_caller(self, side: str, desc: Description, srtp: str = "off") -> SessionDescription:
        """Our own answer to ``side``'s offer ``desc`` (we answered the call ourselves):
        its first G.711 format and its telephone-event, at the relay leg facing it (and
        our SRTP key if it offered one)."""
        stream = desc.audio
        if stream is None:
            raise NotRelayable(488, "Not Acceptable Here")
        self._offers[side] = desc
        self._policy[side] = srtp
        mine = self._answer_keys(side, stream)
        choice = crossing.choose(desc, None, True)
        point_leg(self.relay.leg(_RELAY_LEG[side]), stream, choice)
        host, port = self._local(side)
        return crossing.answer(desc, choice, host, port, ptime=20, crypto=mine)

    def our_offer(self, side: str, srtp: str = "off") -> SessionDescription:
        """Our own offer to ``side`` (a party we dial ourselves): PCMU, PCMA,
        telephone-event, and our SRTP keys if its trunk's policy ``srtp`` asks for them."""
        host, port = self._local(side)
        keys = self._offer_keys(side, srtp)
        return crossing.offer(None, host, port, crypto=keys, srtp=srtp)

    def answered(self, side: str, desc: Description | None) -> bool:
        """``side``'s phone answered our own offer with ``desc``: point its relay leg there.
        False if the answer has nothing the relay can carry."""
        stream = desc.audio if desc is not None else None
        if stream is None:
            return False
        try:
            self._take_answer_keys(side, stream)
        except NotRelayable:
            return False
        point_leg(self.relay.leg(_RELAY_LEG[side]), stream)
        return True

    def bridge(self) -> None:
        """Both phones hear each other from now; silence from now on counts."""
        self.relay.bridge()
        for name in ("A", "B"):
            self.relay.arm_inactivity(name)

    def close(self) -> None:
        self.relay.close()
