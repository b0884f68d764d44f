"""The RTP relay: two UDP legs per call, latching, bridging/transcoding, prompts, taps.

A :class:`RelayedCall` owns two legs, ``"A"`` (the caller side) and ``"B"`` (the callee
side). Each leg is one UDP socket on an even port from a :class:`PortAllocator`; its
``local_address`` is what goes into the SDP sent to that leg's phone. The calls engine
then tells each leg where its phone said to send media (:meth:`Leg.set_remote`: address,
port, audio payload type, telephone-event payload type — plain values, no SDP here).

Per packet, a leg:

- *latches* (symmetric RTP, RFC 4961 style): replies go to the address packets actually
  come from, not the SDP-declared one, which is only used until the first packet arrives.
  Once latched, packets from other addresses are dropped, unless the latched source has
  been silent for ``relatch_after`` seconds (NAT rebinding, re-INVITE to a new address);
- shows the packet to every *tap* (the recorder) with its arrival time;
- reports telephone-event digits (RFC 4733) to ``on_dtmf``, one per event;
- when the call is *bridged*, forwards its payload out of the other leg's socket in a
  header written by that leg's :class:`~vts_masking.media.crossing.RtpStream` (our SSRC,
  sequence numbers and timestamps; no padding, extension or CSRC list; the peer's payload
  type — what may cross is decided there), the payload re-encoded PCMU↔PCMA (one
  ``bytes.translate``) when the legs negotiated different G.711 laws. Telephone-events go
  across with the peer's event payload type, and are dropped if the peer did not
  negotiate telephone-event; any other payload type is dropped.

A *prompt* (a sequence of 20 ms encoded frames) can be played into a leg: it is paced on
the event-loop clock and sent on the same stream of that leg (same SSRC, contiguous
sequence numbers, timestamps advancing 160 per frame and by the elapsed time between
runs), with the marker bit on each prompt's first packet. While a prompt plays, it owns
that leg's output: bridged audio from the other leg is not forwarded into it.

RTCP: port+1 of each leg is reserved (bound) so no other call's RTP lands there, but RTCP
is neither read nor relayed; the kernel drops what queues up. Nothing in a relayed G.711
call depends on RTCP, and not relaying it keeps each side's reports from leaking across.

Inactivity: a leg is watched from its first received packet (or from :meth:`arm_inactivity`)
and reported once to ``on_inactive`` when nothing arrives for ``inactivity_timeout`` s.

SRTP (``leg.srtp``, :mod:`vts_masking.media.srtp`): a leg whose phone speaks SRTP has
its own keys; packets are unprotected as they arrive (before latching: only
authenticated packets move the latch) and protected as they leave, so everything in
between — bridging, transcoding, prompts, telephone-events, taps and the recorder —
sees plain RTP, and one leg may be SRTP while the other is not.

The receive path avoids asyncio transports: one ``add_reader`` per leg socket drains up
to 64 datagrams per wake-up and sends with ``socket.sendto`` directly (a full send buffer
drops the packet — for real-time audio a late packet is worse than a lost one).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import g711
from .crossing import RtpStream
from .dtmf import PinCollector, PinResult, TelephoneEventDetector
from .recorder import CallRecorder, RecordingResult
from .rtp import RtpParseError, payload_end, payload_offset
from .srtp import SrtpLeg

log = logging.getLogger(__name__)

LegName = Literal["A", "B"]
#: A tap sees every packet received on a leg: (leg name, raw packet, arrival time).
Tap = Callable[[str, bytes, float], None]

PTIME = 0.02
_MAX_DATAGRAM = 2048
_DRAIN_PER_WAKEUP = 64
#: a prompt that falls this far behind its schedule (a stalled loop) is re-anchored
#: rather than sent as a catch-up burst
_MAX_LAG = 0.1


class NoPortsAvailable(RuntimeError):
    """Every port of the configured range is allocated or in use by someone else."""


class CallClosed(RuntimeError):
    """The relayed call was closed while something was waiting on it (digit collection)."""


@dataclass(slots=True)
class PortPair:
    """An allocated even RTP port (bound socket) and its reserved RTCP neighbour."""

    port: int
    rtp: socket.socket
    rtcp: socket.socket | None


class PortAllocator:
    """Hands out bound UDP sockets on even ports of ``[port_min, port_max]`` on ``host``.

    Binding *is* the allocation, so there is no race with other processes: a port that
    fails to bind (used by someone else) is skipped. Ports are handed out round-robin so
    a just-released port is not reused at once (late packets of the previous call would
    land in the next one). With ``reserve_rtcp`` (default) port+1 is bound too.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port_min: int = 20000,
        port_max: int = 29999,
        *,
        reserve_rtcp: bool = True,
        advertise: str | None = None,
    ) -> None:
        if port_min % 2:
            port_min += 1
        if port_min > port_max - (1 if reserve_rtcp else 0):
            raise ValueError("empty port range")
        self.host = host
        #: the address written in SDP (differs from ``host`` when binding 0.0.0.0 or
        #: behind a 1:1 NAT)
        self.advertise = advertise or host
        self.port_min = port_min
        self.port_max = port_max
        self.reserve_rtcp = reserve_rtcp
        self._family = (
            socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        )
        last = port_max - 1 if reserve_rtcp else port_max
        self._ports = list(range(port_min, last + 1, 2))
        self._cursor = 0
        self._in_use: dict[int, PortPair] = {}

    @property
    def capacity(self) -> int:
        return len(self._ports)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocated_ports(self) -> list[int]:
        return sorted(self._in_use)

    def allocate(self) -> PortPair:
        for _ in range(len(self._ports)):
            port = self._ports[self._cursor]
            self._cursor = (self._cursor + 1) % len(self._ports)
            if port in self._in_use:
                continue
            pair = self._try_bind(port)
            if pair is not None:
                self._in_use[port] = pair
                return pair
        raise NoPortsAvailable(f"no free even port in {self.port_min}-{self.port_max}")

    def release(self, pair: PortPair) -> None:
        pair.rtp.close()
        if pair.rtcp is not None:
            pair.rtcp.close()
        if self._in_use.get(pair.port) is pair:
            del self._in_use[pair.port]

    def _bind(self, port: int) -> socket.socket:
        s = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            s.setblocking(False)
            s.bind((self.host, port))
        except OSError:
            s.close()
            raise
        return s

    def _try_bind(self, port: int) -> PortPair | None:
        try:
            rtp = self._bind(port)
        except OSError as e:
            if e.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            return None
        rtcp = None
        if self.reserve_rtcp:
            try:
                rtcp = self._bind(port + 1)
            except OSError as e:
                rtp.close()
                if e.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                return None
        return PortPair(port, rtp, rtcp)


