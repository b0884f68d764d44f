"""RFC 3261 §17 transactions as state machines without I/O (with the RFC 6026 fixes).

Every machine is fed inputs with the current monotonic time ``now`` and returns a list of
actions (:class:`Send`, :class:`RequestReceived`, :class:`ResponseReceived`,
:class:`TransactionTimeout`, :class:`TransactionTerminated`); ``next_deadline()`` says when
its next timer is due and ``on_timer(now)`` fires whatever is due. Over reliable transports
(TCP) nothing is retransmitted and the absorbing timers D, I, J, K are zero.

:class:`TransactionLayer` holds them all: it matches incoming messages to transactions
(branch + sent-by + method; ACK and CANCEL as §17.2.3 and §9.2 say), absorbs
retransmissions, creates server transactions for new requests and hands everything the
transaction user (TU) must see back as actions. The transport runs the actions.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

from vts_masking.sip.message import (
    MAGIC_COOKIE,
    Headers,
    Request,
    Response,
    SipParseError,
    make_response,
)

__all__ = [
    "T1",
    "T2",
    "T4",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "RequestReceived",
    "ResponseReceived",
    "Send",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "TransactionLayer",
    "TransactionTerminated",
    "TransactionTimeout",
    "build_ack_for_failure",
    "build_cancel",
    "stamp_received",
]

T1 = 0.5
T2 = 4.0
T4 = 5.0

Addr = tuple[str, int]


# --------------------------------------------------------------------------- actions


@dataclass(slots=True)
class Send:
    """Put ``message`` on the wire to ``addr`` over ``transport`` ("udp" or "tcp")."""

    message: Request | Response | bytes  # bytes: a retransmission already serialised
    addr: Addr
    transport: str = "udp"


@dataclass(slots=True)
class RequestReceived:
    """For the TU: a new request. ``txn`` is its server transaction (None for an ACK to a
    2xx, which has none). For CANCEL, ``cancelled`` is the INVITE server transaction it
    matches (None: answer 481). For an ACK to a 2xx, ``cancelled`` is None and ``txn`` is
    the accepted INVITE server transaction it matched, if any."""

    request: Request
    txn: ServerTransaction | None
    addr: Addr
    transport: str
    cancelled: ServerInviteTransaction | None = None


@dataclass(slots=True)
class ResponseReceived:
    """For the TU: a response for client transaction ``txn`` (None when stray)."""

    response: Response
    txn: ClientTransaction | None
    addr: Addr | None = None


@dataclass(slots=True)
class TransactionTimeout:
    """Timer B/F (client: no final response) or H / 2xx-without-ACK (server)."""

    txn: Transaction


@dataclass(slots=True)
class TransactionTerminated:
    txn: Transaction


Action = Send | RequestReceived | ResponseReceived | TransactionTimeout | TransactionTerminated


# --------------------------------------------------------------------------- helpers


def build_ack_for_failure(request: Request, response: Response) -> Request:
    """ACK for a non-2xx final response (§17.1.1.3): hop-by-hop, same branch as INVITE."""
    h = Headers()
    vias = request.headers.get_all("via")
    h.add("Via", vias[0])
    for name in ("route",):
        for v in request.headers.get_all(name):
            h.add("Route", v)
    h.add("Max-Forwards", "70")
    h.add("From", request.headers.get("from") or "")
    h.add("To", response.headers.get("to") or "")
    h.add("Call-ID", request.call_id)
    h.add("CSeq", f"{request.cseq.number} ACK")
    return Request("ACK", request.uri, h)


def build_cancel(request: Request) -> Request:
    """CANCEL for a pending INVITE (§9.1): same R-URI, top Via, From, To, Call-ID, CSeq num."""
    h = Headers()
    h.add("Via", request.headers.get_all("via")[0])
    for v in request.headers.get_all("route"):
        h.add("Route", v)
    h.add("Max-Forwards", "70")
    h.add("From", request.headers.get("from") or "")
    h.add("To", request.headers.get("to") or "")
    h.add("Call-ID", request.call_id)
    h.add("CSeq", f"{request.cseq.number} CANCEL")
    return Request("CANCEL", request.uri, h)


class Transaction:
    """Common parts. ``context`` is free for the TU (the B2BUA hangs its leg there)."""

    kind = "base"
    state: str

    def __init__(self, request: Request, addr: Addr, transport: str) -> None:
        self.request = request
        self.addr = addr
        self.transport = transport
        self.reliable = transport != "udp"
        self.key: tuple[Any, ...] = ()
        self.context: Any = None
        self._deadlines: dict[str, float] = {}
        self._heap_at: float | None = None  # see TransactionLayer._schedule

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values()) if self._deadlines else None

    def _set(self, name: str, at: float) -> None:
        self._deadlines[name] = at

    def _clear(self, *names: str) -> None:
        for n in names:
            self._deadlines.pop(n, None)

    def _settle(self) -> None:
        """Entering a waiting state: forget parsed header values of what we keep.

        A busy B2BUA holds tens of thousands of transactions in these 32-second waits;
        dropping their parsed objects keeps the garbage collector's pauses short.
        """
        self.request.invalidate()

    def _terminate(self) -> list[Action]:
        if self.state == "terminated":
            return []
        self.state = "terminated"
        self._deadlines.clear()
        return [TransactionTerminated(self)]

    def _due(self, now: float) -> list[str]:
        return sorted(
            (n for n, at in self._deadlines.items() if at <= now), key=lambda n: self._deadlines[n]
        )

    def on_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        for name in self._due(now):
            if name in self._deadlines and self._deadlines[name] <= now:
                del self._deadlines[name]
                out += self._fire(name, now)
        return out

    def _fire(self, name: str, now: float) -> list[Action]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request.method} {self.state}>"


# --------------------------------------------------------------------------- client


class ClientTransaction(Transaction):
    pass


class ClientInviteTransaction(ClientTransaction):
    """§17.1.1: calling → proceeding → completed | accepted (RFC 6026) → terminated."""

    kind = "client-invite"

    def __init__(self, request: Request, addr: Addr, transport: str = "udp") -> None:
        super().__init__(request, addr, transport)
        self.state = "calling"
        self._a_interval = T1
        self.last_response: Response | None = None
        self._ack: bytes | None = None

    def start(self, now: float) -> list[Action]:
        if not self.reliable:
            self._set("A", now + T1)
        self._set("B", now + 64 * T1)
        return [Send(self.request, self.addr, self.transport)]

    def on_response(self, response: Response, now: float) -> list[Action]:
        status = response.status
        st = self.state
        if st in ("calling", "proceeding"):
            if status < 200:
                self.state = "proceeding"
                self._clear("A", "B")
                self.last_response = response
                return [ResponseReceived(response, self)]
            self.last_response = None
            if status < 300:
                self.state = "accepted"
                self._clear("A", "B")
                self._set("M", now + 64 * T1)
                self._settle()
                return [ResponseReceived(response, self)]
            self.state = "completed"
            self._clear("A", "B")
            ack = build_ack_for_failure(self.request, response)
            self._ack = ack.to_bytes()
            self._set("D", now + (0.0 if self.reliable else 32.0))
            self._settle()
            return [Send(self._ack, self.addr, self.transport), ResponseReceived(response, self)]
        if st == "accepted" and 200 <= status < 300:
            # 2xx retransmissions (or forks) go to the TU, which sends the ACK (RFC 6026).
            return [ResponseReceived(response, self)]
        if st == "completed" and status >= 300 and self._ack is not None:
            return [Send(self._ack, self.addr, self.transport)]
        return []

    def _fire(self, name: str, now: float) -> list[Action]:
        if name == "A" and self.state == "calling":
            self._a_interval *= 2
            self._set("A", now + self._a_interval)
            return [Send(self.request, self.addr, self.transport)]
        if name == "B" and self.state == "calling":
            return [TransactionTimeout(self), *self._terminate()]
        if name in ("D", "M"):
            return self._terminate()
        return []


class ClientNonInviteTransaction(ClientTransaction):
    """§17.1.2: trying → proceeding → completed → terminated."""

    kind = "client-non-invite"

    def __init__(self, request: Request, addr: Addr, transport: str = "udp") -> None:
        super().__init__(request, addr, transport)
        self.state = "trying"
        self._e_interval = T1
        self.last_response: Response | None = None

    def start(self, now: float) -> list[Action]:
        if not self.reliable:
            self._set("E", now + T1)
        self._set("F", now + 64 * T1)
        return [Send(self.request, self.addr, self.transport)]

    def on_response(self, response: Response, now: float) -> list[Action]:
        if self.state in ("trying", "proceeding"):
            self.last_response = response
            if response.status < 200:
                self.state = "proceeding"
                return [ResponseReceived(response, self)]
            self.state = "completed"
            self.last_response = None
            self._clear("E", "F")
            self._set("K", now + (0.0 if self.reliable else T4))
            self._settle()
            return [ResponseReceived(response, self)]
        return []

    def _fire(self, name: str, now: float) -> list[Action]:
        if name == "E" and self.state in ("trying", "proceeding"):
            if self.state == "trying":
                self._e_interval = min(2 * self._e_interval, T2)
            else:
                self._e_interval = T2
            self._set("E", now + self._e_interval)
            return [Send(self.request, self.addr, self.transport)]
        if name == "F" and self.state in ("trying", "proceeding"):
            return [TransactionTimeout(self), *self._terminate()]
        if name == "K":
            return self._terminate()
        return []


# --------------------------------------------------------------------------- server


class ServerTransaction(Transaction):
    # The last provisional response (as a message) until a final one is sent; the final
    # response is kept only serialised, in ``_final``, for retransmissions.
    last_response: Response | None
    final_status: int | None = None
    _final: bytes | None = None

    def _send_final(self, response: Response) -> Send:
        self.final_status = response.status
        self._final = response.to_bytes()
        self.last_response = None
        return Send(self._final, self.addr, self.transport)

    def respond(self, response: Response, now: float) -> list[Action]:  # pragma: no cover
        raise NotImplementedError

    def on_request(self, request: Request, now: float) -> list[Action]:  # pragma: no cover
        raise NotImplementedError


class ServerInviteTransaction(ServerTransaction):
    """§17.2.1 with RFC 6026: proceeding → completed → confirmed, or → accepted.

    In ``accepted`` the transaction also retransmits the 2xx over UDP (T1 doubling up to
    T2) until the TU reports the ACK with :meth:`ack_received`; without one after 64*T1 it
    reports :class:`TransactionTimeout` so the TU can end the dialog (§13.3.1.4).
    """

    kind = "server-invite"

    def __init__(self, request: Request, addr: Addr, transport: str = "udp") -> None:
        super().__init__(request, addr, transport)
        self.state = "proceeding"
        self.last_response = None
        self._g_interval = T1
        self.acked = False
        # (call-id, cseq, to-tag) of our 2xx, for matching the ACK that has its own branch.
        self.accepted_key: tuple[str, int, str | None] | None = None
        # RFC 3262: the reliable provisional awaiting its PRACK (serialised), if any
        self._reliable: bytes | None = None
        self._p_interval = T1

    @property
    def awaiting_prack(self) -> bool:
        return self._reliable is not None

    def respond_reliably(self, response: Response, now: float) -> list[Action]:
        """RFC 3262 §3: send a reliable provisional (it carries ``Require: 100rel`` and
        ``RSeq``) and retransmit it — over any transport, it is end to end — from T1
        doubling to T2 until :meth:`prack_received`. No PRACK after 64*T1: a
        :class:`TransactionTimeout` while still ``proceeding`` (the TU answers 5xx)."""
        if self.state != "proceeding" or not 100 < response.status < 200:
            return []
        self.last_response = response
        self._reliable = response.to_bytes()
        self._p_interval = T1
        self._set("P", now + T1)
        self._set("P64", now + 64 * T1)
        return [Send(self._reliable, self.addr, self.transport)]

    def prack_received(self) -> None:
        self._reliable = None
        self._clear("P", "P64")

    def respond(self, response: Response, now: float) -> list[Action]:
        if self.state != "proceeding":
            # A final response was already sent; a second one is a TU bug, ignore it.
            return []
        if response.status < 200:
            self.last_response = response
            return [Send(response, self.addr, self.transport)]
        if response.status < 300:
            self.accepted_key = (self.request.call_id, self.request.cseq.number, response.to.tag)
        self.prack_received()  # a final response ends reliable provisional retransmission
        send = self._send_final(response)
        self._settle()
        if response.status < 300:
            self.state = "accepted"
            if not self.reliable:
                self._g_interval = T1
                self._set("G2xx", now + T1)
            self._set("L", now + 64 * T1)
            return [send]
        self.state = "completed"
        if not self.reliable:
            self._set("G", now + T1)
        self._set("H", now + 64 * T1)
        return [send]

    def on_request(self, request: Request, now: float) -> list[Action]:
        if request.method == "ACK":
            if self.state == "completed":
                self.state = "confirmed"
                self._clear("G", "H")
                self._set("I", now + (0.0 if self.reliable else T4))
            return []
        # A retransmitted INVITE: repeat the last provisional/final, never re-deliver.
        if self.state == "proceeding" and self.last_response is not None:
            return [Send(self.last_response, self.addr, self.transport)]
        if self.state == "completed" and self._final is not None:
            return [Send(self._final, self.addr, self.transport)]
        return []

    def ack_received(self) -> None:
        """The TU matched the ACK for our 2xx: stop retransmitting it."""
        self.acked = True
        self._clear("G2xx")

    def _fire(self, name: str, now: float) -> list[Action]:
        if name == "P" and self.state == "proceeding" and self._reliable is not None:
            self._p_interval = min(2 * self._p_interval, T2)
            self._set("P", now + self._p_interval)
            return [Send(self._reliable, self.addr, self.transport)]
        if name == "P64" and self.state == "proceeding" and self._reliable is not None:
            self.prack_received()
            return [TransactionTimeout(self)]
        if name == "G" and self.state == "completed" and self._final is not None:
            self._g_interval = min(2 * self._g_interval, T2)
            self._set("G", now + self._g_interval)
            return [Send(self._final, self.addr, self.transport)]
        if name == "H" and self.state == "completed":
            return [TransactionTimeout(self), *self._terminate()]
        if name == "I":
            return self._terminate()
        if name == "G2xx" and self.state == "accepted" and not self.acked:
            self._g_interval = min(2 * self._g_interval, T2)
            self._set("G2xx", now + self._g_interval)
            assert self._final is not None
            return [Send(self._final, self.addr, self.transport)]
        if name == "L":
            out: list[Action] = []
            if not self.acked:
                out.append(TransactionTimeout(self))
            return out + self._terminate()
        return []


class ServerNonInviteTransaction(ServerTransaction):
    """§17.2.2: trying → proceeding → completed → terminated."""

    kind = "server-non-invite"

    def __init__(self, request: Request, addr: Addr, transport: str = "udp") -> None:
        super().__init__(request, addr, transport)
        self.state = "trying"
        self.last_response = None

    def respond(self, response: Response, now: float) -> list[Action]:
        if self.state not in ("trying", "proceeding"):
            return []
        if response.status < 200:
            self.state = "proceeding"
            self.last_response = response
            return [Send(response, self.addr, self.transport)]
        self.state = "completed"
        self._set("J", now + (0.0 if self.reliable else 64 * T1))
        send = self._send_final(response)
        self._settle()
        return [send]

    def on_request(self, request: Request, now: float) -> list[Action]:
        if self.state == "completed" and self._final is not None:
            return [Send(self._final, self.addr, self.transport)]
        if self.state == "proceeding" and self.last_response is not None:
            return [Send(self.last_response, self.addr, self.transport)]
        return []

    def _fire(self, name: str, now: float) -> list[Action]:
        if name == "J":
            return self._terminate()
        return []


# --------------------------------------------------------------------------- layer


def stamp_received(request: Request, addr: Addr) -> None:
    """RFC 3261 §18.2.1 and RFC 3581: note where the request really came from in its top
    Via (``received``, and ``rport`` when asked), so responses tell a NATed client."""
    via = request.top_via
    wants_rport = "rport" in via.params
    if not wants_rport and via.host == addr[0]:
        return
    via.params["received"] = addr[0]
    if wants_rport:
        via.params["rport"] = str(addr[1])
    # ``via`` is the cached top Via (edited in place) or a fresh parse of the header:
    # rewriting the header text keeps either consistent, and no other parsed header
    # changed, so the request's other caches stay valid.
    request.headers.remove_first("via")
    request.headers.insert("Via", str(via))


def _server_key(request: Request) -> tuple[Any, ...]:
    """§17.2.3 matching key; ACK matches its INVITE, CANCEL gets its own."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    if branch and branch.startswith(MAGIC_COOKIE):
        return (branch, via.sent_by, method)
    # RFC 2543 peers: fall back on the dialog-ish identifiers (§17.2.3, simplified).
    return (
        "2543",
        request.call_id,
        request.from_.tag,
        request.cseq.number,
        via.sent_by,
        method,
    )


