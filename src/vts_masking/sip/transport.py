"""The one asyncio layer of the SIP stack: sockets and timers around the sans-I/O core.

:class:`SipTransport` listens for UDP and TCP on one host:port, parses what arrives, feeds it
with the loop's monotonic time into :class:`~vts_masking.sip.transaction.TransactionLayer`,
runs the actions that come back (sends), arms one ``loop.call_at`` for the layer's next
deadline and hands transaction-user events (new requests, responses, time-outs) to the
callback it was given. Malformed input is logged and answered ``400`` when the request was
readable enough to answer, and otherwise dropped: it never takes the transport down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

from vts_masking import metrics
from vts_masking.sip.message import (
    Request,
    Response,
    SipParseError,
    StreamFramer,
    make_response,
    new_branch,
    parse_message,
)
from vts_masking.sip.transaction import (
    Action,
    ClientTransaction,
    RequestReceived,
    ResponseReceived,
    Send,
    ServerTransaction,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
)

__all__ = ["SipTransport", "TuEvent", "parse_hostport"]

log = logging.getLogger("vts_masking.sip")

Addr = tuple[str, int]
TuEvent = RequestReceived | ResponseReceived | TransactionTimeout | TransactionTerminated


def parse_hostport(text: str, default_port: int = 5060) -> Addr:
    """``"host:port"`` (or ``"[v6]:port"`` or ``"host"``) → (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    host, _, port = text.rpartition(":")
    if not host:
        return text, default_port
    return host, int(port)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._on_bytes(data, (addr[0], addr[1]), "udp")

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and friends: the timers will notice; just log.
        log.debug("udp error: %s", exc)


class _Tcp(asyncio.Protocol):
    def __init__(self, owner: SipTransport, peer: Addr | None = None) -> None:
        self.owner = owner
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer = peer
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.peer is None:
            p = transport.get_extra_info("peername")
            self.peer = (p[0], p[1])
        self.owner._tcp[self.peer] = self
        for data in self.pending:
            transport.write(data)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            log.warning("sip: garbled TCP stream from %s (%s); closing", self.peer, exc)
            if self.transport is not None:
                self.transport.close()
            return
        for msg in messages:
            self.owner._on_message(msg, self.peer, "tcp")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.owner._tcp.get(self.peer) is self:
            del self.owner._tcp[self.peer]

    def write(self, data: bytes) -> None:
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.write(data)


class SipTransport:
    """UDP + TCP SIP endpoint on ``host:port`` driving a :class:`TransactionLayer`.

    ``on_event`` receives :data:`TuEvent` values (synchronously, on the loop). Use
    :meth:`send_request`, :meth:`respond` and :meth:`send_stateless` to act.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5060,
        on_event: Callable[[TuEvent], None] | None = None,
        *,
        advertised_host: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.advertised_host = advertised_host or host
        self.on_event: Callable[[TuEvent], None] = on_event or (lambda ev: None)
        self.layer = TransactionLayer()
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tcp: dict[Addr, _Tcp] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"received": 0, "sent": 0, "malformed": 0}

    def __repr__(self) -> str:
        return f"udp+tcp:{self.host}:{self.port}"

    # -- lifecycle
    async def start(self) -> None:
        """Bind UDP and TCP on the same port (port 0: any port free for both)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        wanted = self.port
        for attempt in range(20):
            # No SO_REUSEADDR on UDP: on Linux it would let two processes share the port.
            udp_sock = socket.socket(family, socket.SOCK_DGRAM)
            with contextlib.suppress(OSError):
                udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            try:
                udp_sock.bind((self.host, wanted))
                port = udp_sock.getsockname()[1]
                self._server = await loop.create_server(
                    lambda: _Tcp(self), self.host, port, reuse_address=True
                )
            except OSError:
                udp_sock.close()
                if wanted != 0 or attempt == 19:
                    raise
                continue  # the UDP port picked for us is taken on TCP: pick again
            break
        self.port = port
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp_sock)
        log.info("sip: listening on %s:%d (udp, tcp)", self.host, self.port)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for conn in list(self._tcp.values()):
            if conn.transport is not None:
                conn.transport.close()
        self._tcp.clear()

    @property
    def local_addr(self) -> Addr:
        return self.advertised_host, self.port

    def now(self) -> float:
        loop = self._loop or asyncio.get_event_loop()
        return loop.time()

    # -- helpers for the TU
    def via(self, transport: str = "udp", branch: str | None = None) -> str:
        """A Via value for a request we originate, with a fresh branch."""
        return (
            f"SIP/2.0/{transport.upper()} {self.advertised_host}:{self.port}"
            f";branch={branch or new_branch()};rport"
        )

    def contact(self, user: str = "vts", transport: str = "udp") -> str:
        tp = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{user}@{self.advertised_host}:{self.port}{tp}>"

    # -- acting
    def send_request(
        self, request: Request, addr: Addr, transport: str = "udp"
    ) -> ClientTransaction:
        txn, actions = self.layer.send_request(request, addr, transport, self.now())
        self._run(actions)
        return txn

    def respond(self, txn: ServerTransaction, response: Response) -> None:
        self._run(self.layer.respond(txn, response, self.now()))

    def send_stateless(
        self, message: Request | Response, addr: Addr, transport: str = "udp"
    ) -> None:
        self._run([Send(message, addr, transport)])

    # -- internals
    def _write(self, data: bytes, addr: Addr, transport: str) -> None:
        self.stats["sent"] += 1
        if transport == "udp":
            if self._udp is not None:
                self._udp.sendto(data, addr)
            return
        conn = self._tcp.get(addr)
        if conn is None:
            conn = _Tcp(self, addr)
            self._tcp[addr] = conn
            loop = self._loop or asyncio.get_event_loop()

            async def connect(c: _Tcp = conn) -> None:
                try:
                    await loop.create_connection(lambda: c, addr[0], addr[1])
                except OSError as exc:
                    log.warning("sip: tcp connect to %s failed: %s", addr, exc)
                    if self._tcp.get(addr) is c:
                        del self._tcp[addr]
                    self._run(self.layer.transport_error(addr, "tcp", self.now()))

            loop.create_task(connect())
        conn.write(data)

    def _run(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Send):
                try:
                    msg = a.message
                    data = msg if isinstance(msg, bytes) else msg.to_bytes()
                    metrics.sip_message("out", msg)
                    self._write(data, a.addr, a.transport)
                except Exception:  # a send failure must not break the caller's flow
                    log.exception("sip: send to %s failed", a.addr)
            else:
                try:
                    self.on_event(a)
                except Exception:
                    log.exception("sip: transaction user failed on %r", a)
        self._arm()

    def _arm(self) -> None:
        at = self.layer.next_deadline()
        if at is None:
            return
        if self._timer_at is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = self._loop or asyncio.get_event_loop()
        self._timer_at = at
        self._timer = loop.call_at(at, self._on_timer, at)

    def _on_timer(self, at: float) -> None:
        self._timer = None
        self._timer_at = None
        # call_at may run a hair early; never pass a time before the deadline it was armed for.
        now = max(self.now(), at)
        try:
            actions = self.layer.on_timer(now)
        except Exception:
            log.exception("sip: timer processing failed")
            actions = []
        self._run(actions)
        self._arm()

    def _on_bytes(self, data: bytes, addr: Addr, transport: str) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            self._malformed(exc, addr, transport)
            return
        self._on_message(msg, addr, transport)

    def _on_message(self, msg: Request | Response, addr: Addr, transport: str) -> None:
        self.stats["received"] += 1
        metrics.sip_message("in", msg)
        try:
            actions = self.layer.receive(msg, addr, transport, self.now())
        except SipParseError as exc:
            self._malformed(exc, addr, transport, msg)
            return
        except Exception:
            log.exception("sip: transaction layer failed on message from %s", addr)
            return
        self._run(actions)

    def _malformed(
        self,
        exc: SipParseError,
        addr: Addr,
        transport: str,
        msg: Request | Response | None = None,
    ) -> None:
        self.stats["malformed"] += 1
        metrics.SIP_MALFORMED.inc()
        partial = msg if msg is not None else exc.partial
        log.warning("sip: malformed message from %s:%d: %s", addr[0], addr[1], exc.reason)
        if not isinstance(partial, Request) or partial.method == "ACK":
            return
        try:
            partial.top_via  # noqa: B018 - only answerable with a Via to answer along
            partial.cseq  # noqa: B018
            resp = make_response(partial, 400)
        except SipParseError:
            return
        try:
            self._write(resp.to_bytes(), addr, transport)
        except Exception:
            log.exception("sip: could not send 400 to %s", addr)