class Leg:
    """One side of a relayed call: a socket, the phone's address, its codec."""

    __slots__ = (
        "_relatch_after",
        "advertise",
        "armed",
        "codec",
        "detector",
        "dropped",
        "event_pt",
        "last_rx",
        "latched",
        "name",
        "out",
        "pair",
        "payload_type",
        "peer",
        "playback",
        "remote",
        "rx_packets",
        "sock",
        "srtp",
        "translate",
        "tx_packets",
    )

    def __init__(self, name: LegName, pair: PortPair, relatch_after: float, advertise: str) -> None:
        self.name: LegName = name
        self.pair = pair
        self.advertise = advertise
        self.sock = pair.rtp
        self.remote: tuple | None = None
        self.latched: tuple | None = None
        self.payload_type: int | None = None
        self.codec: g711.Codec | None = None
        self.event_pt: int | None = None
        self.peer: Leg
        #: translation table applied to audio forwarded *from* this leg (None: none)
        self.translate: bytes | None = None
        self.detector = TelephoneEventDetector()
        self.playback: Playback | None = None
        self.last_rx = 0.0
        self.armed = False
        self.rx_packets = 0
        self.tx_packets = 0
        self.dropped = 0
        self._relatch_after = relatch_after
        #: the one RTP stream sent to this leg's phone (forwarded audio and prompts)
        self.out = RtpStream()
        #: SRTP keys of this leg (media/srtp.py): packets from its phone are unprotected
        #: on arrival and packets to it protected on departure; None: plain RTP
        self.srtp: SrtpLeg | None = None

    @property
    def local_address(self) -> tuple[str, int]:
        """(address, port) to put in the SDP (c= and m=audio) sent to this leg's phone."""
        return self.advertise, self.pair.port

    @property
    def local_port(self) -> int:
        return self.pair.port

    @property
    def destination(self) -> tuple | None:
        """Where packets to this leg's phone go: the latched source, else the SDP address."""
        return self.latched or self.remote

    def set_remote(
        self,
        host: str,
        port: int,
        payload_type: int,
        telephone_event_pt: int | None = None,
        codec: g711.Codec | None = None,
    ) -> None:
        """Declare where this leg's phone receives media and what it sends.

        The relay recognises this phone's audio and telephone-events by these payload type
        numbers, so the SDP sent to the phone must use the phone's own numbers (echo its
        offer/answer); the relay rewrites numbers between legs when they differ.
        ``codec`` defaults from the static payload type (0 → PCMU, 8 → PCMA); pass it for
        a dynamic payload type. A changed address (re-INVITE) drops the latch.
        """
        remote = (host, port)
        if remote != self.remote:
            self.latched = None
        self.remote = remote
        self.set_format(payload_type, telephone_event_pt, codec)

    def set_format(
        self,
        payload_type: int,
        telephone_event_pt: int | None = None,
        codec: g711.Codec | None = None,
    ) -> None:
        """Change only what the phone sends and receives, not where (a hold without an
        address: the leg keeps sending where it did, or waits for the phone's packets)."""
        self.payload_type = payload_type
        self.codec = codec or g711.CODEC_BY_PT.get(payload_type)
        self.event_pt = telephone_event_pt
        self.peer._plan()
        self._plan()

    def _plan(self) -> None:
        """Precompute how audio from this leg is forwarded to the peer."""
        src, dst = self.codec, self.peer.codec
        if src and dst and src != dst:
            self.translate = g711.ULAW_TO_ALAW_BYTES if src == "PCMU" else g711.ALAW_TO_ULAW_BYTES
        else:
            self.translate = None

    def _latch(self, addr: tuple, now: float) -> bool:
        if self.latched is None or now - self.last_rx > self._relatch_after:
            if self.latched is not None:
                log.info("leg %s re-latched %s -> %s", self.name, self.latched, addr)
            self.latched = addr
            return True
        return False

    def send(self, data: bytes) -> None:
        dest = self.latched or self.remote
        if dest is None:
            return
        self.transmit(data, dest)

    def transmit(self, data: bytes, dest: tuple) -> None:
        """Put one RTP packet on the wire to this leg's phone (protected on SRTP legs)."""
        if self.srtp is not None:
            protected = self.srtp.protect(data)
            if protected is None:
                self.dropped += 1
                return
            data = protected
        try:
            self.sock.sendto(data, dest)
            self.tx_packets += 1
        except OSError:
            # full send buffer or unreachable: drop, never block the relay
            self.dropped += 1