class TransactionLayer:
    """All transactions of one SIP endpoint, matched and timed; no I/O.

    Inputs: :meth:`receive` (a parsed message from the wire), :meth:`send_request`,
    :meth:`respond`, :meth:`on_timer`. Each returns actions for the transport to run.
    """

    def __init__(self) -> None:
        self.server: dict[tuple[Any, ...], ServerTransaction] = {}
        self.client: dict[tuple[Any, ...], ClientTransaction] = {}
        # Accepted INVITE server transactions by (call-id, cseq, to-tag) for 2xx ACK matching.
        self._accepted: dict[tuple[str, int, str | None], ServerInviteTransaction] = {}
        self._heap: list[tuple[float, int, Transaction]] = []
        self._seq = itertools.count()

    # -- bookkeeping
    # One heap entry per transaction at most (``txn._heap_at`` is its time): an entry is
    # pushed only when the deadline moves earlier; one that fires early re-arms itself.
    def _schedule(self, txn: Transaction) -> None:
        d = txn.next_deadline()
        if d is None:
            return
        live = txn._heap_at
        if live is not None and live <= d:
            return
        txn._heap_at = d
        heapq.heappush(self._heap, (d, next(self._seq), txn))

    def _forget(self, txn: Transaction) -> None:
        if isinstance(txn, ServerTransaction):
            if self.server.get(txn.key) is txn:
                del self.server[txn.key]
            if isinstance(txn, ServerInviteTransaction) and txn.accepted_key is not None:
                k = txn.accepted_key
                if self._accepted.get(k) is txn:
                    del self._accepted[k]
        elif self.client.get(txn.key) is txn:
            del self.client[txn.key]

    def _post(self, txn: Transaction, actions: list[Action]) -> list[Action]:
        for a in actions:
            if isinstance(a, TransactionTerminated):
                self._forget(a.txn)
        if not txn.terminated:
            self._schedule(txn)
        return actions

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            at, _, txn = heap[0]
            if txn.terminated or txn._heap_at != at:
                heapq.heappop(heap)  # stale: finished, or superseded by an earlier entry
                continue
            d = txn.next_deadline()
            if d is None or d > at:
                # Its timer was cleared or pushed back: re-file it at the true time.
                heapq.heappop(heap)
                txn._heap_at = None
                self._schedule(txn)
                continue
            return at
        return None

    def on_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, txn = heapq.heappop(heap)
            if txn.terminated or txn._heap_at != at:
                continue
            txn._heap_at = None
            d = txn.next_deadline()
            if d is None:
                continue
            if d > now:
                self._schedule(txn)
                continue
            out += self._post(txn, txn.on_timer(now))
        return out

    def __len__(self) -> int:
        return len(self.server) + len(self.client)

    # -- outgoing
    def send_request(
        self, request: Request, addr: Addr, transport: str, now: float
    ) -> tuple[ClientTransaction, list[Action]]:
        """Start a client transaction for ``request`` (not for ACK: use :meth:`send_stateless`)."""
        if request.method == "ACK":
            raise ValueError("ACK has no client transaction; send it statelessly")
        txn: ClientTransaction
        if request.method == "INVITE":
            txn = ClientInviteTransaction(request, addr, transport)
        else:
            txn = ClientNonInviteTransaction(request, addr, transport)
        txn.key = (request.top_via.branch, request.method)
        self.client[txn.key] = txn
        return txn, self._post(txn, txn.start(now))

    def respond(
        self, txn: ServerTransaction, response: Response, now: float, *, reliable: bool = False
    ) -> list[Action]:
        """Send ``response`` on ``txn``; ``reliable``: a provisional sent per RFC 3262."""
        was_accepted = txn.state == "accepted"
        if reliable and isinstance(txn, ServerInviteTransaction):
            return self._post(txn, txn.respond_reliably(response, now))
        actions = txn.respond(response, now)
        if (
            isinstance(txn, ServerInviteTransaction)
            and not was_accepted
            and txn.state == "accepted"
            and txn.accepted_key is not None
        ):
            self._accepted[txn.accepted_key] = txn
        return self._post(txn, actions)

    def transport_error(self, addr: Addr, transport: str, now: float) -> list[Action]:
        """The transport could not reach ``addr`` (TCP connect failed): every client
        transaction towards it fails at once (§17.1.4) instead of waiting for Timer B/F."""
        out: list[Action] = []
        for txn in list(self.client.values()):
            if txn.addr == addr and txn.transport == transport and not txn.terminated:
                out.append(TransactionTimeout(txn))
                out += self._post(txn, txn._terminate())
        return out

    @staticmethod
    def send_stateless(message: Request | Response, addr: Addr, transport: str) -> list[Action]:
        return [Send(message, addr, transport)]

    # -- incoming
    def receive(
        self, message: Request | Response, addr: Addr, transport: str, now: float
    ) -> list[Action]:
        if isinstance(message, Response):
            return self._receive_response(message, addr, now)
        return self._receive_request(message, addr, transport, now)

    def _receive_response(self, response: Response, addr: Addr, now: float) -> list[Action]:
        try:
            key = (response.top_via.branch, response.cseq.method)
        except SipParseError:
            return []
        if key[1] == "ACK":
            return []
        txn = self.client.get(key)
        if txn is None:
            return [ResponseReceived(response, None, addr)]
        return self._post(txn, txn.on_response(response, now))

    def _receive_request(
        self, request: Request, addr: Addr, transport: str, now: float
    ) -> list[Action]:
        key = _server_key(request)
        txn = self.server.get(key)
        if request.method == "ACK":
            if isinstance(txn, ServerInviteTransaction) and txn.state in (
                "completed",
                "confirmed",
            ):
                # ACK for our non-2xx final: absorbed by the transaction.
                return self._post(txn, txn.on_request(request, now))
            # ACK for a 2xx: it has its own branch; match the accepted INVITE by dialog.
            acc = self._accepted.get((request.call_id, request.cseq.number, request.to.tag))
            if acc is not None:
                first = not acc.acked
                acc.ack_received()
                self._schedule(acc)
                if not first:
                    return []  # a retransmitted ACK: absorbed
                return [RequestReceived(request, acc, addr, transport)]
            return [RequestReceived(request, None, addr, transport)]
        if txn is not None:  # a retransmission: its stored answer already says where to
            return self._post(txn, txn.on_request(request, now))
        stamp_received(request, addr)
        new: ServerTransaction
        if request.method == "INVITE":
            new = ServerInviteTransaction(request, addr, transport)
        else:
            new = ServerNonInviteTransaction(request, addr, transport)
        new.key = key
        self.server[key] = new
        cancelled = None
        if request.method == "CANCEL":
            inv = self.server.get((*key[:-1], "INVITE"))
            if isinstance(inv, ServerInviteTransaction):
                cancelled = inv
        return [RequestReceived(request, new, addr, transport, cancelled)]

    def respond_stateless(
        self, request: Request, status: int, addr: Addr, transport: str, to_tag: str | None
    ) -> list[Action]:
        return [Send(make_response(request, status, to_tag=to_tag), addr, transport)]
