"""The one asyncio layer of the SIP stack: sockets and timers around the sans-I/O core.

:class:`SipTransport` listens for UDP and TCP on one host:port, parses what arrives, feeds it
with the loop's monotonic time into :class:`~vts_masking.sip.transaction.TransactionLayer`,
runs the actions that come back (sends), arms one ``loop.call_at`` for the layer's next
deadline and hands transaction-user events (new requests, responses, time-outs) to the
callback it was given. Malformed input is counted (``stats["malformed"]``), logged at
WARNING at most a few times a minute (a flood of garbage must not flood the log), and
answered ``400`` when the request was readable enough to answer, otherwise dropped: it
never takes the transport down.

TCP connections are closed when idle for ``tcp_idle_timeout`` seconds (any bytes, CRLF
keep-alives included, count as activity; a connection a call still uses, as told by the
``in_use`` hook, is kept), and when more than ``tcp_max_buffer`` bytes wait on them in
either direction (an unframed partial message in, unsent data out).

TLS (``tls_port`` with a ``tls_server`` context): a third listener whose connections run
the same framing as TCP and are named ``"tls"`` to the transaction layer. Outbound TLS
connections are opened with the context ``tls_client(addr)`` gives (the B2BUA checks a
trunk's certificate against its CA and name) and kept in their own table, reused for
every later message to that peer; a handshake that fails (a wrong certificate) fails
the transactions waiting on it at once and is counted (``stats["tls_failed"]``).

Nothing here depends on the event loop's classes: ``serve`` runs on uvloop, whose
transports are not subclasses of :mod:`asyncio`'s (``isinstance`` checks against
``asyncio.Transport`` fail there), so only the methods every loop provides are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any, cast

from vts_masking import metrics
from vts_masking.ratelog import RateLimitedLog
from vts_masking.sip.acl import AccessList
from vts_masking.sip.message import (
    Request,
    Response,
    SipParseError,
    StreamFramer,
    make_response,
    new_branch,
    new_tag,
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

#: seconds a TCP connection may stay silent before it is closed (Kamailio's default
#: ``tcp_connection_lifetime`` is 120 s too); connections a call still uses are kept
TCP_IDLE_TIMEOUT = 120.0
#: bytes a TCP connection may hold unframed (a partial message) or unsent: 64 KiB, far
#: above any sane SIP message and the most one connection can make us hold
TCP_MAX_BUFFER = 64 * 1024


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
    def __init__(self, owner: SipTransport, peer: Addr | None = None, kind: str = "tcp") -> None:
        self.owner = owner
        self.kind = kind  # "tcp" or "tls": its table in the owner, its name to the layer
        self.table = owner._tls if kind == "tls" else owner._tcp
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer = peer
        self.pending: list[bytes] = []
        self.last_activity = owner.now()
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance(transport, asyncio.Transport): uvloop's TCPTransport is no
        # subclass of it, yet has every method used here.
        self.transport = cast(asyncio.Transport, transport)
        self.last_activity = self.owner.now()
        if self.peer is None:
            p = transport.get_extra_info("peername")
            self.peer = (p[0], p[1])
        self.table[self.peer] = self
        for data in self.pending:
            self.transport.write(data)
        self.pending.clear()
        self._check_write_buffer()

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None
        if self.closing:
            return
        self.last_activity = self.owner.now()
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            self.owner.stats["malformed"] += 1
            self.owner.warn(
                "tcp-garbled", "sip: garbled TCP stream from %s (%s); closing", self.peer, exc
            )
            self.close()
            return
        for msg in messages:
            self.owner._on_message(msg, self.peer, self.kind)
        if self.framer.pending > self.owner.tcp_max_buffer:
            self.owner.stats["tcp_overflow"] += 1
            self.owner.warn(
                "tcp-overflow",
                "sip: TCP connection from %s holds %d unframed bytes (cap %d); closing",
                self.peer,
                self.framer.pending,
                self.owner.tcp_max_buffer,
            )
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.peer is not None and self.table.get(self.peer) is self:
            del self.table[self.peer]

    def write(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_activity = self.owner.now()
        if self.transport is None:
            self.pending.append(data)
            if sum(map(len, self.pending)) > self.owner.tcp_max_buffer:
                self._overflow_out(sum(map(len, self.pending)))
        else:
            self.transport.write(data)
            self._check_write_buffer()

    def _check_write_buffer(self) -> None:
        if self.transport is None or self.closing:
            return
        waiting = self.transport.get_write_buffer_size()
        if waiting > self.owner.tcp_max_buffer:
            self._overflow_out(waiting)

    def _overflow_out(self, waiting: int) -> None:
        # a peer that does not read what we send must not make us hold it forever
        self.owner.stats["tcp_overflow"] += 1
        self.owner.warn(
            "tcp-overflow",
            "sip: TCP connection to %s has %d unsent bytes (cap %d); closing",
            self.peer,
            waiting,
            self.owner.tcp_max_buffer,
        )
        self.close(abort=True)

    def close(self, abort: bool = False) -> None:
        self.closing = True
        self.pending.clear()
        if self.peer is not None and self.table.get(self.peer) is self:
            del self.table[self.peer]
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()


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
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        tcp_max_buffer: int = TCP_MAX_BUFFER,
        tls_port: int | None = None,
        tls_server: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls_port = tls_port if tls_server is not None else None
        self.tls_server = tls_server
        #: the context (and the name to check) for an outbound TLS connection to ``addr``
        self.tls_client: Callable[[Addr], tuple[ssl.SSLContext, str | None]] = lambda addr: (
            ssl.create_default_context(),
            addr[0],
        )
        self._tls: dict[Addr, _Tcp] = {}
        self._tls_server: asyncio.AbstractServer | None = None
        self.advertised_host = advertised_host or host
        self.on_event: Callable[[TuEvent], None] = on_event or (lambda ev: None)
        self.layer = TransactionLayer()
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tcp: dict[Addr, _Tcp] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tcp_idle_timeout = tcp_idle_timeout
        self.tcp_max_buffer = tcp_max_buffer
        #: asked before an idle TCP connection to ``addr`` is closed: True keeps it (a
        #: call still talks over it, and an inbound one could not be opened again)
        self.in_use: Callable[[Addr], bool] = lambda addr: False
        self._idle_timer: asyncio.TimerHandle | None = None
        #: plain counters (a metrics endpoint can read them): messages received and
        #: sent, malformed input, TCP connections closed for idling or overflowing
        self.stats = {
            "received": 0,
            "sent": 0,
            "malformed": 0,
            "tcp_idle_closed": 0,
            "tcp_overflow": 0,
            "refused": 0,  # from outside the access list
            "tls_failed": 0,  # outbound TLS connections refused (handshake, certificate)
        }
        #: who may send us messages (None: anyone); others get a stateless 403
        self.acl: AccessList | None = None
        self._warnings = RateLimitedLog(log)

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
        if self.tls_server is not None and self.tls_port is not None:
            self._tls_server = await loop.create_server(
                lambda: _Tcp(self, kind="tls"),
                self.host,
                self.tls_port,
                ssl=self.tls_server,
                reuse_address=True,
            )
            sock = self._tls_server.sockets[0] if self._tls_server.sockets else None
            if sock is not None:
                self.tls_port = sock.getsockname()[1]
            log.info("sip: listening on %s:%d (tls)", self.host, self.tls_port)
        self._arm_idle_sweep()
        log.info("sip: listening on %s:%d (udp, tcp)", self.host, self.port)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tls_server is not None:
            self._tls_server.close()
            await self._tls_server.wait_closed()
        for conn in [*self._tcp.values(), *self._tls.values()]:
            conn.close()
        self._tcp.clear()
        self._tls.clear()

    def warn(self, key: str, msg: str, *args: object) -> None:
        """A warning about input from outside: a few a minute per ``key``, then counted."""
        self._warnings.warning(key, msg, *args)

    def _arm_idle_sweep(self) -> None:
        if self.tcp_idle_timeout <= 0 or self._loop is None:
            return
        # a connection is closed between 1 and 1.25 idle timeouts after its last byte
        interval = max(0.05, self.tcp_idle_timeout / 4)
        self._idle_timer = self._loop.call_later(interval, self._sweep_idle)

    def _sweep_idle(self) -> None:
        self._idle_timer = None
        now = self.now()
        for addr, conn in [*self._tcp.items(), *self._tls.items()]:
            if now - conn.last_activity <= self.tcp_idle_timeout:
                continue
            try:
                keep = self.in_use(addr)
            except Exception:
                log.exception("sip: in_use hook failed")
                keep = True
            if keep:
                conn.last_activity = now  # asked again one idle timeout from now
                continue
            self.stats["tcp_idle_closed"] += 1
            idle = now - conn.last_activity
            log.info("sip: TCP connection %s idle for %.0f s; closing", addr, idle)
            conn.close()
        self._arm_idle_sweep()

    @property
    def local_addr(self) -> Addr:
        return self.advertised_host, self.port

    def now(self) -> float:
        loop = self._loop or asyncio.get_event_loop()
        return loop.time()

    # -- helpers for the TU
    def _port_for(self, transport: str) -> int:
        return self.tls_port if transport == "tls" and self.tls_port else self.port

    def via(self, transport: str = "udp", branch: str | None = None) -> str:
        """A Via value for a request we originate, with a fresh branch."""
        return (
            f"SIP/2.0/{transport.upper()} {self.advertised_host}:{self._port_for(transport)}"
            f";branch={branch or new_branch()};rport"
        )

    def contact(self, user: str = "vts", transport: str = "udp", *, secure: bool = False) -> str:
        """Our Contact for ``transport``. Over TLS: ``sips:`` when the dialog is secure
        (RFC 3261 §8.1.1.8: a sips Request-URI gets a sips Contact), else
        ``sip:…;transport=tls`` — what phones that dial ``transport=tls`` understand."""
        if transport == "tls" and secure:
            return f"<sips:{user}@{self.advertised_host}:{self._port_for('tls')}>"
        if transport == "tls":
            return f"<sip:{user}@{self.advertised_host}:{self._port_for('tls')};transport=tls>"
        tp = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{user}@{self.advertised_host}:{self.port}{tp}>"

    # -- acting
    def send_request(
        self, request: Request, addr: Addr, transport: str = "udp"
    ) -> ClientTransaction:
        txn, actions = self.layer.send_request(request, addr, transport, self.now())
        self._run(actions)
        return txn

    def respond(
        self, txn: ServerTransaction, response: Response, *, reliable: bool = False
    ) -> None:
        self._run(self.layer.respond(txn, response, self.now(), reliable=reliable))

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
        kind = "tls" if transport == "tls" else "tcp"
        table = self._tls if kind == "tls" else self._tcp
        conn = table.get(addr)
        if conn is None:
            conn = _Tcp(self, addr, kind)
            table[addr] = conn
            loop = self._loop or asyncio.get_event_loop()

            async def connect(c: _Tcp = conn) -> None:
                try:
                    if kind == "tls":
                        ctx, name = self.tls_client(addr)
                        await loop.create_connection(
                            lambda: c, addr[0], addr[1], ssl=ctx, server_hostname=name
                        )
                    else:
                        await loop.create_connection(lambda: c, addr[0], addr[1])
                except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                    if kind == "tls":
                        self.stats["tls_failed"] += 1
                    self.warn(
                        f"{kind}-connect", "sip: %s connect to %s failed: %s", kind, addr, exc
                    )
                    c.closing = True
                    if table.get(addr) is c:
                        del table[addr]
                    self._run(self.layer.transport_error(addr, kind, self.now()))

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
        if self.acl is not None and not self.acl.allows(addr[0]):
            self._refuse(msg, addr, transport)  # counted by the access list
            return
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

    def _refuse(self, msg: Request | Response, addr: Addr, transport: str) -> None:
        """Not from a trunk: counted, a request answered 403 without a transaction (no
        state kept for a flood), a response dropped. Nothing reaches the TU."""
        self.stats["refused"] += 1
        assert self.acl is not None
        self.acl.count_refused(addr[0])
        log.debug("sip: %s from %s:%d refused (access list)", msg, addr[0], addr[1])
        if not isinstance(msg, Request) or msg.method == "ACK":
            return
        try:
            resp = make_response(msg, 403, "Forbidden", to_tag=new_tag())
            self._write(resp.to_bytes(), addr, transport)
        except SipParseError:
            return
        except Exception:
            log.exception("sip: could not send 403 to %s", addr)

    def _malformed(
        self,
        exc: SipParseError,
        addr: Addr,
        transport: str,
        msg: Request | Response | None = None,
    ) -> None:
        self.stats["malformed"] += 1
        partial = msg if msg is not None else exc.partial
        self.warn(
            "malformed", "sip: malformed message from %s:%d: %s", addr[0], addr[1], exc.reason
        )
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