class Playback:
    """A prompt being played into a leg; await it for True (played) or False (stopped)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        leg: Leg,
        frames: Sequence[bytes],
        payload_type: int,
        ptime: float,
    ) -> None:
        self._loop = loop
        self._leg = leg
        self._frames = frames
        self._pt = payload_type
        self._ptime = ptime
        self._i = 0
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self.future: asyncio.Future[bool] = loop.create_future()
        self.sent = 0

    def __await__(self):  # type: ignore[no-untyped-def]
        return self.future.__await__()

    @property
    def done(self) -> bool:
        return self.future.done()

    def start(self) -> None:
        # a new run on the leg's stream: its timestamps move on by the time elapsed
        self._leg.out.restart()
        self._start = self._loop.time()
        self._handle = self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        leg = self._leg
        now = self._loop.time()
        if self._i >= len(self._frames):
            self._finish(True)
            return
        target = self._start + self._i * self._ptime
        if now - target > _MAX_LAG:
            self._start += now - target
        payload = self._frames[self._i]
        leg.send(leg.out.own(payload, self._pt, now, marker=self._i == 0))
        self.sent += 1
        self._i += 1
        # the last frame's own duration is waited out before reporting completion
        self._handle = self._loop.call_at(self._start + self._i * self._ptime, self._tick)

    def stop(self) -> None:
        self._finish(False)

    def _finish(self, completed: bool) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._leg.playback is self:
            self._leg.playback = None
        if not self.future.done():
            self.future.set_result(completed)


class RelayedCall:
    """Two relayed legs of one call. Create inside a running event loop; ``close()`` it.

    Callbacks (all optional, called on the loop, must not block):
    ``on_dtmf(leg, digit)``, ``on_inactive(leg)``.
    """

    def __init__(
        self,
        allocator: PortAllocator,
        *,
        on_dtmf: Callable[[str, str], None] | None = None,
        on_inactive: Callable[[str], None] | None = None,
        inactivity_timeout: float = 60.0,
        relatch_after: float = 2.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._allocator = allocator
        self.on_dtmf = on_dtmf
        self.on_inactive = on_inactive
        self.inactivity_timeout = inactivity_timeout
        pair_a = allocator.allocate()
        try:
            pair_b = allocator.allocate()
        except BaseException:
            allocator.release(pair_a)
            raise
        self.a = Leg("A", pair_a, relatch_after, allocator.advertise)
        self.b = Leg("B", pair_b, relatch_after, allocator.advertise)
        self.a.peer = self.b
        self.b.peer = self.a
        self.bridged = False
        self.closed = False
        self._taps: list[Tap] = []
        self._recorder: CallRecorder | None = None
        self._record_target: tuple[Path, str] | None = None
        self._collecting: dict[str, _Collection] = {}
        for leg in (self.a, self.b):
            self._loop.add_reader(leg.sock.fileno(), self._on_readable, leg)
        interval = max(0.05, min(1.0, inactivity_timeout / 4))
        self._check_interval = interval
        self._timer = self._loop.call_later(interval, self._check_inactivity)

    # -- configuration ------------------------------------------------------------------

    def leg(self, name: str) -> Leg:
        if name == "A":
            return self.a
        if name == "B":
            return self.b
        raise ValueError(f"no leg {name!r}")

    def bridge(self) -> None:
        """Start forwarding A↔B (transcoding if the legs' G.711 laws differ)."""
        self.a._plan()
        self.b._plan()
        self.bridged = True

    def unbridge(self) -> None:
        self.bridged = False

    def arm_inactivity(self, leg: str) -> None:
        """Start the inactivity clock now, even if the leg has sent nothing yet."""
        lg = self.leg(leg)
        lg.armed = True
        lg.last_rx = self._loop.time()

    def add_tap(self, tap: Tap) -> None:
        """Show every packet received on either leg to ``tap(leg, packet, arrival)``.

        Taps run on the packet path: keep them to a few microseconds, never block.
        """
        self._taps = [*self._taps, tap]

    def remove_tap(self, tap: Tap) -> None:
        self._taps = [t for t in self._taps if t != tap]

    # -- prompts --------------------------------------------------------------------------

    def play(self, leg: str, frames: Sequence[bytes], *, ptime: float = PTIME) -> Playback:
        """Play encoded 20 ms frames (in the leg's codec) into a leg; await the result.

        A prompt already playing on that leg is stopped first (its awaitable gives False).
        """
        lg = self.leg(leg)
        if lg.payload_type is None:
            raise RuntimeError(f"leg {leg} has no payload type yet (set_remote first)")
        if self.closed:
            pb = Playback(self._loop, lg, (), lg.payload_type, ptime)
            pb.future.set_result(False)
            return pb
        if lg.playback is not None:
            lg.playback.stop()
        pb = Playback(self._loop, lg, frames, lg.payload_type, ptime)
        lg.playback = pb
        pb.start()
        return pb

    def stop_playing(self, leg: str) -> None:
        lg = self.leg(leg)
        if lg.playback is not None:
            lg.playback.stop()

    # -- digits ---------------------------------------------------------------------------

    def inject_digit(self, leg: str, digit: str) -> None:
        """A digit that arrived outside RTP (SIP INFO): same path as a telephone-event."""
        self._digit(self.leg(leg).name, digit)

    def collect(self, leg: str, collector: PinCollector) -> asyncio.Future[PinResult]:
        """Run ``collector`` over the digits of ``leg`` (RTP telephone-events and
        :meth:`inject_digit`) from now; the future gives its :class:`PinResult` (time-outs
        driven by the loop clock) or raises :class:`CallClosed`. Digits pressed before this
        call are not included: start collecting when the prompt *starts* to allow barge-in.
        """
        name = self.leg(leg).name
        old = self._collecting.pop(name, None)
        if old is not None:
            old.cancel()
        col = _Collection(self._loop, collector)
        if self.closed:
            col.future.set_exception(CallClosed())
            return col.future
        self._collecting[name] = col
        col.future.add_done_callback(
            lambda _f: (
                self._collecting.pop(name, None) if self._collecting.get(name) is col else None
            )
        )
        col.start()
        return col.future

    def _digit(self, leg: str, digit: str) -> None:
        if self.on_dtmf is not None:
            try:
                self.on_dtmf(leg, digit)
            except Exception:
                log.exception("on_dtmf callback failed")
        col = self._collecting.get(leg)
        if col is not None:
            col.feed(digit)

    # -- recording ------------------------------------------------------------------------

    def start_recording(
        self,
        path: str | Path,
        fmt: Literal["wav", "mp3"] = "wav",
        *,
        spool_dir: str | Path | None = None,
    ) -> None:
        """Record both directions (A's and B's voices) from now on into one mono file,
        written by :meth:`stop_recording`. Settled audio of long calls is spooled to a
        temporary file in ``spool_dir`` (default: the system temp folder)."""
        if self._recorder is not None:
            raise RuntimeError("already recording")
        rec = CallRecorder(start=self._loop.time(), spool_dir=spool_dir)
        for lg in (self.a, self.b):
            if lg.payload_type is not None and lg.codec is not None:
                rec.set_codec(lg.name, lg.payload_type, lg.codec)
        self._recorder = rec
        self._record_target = (Path(path), fmt)
        self.add_tap(rec.feed)

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    async def stop_recording(self) -> RecordingResult | None:
        """Stop recording and write the file (in a thread); None if not recording.

        Raises what writing raises (``OSError`` for a full disk, …): the caller reports
        the recording as failed; the call itself is unaffected."""
        rec, target = self._recorder, self._record_target
        if rec is None or target is None:
            return None
        self.remove_tap(rec.feed)
        self._recorder = None
        self._record_target = None
        rec.stop(self._loop.time())
        path, fmt = target
        return await asyncio.to_thread(rec.write, path, fmt)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop prompts and timers and release both legs' ports (idempotent).

        A recording in progress is kept in memory: ``stop_recording()`` still writes it.
        """
        if self.closed:
            return
        self.closed = True
        self.bridged = False
        self._timer.cancel()
        for col in list(self._collecting.values()):
            col.fail(CallClosed())
        self._collecting.clear()
        for lg in (self.a, self.b):
            if lg.playback is not None:
                lg.playback.stop()
            self._loop.remove_reader(lg.sock.fileno())
            self._allocator.release(lg.pair)

    # -- packet path ----------------------------------------------------------------------

    def _on_readable(self, leg: Leg) -> None:
        sock = leg.sock
        rx = self._rx
        for _ in range(_DRAIN_PER_WAKEUP):
            try:
                data, addr = sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            rx(leg, data, addr)

    def _rx(self, leg: Leg, data: bytes, addr: tuple) -> None:
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            leg.dropped += 1
            return
        if leg.srtp is not None:
            # before latching: on an SRTP leg only authenticated packets move the latch
            plain = leg.srtp.unprotect(data)
            if plain is None:
                leg.dropped += 1
                return
            data = plain
        now = self._loop.time()
        if addr != leg.latched and not leg._latch(addr, now):
            leg.dropped += 1
            return
        leg.last_rx = now
        leg.armed = True
        leg.rx_packets += 1
        if self._taps:
            for tap in self._taps:
                try:
                    tap(leg.name, data, now)
                except Exception:
                    # a broken tap must not stop the call's audio: drop the tap, once
                    log.exception("tap %r failed; removed", tap)
                    # a new list: the loop above keeps iterating the old one intact
                    self._taps = [t for t in self._taps if t is not tap]
        pt = data[1] & 0x7F
        is_event = pt == leg.event_pt
        if is_event:
            self._dtmf(leg, data)
        if not self.bridged:
            return
        out = leg.peer
        if out.playback is not None:
            return
        dest = out.latched or out.remote
        if dest is None:
            return
        # only the negotiated audio and telephone-events cross (media/crossing.py)
        if is_event:
            out_pt = out.event_pt
        elif pt == leg.payload_type:
            out_pt = out.payload_type
        else:
            leg.dropped += 1
            return
        if out_pt is None:
            return
        try:
            off = payload_offset(data)
        except RtpParseError:
            leg.dropped += 1
            return
        end = payload_end(data)
        if end < off:
            leg.dropped += 1
            return
        payload = data[off:end]
        table = leg.translate
        if table is not None and not is_event:
            payload = payload.translate(table)
        out.transmit(out.out.forward(data, out_pt, payload, now), dest)

    def _dtmf(self, leg: Leg, data: bytes) -> None:
        try:
            off = payload_offset(data)
        except RtpParseError:
            return
        digit = leg.detector.feed(
            int.from_bytes(data[8:12], "big"),
            int.from_bytes(data[4:8], "big"),
            data[off : payload_end(data)],
        )
        if digit is not None:
            self._digit(leg.name, digit)

    def _check_inactivity(self) -> None:
        now = self._loop.time()
        for lg in (self.a, self.b):
            if lg.armed and now - lg.last_rx > self.inactivity_timeout:
                lg.armed = False  # report once (re-armed by the next packet)
                log.info("leg %s inactive for %.1f s", lg.name, now - lg.last_rx)
                if self.on_inactive is not None:
                    try:
                        self.on_inactive(lg.name)
                    except Exception:
                        log.exception("on_inactive callback failed")
        if not self.closed:
            self._timer = self._loop.call_later(self._check_interval, self._check_inactivity)


class _Collection:
    """A PinCollector driven by the loop: digits fed in, its deadline as a timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, collector: PinCollector) -> None:
        self._loop = loop
        self.collector = collector
        self.future: asyncio.Future[PinResult] = loop.create_future()
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.collector.start(self._loop.time())
        self._arm()

    def feed(self, digit: str) -> None:
        self._settle(self.collector.feed(digit, self._loop.time()))

    def _poll(self) -> None:
        self._timer = None
        self._settle(self.collector.poll(self._loop.time()))

    def _settle(self, result: PinResult | None) -> None:
        if result is not None:
            self._cancel_timer()
            if not self.future.done():
                self.future.set_result(result)
        else:
            self._arm()

    def _arm(self) -> None:
        self._cancel_timer()
        deadline = self.collector.deadline
        if deadline is not None and not self.future.done():
            self._timer = self._loop.call_at(deadline, self._poll)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def fail(self, exc: BaseException) -> None:
        self._cancel_timer()
        if not self.future.done():
            self.future.set_exception(exc)

    def cancel(self) -> None:
        self._cancel_timer()
        self.future.cancel()
