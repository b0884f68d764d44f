"""A back-to-back user agent that masks calls: one SIP leg in, an unrelated SIP leg out.

It knows nothing of sessions. Each inbound INVITE becomes an :class:`InboundCall` handed to
an async ``router`` supplied by the caller (the ``calls`` engine), which answers with a
:class:`Reject` or a :class:`Bridge`. For a bridge the B2BUA places a brand-new call to the
trunk — new Call-ID, tags, branch, Via and Contact, From = the caller ID it was given — so
nothing of the caller's identity crosses. Every SDP it sends is written through the
allow-list of :mod:`vts_masking.media.crossing` (its ``sdp_rewriter`` hook, the calls
engine's relay, gets the other phone's SDP as a ``Description`` and returns ours); an SDP
that cannot be written so (no G.711, no relay ports) refuses the call or the re-INVITE
(:class:`~vts_masking.media.crossing.NotRelayable`). Provisional answers, the final
answer, re-INVITE, UPDATE and INFO (DTMF only) are relayed; BYE or CANCEL on one side ends
the other; ``ring_timeout`` and ``call_time_limit`` are enforced here.

An INVITE without an offer (delayed offer) is sent on without one; the callee's offer in
its 2xx goes to the caller in ours, and the callee's ACK waits for the caller's answer
(in the caller's ACK), written through the same allow-list.

:meth:`B2BUA.originate` places both calls itself (``initiate_call_to_first_party``): it
calls the first party without an offer, sends that party's offer to the second party and
returns the second party's answer in the first party's ACK (RFC 3725, flow I).

An optional :class:`CallObserver` sees every leg's life (initiated, ringing, answered,
failed, ended) with timestamps from the injected clock, so the engine can write Call
records, interactions and events. Leg side ``"a"`` is the caller (or the first party),
``"b"`` the party dialled second.

In-dialog requests are sent to the address the leg talks to (the trunk for outbound legs,
the source address for inbound legs) rather than to the peer's Contact, as every peer of
this service sits behind the operator's trunk or load balancer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from vts_masking import badinput
from vts_masking.clock import Clock
from vts_masking.domain.coerce import is_number
from vts_masking.media import crossing
from vts_masking.media.crossing import Description, NotRelayable
from vts_masking.sip.dialog import Dialog, DialogError
from vts_masking.sip.message import (
    Headers,
    Request,
    Response,
    SipParseError,
    make_response,
    new_call_id,
    new_tag,
    parse_uri,
)
from vts_masking.sip.registration import Registration
from vts_masking.sip.sdp import SdpError, SessionDescription, parse_sdp
from vts_masking.sip.tls import client_context
from vts_masking.sip.transaction import (
    ClientInviteTransaction,
    ClientTransaction,
    RequestReceived,
    ResponseReceived,
    ServerInviteTransaction,
    ServerTransaction,
    TransactionTerminated,
    TransactionTimeout,
    build_cancel,
)
from vts_masking.sip.transport import SipTransport, TuEvent
from vts_masking.sip.trunks import Trunk, TrunkTable
from vts_masking.sip.uac import (
    SessionTimer,
    auth_headers,
    challenges_of,
    negotiate_session_timer,
    parse_rack,
    rack_value,
    redirect_targets,
    resubmit,
    rseq_of,
    wants_reliable,
)

__all__ = [
    "B2BUA",
    "CAUSE_CODES",
    "Answer",
    "Bridge",
    "Call",
    "CallObserver",
    "Decision",
    "InboundCall",
    "Leg",
    "Reject",
    "SdpRewriter",
    "caller_status_for",
    "cause_for_status",
]

log = logging.getLogger("vts_masking.calls.b2bua")

Addr = tuple[str, int]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK"
#: SIP extensions we implement (a request requiring another one is answered 420)
SUPPORTED = ("100rel", "timer")

# Hangup causes (the names customers know from the usual voice APIs) and Q.850-ish codes.
CAUSE_CODES = {
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "UNALLOCATED_NUMBER": 1,
    "INVALID_NUMBER_FORMAT": 28,
    "NORMAL_UNSPECIFIED": 31,
    "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "INCOMPATIBLE_DESTINATION": 88,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "ORIGINATOR_CANCEL": 487,
    "ALLOTTED_TIMEOUT": 602,
}


def cause_for_status(status: int) -> str:
    """Hangup cause name for a final SIP failure status."""
    exact = {
        486: "USER_BUSY",
        600: "USER_BUSY",
        603: "CALL_REJECTED",
        403: "CALL_REJECTED",
        404: "UNALLOCATED_NUMBER",
        604: "UNALLOCATED_NUMBER",
        410: "NUMBER_CHANGED",
        484: "INVALID_NUMBER_FORMAT",
        408: "NO_USER_RESPONSE",
        480: "NO_ANSWER",
        487: "ORIGINATOR_CANCEL",
        488: "INCOMPATIBLE_DESTINATION",
        606: "INCOMPATIBLE_DESTINATION",
        502: "NETWORK_OUT_OF_ORDER",
        503: "NORMAL_TEMPORARY_FAILURE",
    }
    if status in exact:
        return exact[status]
    if status >= 600:
        return "CALL_REJECTED"
    if status >= 500:
        return "NORMAL_TEMPORARY_FAILURE"
    return "NORMAL_UNSPECIFIED"


def caller_status_for(status: int) -> int:
    """What the caller is told when the callee's leg fails with ``status``."""
    if 300 <= status < 400:
        return 480  # we do not follow redirects
    if status in (401, 407):
        return 403  # a challenge was for us, not for the caller
    if status == 503:
        return 500  # 503 would make the caller's proxy retry elsewhere (RFC 3261 §16.7)
    return status


# --------------------------------------------------------------------------- public types


@dataclass(slots=True)
class InboundCall:
    """What the router sees of a new inbound call."""

    leg_id: str
    call_id: str
    to_user: str | None  # the Request-URI user: the virtual number dialled
    from_user: str | None  # the caller's number
    from_display: str | None
    source: Addr
    transport: str
    sdp: bytes | None
    request: Request


@dataclass(slots=True)
class Reject:
    """Refuse the call with ``status`` (404 unknown number, 403 unknown caller, ...)."""

    status: int = 404
    reason: str | None = None


@dataclass(slots=True)
class Bridge:
    """Dial ``number`` (or ``target_uri``) at the trunk, presenting ``caller_id``.

    ``context`` is opaque to the B2BUA and comes back on :class:`Call` in observer events.
    ``ring_timeout`` and ``call_time_limit`` are seconds (None: no limit).
    """

    number: str | None = None
    caller_id: str = "anonymous"
    target_uri: str | None = None
    trunk: Addr | None = None
    transport: str | None = None  # None: the trunk's own
    ring_timeout: float | None = None
    call_time_limit: float | None = None
    context: Any = None


@dataclass(slots=True)
class Answer:
    """Answer the inbound call ourselves, then hand it to ``script``.

    ``sdp(call)`` gives our answer to the caller's offer (the media relay's address); the
    B2BUA puts its own o= line on it. Once the 200 is sent, ``script(call)`` runs as a
    task: it may play prompts, collect digits, then :meth:`B2BUA.dial` the other party
    (the leg then answers without being relayed to the caller, who is already up) or
    :meth:`B2BUA.hangup` the call. ``call_time_limit`` counts from this answer.
    """

    sdp: Callable[[Call], bytes | None]
    script: Callable[[Call], Awaitable[None]]
    context: Any = None
    call_time_limit: float | None = None


Decision = Reject | Bridge | Answer
Router = Callable[[InboundCall], Awaitable[Decision]]
# Called with the leg an SDP is about to be sent to, the other phone's SDP as the allow-list
# reads it, and whether it is an offer; returns the SDP to send, written by
# media/crossing.py (the relay points it at itself). The B2BUA puts its own o= line on it.
# Raises NotRelayable to refuse it.
SdpRewriter = Callable[["Leg", Description, bool], SessionDescription]

Side = Literal["a", "b"]


@dataclass(eq=False, slots=True)
class Leg:
    """One SIP call leg. Timestamps are wall-clock datetimes from the injected clock."""

    id: str
    side: Side
    direction: Literal["inbound", "outbound"]
    call: Call
    addr: Addr
    transport: str
    number: str | None = None  # the remote party's number
    call_id: str = ""
    local_tag: str = ""
    state: str = "new"  # new, early, answered, ended, failed
    dialog: Dialog | None = None
    invite: Request | None = None
    invite_txn: ServerInviteTransaction | ClientInviteTransaction | None = None
    status: int | None = None  # final status of the initial INVITE
    hangup_cause: str | None = None
    hangup_by: str | None = None  # "a", "b" or "system"
    initiated_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    # internals
    got_provisional: bool = False
    cancel_pending: bool = False
    abandoned: bool = False  # we gave up on this leg (CANCEL sent or pending)
    acked: bool = False
    sdp_session_id: int = field(default_factory=lambda: secrets.randbelow(2**31) + 1)
    sdp_version: int = 0
    last_sdp: bytes | None = None
    ack_body: bytes = b""  # what our last ACK on this leg carried (for 2xx retransmissions)
    offer_pending: bytes | None = None  # originate: A's offer, ACKed once B answers
    relay_ack: _PendingAck | None = None  # offerless re-INVITE: ACK to pass on to the peer
    remote_sdp: bytes | None = None  # answered-mode outbound legs: the SDP of their 2xx
    reinvite_busy: bool = False
    # trunking (outbound: the trunk it leaves through; inbound: the one it came from)
    trunk: Trunk | None = None
    redirects: int = 0  # 3xx followed on this leg
    # RFC 3262, outbound legs: early dialogs by the callee's tag, the last RSeq seen
    early: dict[str, Dialog] = field(default_factory=dict)
    rseq_seen: dict[str, int] = field(default_factory=dict)
    # RFC 3262, inbound legs: our last RSeq, whether that 1xx carried SDP, and what waits
    # for its PRACK (the next reliable 1xx; a 2xx that must not overtake an SDP answer)
    rseq: int = 0
    prack_sdp: bool = False
    queued_provisional: tuple[int, bytes] | None = None
    queued_final: bytes | None = None
    # RFC 4028: the session timer our 2xx granted, and when it was last refreshed
    timer: SessionTimer | None = None
    timer_handle: asyncio.TimerHandle | None = None

    @property
    def hangup_cause_code(self) -> int | None:
        return CAUSE_CODES.get(self.hangup_cause) if self.hangup_cause else None

    @property
    def is_up(self) -> bool:
        return self.state == "answered"

    @property
    def finished(self) -> bool:
        return self.state in ("ended", "failed")


@dataclass(eq=False, slots=True)
class Call:
    """A bridged (or originated) call: legs ``a`` and ``b`` and the router's ``context``."""

    id: str
    kind: Literal["inbound", "originate", "answered"]
    context: Any
    bridge: Bridge
    a: Leg | None = None
    b: Leg | None = None
    second: Bridge | None = None  # originate: who to dial after the first party answers
    script: Callable[[Call], Awaitable[None]] | None = None  # answered originate: run on answer
    ended: bool = False
    ended_at: datetime | None = None
    _timers: list[asyncio.TimerHandle] = field(default_factory=list)

    def other(self, leg: Leg) -> Leg | None:
        return self.b if leg is self.a else self.a

    @property
    def legs(self) -> list[Leg]:
        return [x for x in (self.a, self.b) if x is not None]


class CallObserver(Protocol):
    """What the ``calls`` engine implements to write records and events.

    Every method is called synchronously on the event loop; ``at`` is the clock's wall time
    of the change (also stored on the leg). Keep them quick: hand heavy work to a task.

    - ``on_leg_initiated``: the leg exists (inbound INVITE bridged / outbound INVITE sent).
    - ``on_leg_ringing``: first 180/183 on an outbound leg (or relayed to an inbound one).
    - ``on_leg_answered``: 2xx on the leg.
    - ``on_leg_failed``: the leg ended before answer; ``leg.status`` and ``leg.hangup_cause``.
    - ``on_leg_ended``: an answered leg hung up; ``leg.hangup_cause``, ``leg.hangup_by``.
    - ``on_call_ended``: both legs are over.

    ``leg.hangup_by`` says who ended a leg: ``"a"`` (caller / first party), ``"b"`` (the
    party dialled) or ``"system"`` (ring timeout, time limit, lost transaction, shutdown).
    Calls the router rejects produce no events: the router already knows about them.
    """

    def on_leg_initiated(self, call: Call, leg: Leg, at: datetime) -> None: ...
    def on_leg_ringing(self, call: Call, leg: Leg, at: datetime) -> None: ...
    def on_leg_answered(self, call: Call, leg: Leg, at: datetime) -> None: ...
    def on_leg_failed(self, call: Call, leg: Leg, at: datetime) -> None: ...
    def on_leg_ended(self, call: Call, leg: Leg, at: datetime) -> None: ...
    def on_call_ended(self, call: Call, at: datetime) -> None: ...


class _NullObserver:
    def on_leg_initiated(self, call: Call, leg: Leg, at: datetime) -> None:
        pass

    def on_leg_ringing(self, call: Call, leg: Leg, at: datetime) -> None:
        pass

    def on_leg_answered(self, call: Call, leg: Leg, at: datetime) -> None:
        pass

    def on_leg_failed(self, call: Call, leg: Leg, at: datetime) -> None:
        pass

    def on_leg_ended(self, call: Call, leg: Leg, at: datetime) -> None:
        pass

    def on_call_ended(self, call: Call, at: datetime) -> None:
        pass


@dataclass(slots=True)
class _Ctx:
    """What a transaction means to us (stored in ``txn.context``)."""

    leg: Leg
    purpose: str  # invite, reinvite, relay, bye, cancel, prack, refresh
    peer_txn: ServerTransaction | None = None  # the request we relay for (reinvite/relay)
    offer: bool = True  # relayed re-INVITE carried an offer
    dialog: Dialog | None = None  # the (early) dialog of an in-dialog request, if not leg's
    answered: int = 0  # challenges this request's chain of resubmissions has answered


@dataclass(slots=True)
class _RegCtx:
    """A REGISTER's transaction belongs to a trunk's registration, not to a call."""

    registration: Registration


def _user(uri: str) -> str | None:
    try:
        return parse_uri(uri).user
    except SipParseError:
        return None


def _dialled(req: Request) -> str | None:
    """The number dialled: the Request-URI user, or — for a call a registration-based
    trunk delivers to our registered Contact (``sip:vts@...``) — the To user."""
    user = _user(req.uri)
    if user and is_number(user.lstrip("+")):
        return user
    try:
        to_user = req.to.uri.user
    except SipParseError:
        to_user = None
    return to_user if to_user and is_number(to_user.lstrip("+")) else user


# --------------------------------------------------------------------------- the B2BUA


class B2BUA:
    """The SIP edge. ``await start()`` binds ``listen``; ``await stop()`` ends everything."""

    def __init__(
        self,
        router: Router,
        *,
        trunk: Addr | None = None,
        trunks: TrunkTable | None = None,
        listen: Addr = ("127.0.0.1", 5060),
        advertised_host: str | None = None,
        observer: CallObserver | None = None,
        clock: Clock | None = None,
        sdp_rewriter: SdpRewriter | None = None,
        transport: SipTransport | None = None,
        tls_ca_file: str | Path | None = None,
    ) -> None:
        self.router = router
        if trunks is None:
            if trunk is None:
                raise ValueError("a trunk address or a trunk table is needed")
            trunks = TrunkTable.single(trunk)
        self.trunks = trunks
        self.observer: CallObserver = observer or _NullObserver()
        self.clock = clock or Clock()
        self.sdp_rewriter = sdp_rewriter
        #: optional: sees in-dialog INFO first; True means consumed (answered 200 here)
        self.on_info: Callable[[Leg, Request], bool] | None = None
        self.transport = transport or SipTransport(
            listen[0], listen[1], advertised_host=advertised_host
        )
        self.transport.on_event = self.handle
        self.transport.acl = trunks.acl
        self.transport.tls_client = self._tls_client
        self._tls_ca_file = tls_ca_file
        self._tls_contexts: dict[Addr, ssl.SSLContext] = {}
        self.registrations: dict[str, Registration] = {}
        self._reg_timers: dict[str, asyncio.TimerHandle] = {}
        #: inbound INVITEs answered with a digest challenge / refused it (trunk credentials)
        self.auth_stats = {"challenged": 0, "refused": 0}
        self.transport.in_use = self._uses_connection
        self.calls: dict[str, Call] = {}
        self._dialogs: dict[tuple[str, str], Leg] = {}  # (call-id, our tag) → leg
        self._tasks: set[asyncio.Task[None]] = set()
        # Inbound INVITEs in progress by (Call-ID, From tag), to spot merged requests.
        self._inbound: dict[tuple[str, str], Leg] = {}

    async def start(self) -> None:
        await self.transport.start()
        for trunk in self.trunks.trunks:
            if trunk.register:
                self._start_registration(trunk)

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            self.hangup(call, "NORMAL_CLEARING")
        for t in list(self._tasks):
            t.cancel()
        for name, reg in self.registrations.items():
            handle = self._reg_timers.pop(name, None)
            if handle is not None:
                handle.cancel()
            self._reg_send(reg, reg.stop(self.transport.now()))  # best effort: unregister
        await asyncio.sleep(0)
        await self.transport.close()

    @property
    def host(self) -> str:
        return self.transport.advertised_host

    @property
    def trunk(self) -> Addr:
        """The default trunk's address (the one-trunk case of ``--sip-trunk``)."""
        return self.trunks.default.addr

    # ---------------------------------------------------------------- registration
    def _start_registration(self, trunk: Trunk) -> None:
        tp = trunk.transport
        reg = Registration(
            trunk,
            via=lambda: self.transport.via(tp),
            contact=self.transport.contact(transport=tp, secure=tp == "tls"),
        )
        self.registrations[trunk.name] = reg
        self._reg_send(reg, reg.start(self.transport.now()))

    def _reg_send(self, reg: Registration, requests: list[Request]) -> None:
        trunk = reg.trunk
        for req in requests:
            txn = self.transport.send_request(req, trunk.addr, trunk.transport)
            txn.context = _RegCtx(reg)
        self._reg_arm(reg)

    def _reg_arm(self, reg: Registration) -> None:
        name = reg.trunk.name
        old = self._reg_timers.pop(name, None)
        if old is not None:
            old.cancel()
        due = reg.next_deadline()
        if due is None:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._reg_timers.pop(name, None)
            try:
                self._reg_send(reg, reg.on_timer(max(self.transport.now(), due)))
            except Exception:
                log.exception("b2bua: registration to %s failed", name)

        # the transport's clock is the loop's: deadlines are loop times
        self._reg_timers[name] = loop.call_at(due, fire)

    def _tls_client(self, addr: Addr) -> tuple[ssl.SSLContext, str | None]:
        """How we check the peer of an outbound TLS connection: a trunk's certificate
        against its CA (or the operator's, or the system's) and its name; built once."""
        trunk = next(
            (t for t in self.trunks.trunks if t.addr == addr and t.transport == "tls"), None
        )
        ctx = self._tls_contexts.get(addr)
        if ctx is None:
            if trunk is not None:
                ctx = client_context(
                    verify=trunk.tls_verify, ca_file=trunk.tls_ca_file or self._tls_ca_file
                )
            else:
                ctx = client_context(ca_file=self._tls_ca_file)
            self._tls_contexts[addr] = ctx
        name = (trunk.tls_server_name or trunk.host) if trunk is not None else addr[0]
        return ctx, name if ctx.check_hostname else None

    def trunk_status(self) -> list[dict[str, Any]]:
        """Per trunk: address, registration state, digest counters (metrics, CLI)."""
        now = self.transport.now()
        out = []
        for t in self.trunks.trunks:
            reg = self.registrations.get(t.name)
            digest = t.digest
            out.append(
                {
                    "name": t.name,
                    "address": f"{t.host}:{t.port}",
                    "transport": t.transport,
                    "default": t is self.trunks.default,
                    "registration": reg.status(now) if reg is not None else None,
                    "challenges_answered": digest.answered if digest else 0,
                    "challenges_refused": digest.rejected if digest else 0,
                }
            )
        return out

    def _uses_connection(self, addr: Addr) -> bool:
        """Asked by the transport before it closes an idle TCP connection to ``addr``: a
        call still needs it (an inbound phone's connection could not be opened again)."""
        for leg in self._inbound.values():
            if leg.addr == addr and not leg.finished:
                return True
        return any(
            leg.addr == addr and leg.transport != "udp" and not leg.finished
            for call in self.calls.values()
            for leg in call.legs
        )

    # ---------------------------------------------------------------- events in
    def handle(self, event: TuEvent) -> None:
        """Entry point for transaction-layer events (wired as the transport's callback)."""
        try:
            if isinstance(event, RequestReceived):
                self._on_request(event)
            elif isinstance(event, ResponseReceived):
                if event.txn is not None and isinstance(event.txn.context, _RegCtx):
                    reg = event.txn.context.registration
                    self._reg_send(reg, reg.on_response(event.response, self.transport.now()))
                    return
                self._on_response(event)
            elif isinstance(event, TransactionTimeout):
                if isinstance(event.txn.context, _RegCtx):
                    reg = event.txn.context.registration
                    self._reg_send(reg, reg.on_timeout(self.transport.now()))
                    return
                self._on_timeout(event)
            elif isinstance(event, TransactionTerminated):
                ctx = event.txn.context
                if isinstance(ctx, _Ctx) and ctx.leg.invite_txn is event.txn:
                    # Nothing more will come from it; let it (and its context) go.
                    ctx.leg.invite_txn = None
        except (SipParseError, DialogError) as exc:
            badinput.note("sip_bad_message", f"b2bua: {exc}")
            # A request we could not use still deserves an answer if none was given.
            if (
                isinstance(event, RequestReceived)
                and event.txn is not None
                and event.txn.state in ("trying", "proceeding")
                and event.txn.final_status is None
            ):
                self._respond(event.txn, 400)

    def _respond(
        self,
        txn: ServerTransaction,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        body: bytes = b"",
        contact: bool = False,
        extra: tuple[tuple[str, str], ...] = (),
        reliable: bool = False,
    ) -> None:
        headers = list(extra)
        if contact:
            headers.append(("Contact", self._contact_for(txn.request, txn.transport)))
            request = txn.request
            if request.method == "INVITE" and request.to.tag is None and 100 < status < 300:
                # RFC 3261 §12.1.1: a response that makes a dialog carries the request's
                # Record-Route, in order, so the caller's in-dialog requests (ACK, BYE)
                # pass the same proxies: a dispatcher front (deploy/kamailio) drops what
                # arrives without its Route.
                for value in request.headers.get_all("record-route"):
                    headers.append(("Record-Route", value))
        if body:
            headers.append(("Content-Type", "application/sdp"))
        resp = make_response(
            txn.request, status, reason, to_tag=to_tag, body=body, extra=tuple(headers)
        )
        if reliable:
            self.transport.respond(txn, resp, reliable=True)
        else:
            self.transport.respond(txn, resp)

    def _contact_for(self, request: Request, transport: str) -> str:
        """Our Contact answering ``request``: sips when it was sent to a sips URI."""
        return self.transport.contact(
            transport=transport, secure=request.uri[:5].lower() == "sips:"
        )

    def _on_request(self, ev: RequestReceived) -> None:
        req = ev.request
        method = req.method
        if method == "ACK":
            self._on_ack(ev)
            return
        txn = ev.txn
        assert txn is not None
        to_tag = req.to.tag
        if to_tag is not None:
            leg = self._dialogs.get((req.call_id, to_tag))
            if leg is None:
                if method == "OPTIONS":
                    self._respond(txn, 200, extra=(("Allow", ALLOW),))
                else:
                    self._respond(txn, 481)
                return
            self._in_dialog(leg, ev)
            return
        if method == "INVITE":
            self._new_inbound(ev)
        elif method == "CANCEL":
            self._on_cancel(ev)
        elif method == "OPTIONS":
            self._respond(txn, 200, extra=(("Allow", ALLOW), ("Accept", "application/sdp")))
        elif method == "BYE":
            self._respond(txn, 481)
        else:
            self._respond(txn, 405, extra=(("Allow", ALLOW),))

    # ---------------------------------------------------------------- inbound calls
    def _new_inbound(self, ev: RequestReceived) -> None:
        req = ev.request
        txn = ev.txn
        assert isinstance(txn, ServerInviteTransaction)
        mf = (req.headers.get("max-forwards") or "").strip()
        if is_number(mf) and int(mf) == 0:
            self._respond(txn, 483)
            return
        try:
            # Everything the call will need later, checked now rather than at answer time.
            if req.contact is None:
                raise SipParseError("INVITE without Contact")
            req.parsed_uri  # noqa: B018
            req.from_.uri  # noqa: B018
            req.to.uri  # noqa: B018
        except SipParseError:
            self._respond(txn, 400)
            return
        if req.body and req.content_type != "application/sdp":
            self._respond(txn, 415, extra=(("Accept", "application/sdp"),))
            return
        if req.body:
            try:
                parse_sdp(req.body)
            except SdpError:
                self._respond(txn, 488)
                return
        merged_key = (req.call_id, req.from_.tag or "")
        earlier = self._inbound.get(merged_key)
        if earlier is not None and not earlier.finished:
            # The same INVITE again under a new branch (a loop or a fork): §8.2.2.2.
            self._respond(txn, 482)
            return
        unsupported = [o for o in req.headers.get_all("require") if o.lower() not in SUPPORTED]
        if unsupported:
            self._respond(txn, 420, extra=(("Unsupported", ", ".join(unsupported)),))
            return
        trunk = self.trunks.for_source(ev.addr[0])
        if not self._inbound_authorized(trunk, txn):
            return
        timer = negotiate_session_timer(req)
        if isinstance(timer, int):
            # RFC 4028 §8.1: too brief an interval is refused with our minimum
            self._respond(txn, 422, extra=(("Min-SE", str(timer)),))
            return
        self._respond(txn, 100)
        call = Call(id=str(uuid.uuid4()), kind="inbound", context=None, bridge=Bridge())
        leg = Leg(
            id=str(uuid.uuid4()),
            side="a",
            direction="inbound",
            call=call,
            addr=ev.addr,
            transport=ev.transport,
            number=req.from_.uri.user,
            call_id=req.call_id,
            local_tag=new_tag(),
            invite=req,
            invite_txn=txn,
            initiated_at=self.clock.now(),
            trunk=trunk,
            timer=timer,
        )
        call.a = leg
        txn.context = _Ctx(leg, "invite")
        self._inbound[merged_key] = leg
        inbound = InboundCall(
            leg_id=leg.id,
            call_id=req.call_id,
            to_user=_dialled(req),
            from_user=req.from_.uri.user,
            from_display=req.from_.display,
            source=ev.addr,
            transport=ev.transport,
            sdp=req.body or None,
            request=req,
        )
        task = asyncio.get_running_loop().create_task(self._route(call, inbound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _inbound_authorized(self, trunk: Trunk | None, txn: ServerInviteTransaction) -> bool:
        """A trunk that must authenticate to us: challenge an INVITE without valid
        credentials (401, RFC 3261 §22.2); True when it may go on."""
        server = trunk.digest_server if trunk is not None else None
        if server is None:
            return True
        now = self.transport.now()
        verdict = server.check("INVITE", txn.request.headers.get("authorization"), now)
        if verdict.ok:
            return True
        if txn.request.headers.get("authorization") and not verdict.stale:
            self.auth_stats["refused"] += 1
        self.auth_stats["challenged"] += 1
        challenges = server.challenges(now, stale=verdict.stale)
        self._respond(
            txn,
            401,
            to_tag=new_tag(),
            extra=tuple(("WWW-Authenticate", c.to_header_value()) for c in challenges),
        )
        return False

    async def _route(self, call: Call, inbound: InboundCall) -> None:
        leg = call.a
        assert leg is not None and isinstance(leg.invite_txn, ServerInviteTransaction)
        try:
            decision = await self.router(inbound)
        except Exception:
            log.exception("b2bua: router failed for call %s", inbound.call_id)
            decision = Reject(500)
        if leg.finished or leg.invite_txn.state != "proceeding":
            return  # the caller cancelled while we were deciding
        if isinstance(decision, Reject):
            leg.state = "failed"
            leg.status = decision.status
            self._respond(leg.invite_txn, decision.status, decision.reason, to_tag=leg.local_tag)
            self._forget_leg(leg)
            return
        if isinstance(decision, Answer):
            self._answer(call, leg, decision)
            return
        call.bridge = decision
        call.context = decision.context
        self.calls[call.id] = call
        self._dialogs[(leg.call_id, leg.local_tag)] = leg
        self.observer.on_leg_initiated(call, leg, leg.initiated_at or self.clock.now())
        mf = leg.invite.headers.get("max-forwards") if leg.invite else None
        mf = (mf or "").strip()
        max_forwards = int(mf) - 1 if is_number(mf) and len(mf) < 4 else 70
        try:
            self._dial(call, "b", decision, leg.invite.body if leg.invite else b"", max_forwards)
        except NotRelayable as exc:
            # nothing was sent to the other party: the caller is refused (503 + Retry-After
            # when the relay has no ports, 488 when its SDP has nothing it can carry)
            self._refuse(leg, exc)
            self._maybe_finish(call)

    def _refuse(self, leg: Leg, exc: NotRelayable) -> None:
        """Fail an inbound leg not yet answered because its media cannot be relayed."""
        extra: tuple[tuple[str, str], ...] = ()
        if exc.retry_after is not None:
            extra = (("Retry-After", str(exc.retry_after)),)
        cause = "NORMAL_TEMPORARY_FAILURE" if exc.status == 503 else "INCOMPATIBLE_DESTINATION"
        self._fail_inbound(leg, exc.status, cause, "system", reason=exc.reason, extra=extra)

    # ---------------------------------------------------------------- answered mode
    def _answer(self, call: Call, leg: Leg, decision: Answer) -> None:
        """Answer the caller with our own SDP and start the router's script."""
        assert isinstance(leg.invite_txn, ServerInviteTransaction) and leg.invite is not None
        call.kind = "answered"
        call.context = decision.context
        call.bridge = Bridge(call_time_limit=decision.call_time_limit, context=decision.context)
        self.calls[call.id] = call
        self._dialogs[(leg.call_id, leg.local_tag)] = leg
        self.observer.on_leg_initiated(call, leg, leg.initiated_at or self.clock.now())
        try:
            body = decision.sdp(call) or b""
            if body:
                sd = parse_sdp(body)
                sd.set_origin(leg.sdp_session_id, leg.sdp_version, self.host)
                body = sd.to_bytes()
        except NotRelayable as exc:
            self._refuse(leg, exc)
            self._maybe_finish(call)
            return
        except Exception:
            log.exception("b2bua: no answer SDP for call %s", call.id)
            body = b""
        if not body:
            self._fail_inbound(leg, 488, "INCOMPATIBLE_DESTINATION", "system")
            self._maybe_finish(call)
            return
        leg.last_sdp = body
        leg.dialog = Dialog.as_uas(
            leg.invite, self._contact_for(leg.invite, leg.transport), leg.local_tag
        )
        self._answer_caller(leg, body)
        leg.state = "answered"
        leg.status = 200
        leg.answered_at = self.clock.now()
        self.observer.on_leg_answered(call, leg, leg.answered_at)
        if decision.call_time_limit:
            self._later(call, decision.call_time_limit, self._time_limit, call)
        self._start_script(call, decision.script)

    def _start_script(self, call: Call, script: Callable[[Call], Awaitable[None]]) -> None:
        task = asyncio.get_running_loop().create_task(self._run_script(call, script))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def originate_answered(
        self,
        first: Bridge,
        sdp: Callable[[Call], bytes],
        script: Callable[[Call], Awaitable[None]],
        context: Any = None,
    ) -> Call:
        """Call ``first`` with our own offer ``sdp(call)``; once answered, run ``script``
        (answered mode: it may play a prompt, then :meth:`dial` the second party).

        ``first.call_time_limit`` counts from the first party's answer. Must be called on
        the running loop; returns at once.
        """
        call = Call(
            id=str(uuid.uuid4()),
            kind="answered",
            context=context if context is not None else first.context,
            bridge=first,
            script=script,
        )
        body = sdp(call)  # may raise: nothing is registered yet
        self.calls[call.id] = call
        self._dial(call, "a", first, body)
        return call

    async def _run_script(self, call: Call, script: Callable[[Call], Awaitable[None]]) -> None:
        try:
            await script(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("b2bua: script failed for call %s", call.id)
            self.hangup(call, "NORMAL_TEMPORARY_FAILURE")

    def dial(self, call: Call, target: Bridge, sdp: bytes) -> Leg | None:
        """Answered mode: dial the other party (side ``"b"``) with our own offer ``sdp``.

        Its answer is ACKed here and left on ``leg.remote_sdp``; the caller is not told
        (it is already up). A failure of this leg leaves the caller up for the script.
        """
        a = call.a
        if call.kind != "answered" or call.ended or a is None or not a.is_up or call.b:
            return None
        try:
            return self._dial(call, "b", target, sdp)
        except NotRelayable:
            self.hangup(call, "NORMAL_TEMPORARY_FAILURE")
            return None

    def limit(self, call: Call, seconds: float) -> None:
        """Answered mode: end ``call`` (BYE to both legs) ``seconds`` from now."""
        self._later(call, seconds, self._time_limit, call)

    # ---------------------------------------------------------------- outbound legs
    def trunk_for(self, target: Bridge) -> Trunk:
        """The trunk of an outbound leg: the one the Bridge names by address, else the one
        serving its caller ID (the virtual number), else the default; a transport the
        Bridge names wins over the trunk's."""
        if target.trunk is not None:
            trunk = next((t for t in self.trunks.trunks if t.addr == target.trunk), None)
            if trunk is None:
                trunk = Trunk("adhoc", target.trunk[0], target.trunk[1])
        else:
            trunk = self.trunks.for_caller_id(target.caller_id)
        if target.transport is not None and target.transport != trunk.transport:
            trunk = dataclasses.replace(trunk, transport=target.transport)  # type: ignore[arg-type]
        return trunk

    def _dial(
        self, call: Call, side: Side, target: Bridge, body: bytes, max_forwards: int = 70
    ) -> Leg:
        trunk = self.trunk_for(target)
        tp = trunk.transport
        host = trunk.from_domain or self.host
        number = target.number
        if target.target_uri:
            ruri = target.target_uri
            number = number or _user(ruri)
        else:
            ruri = trunk.uri(number)
        leg = Leg(
            id=str(uuid.uuid4()),
            side=side,
            direction="outbound",
            call=call,
            addr=trunk.addr,
            transport=tp,
            number=number,
            call_id=new_call_id(),
            local_tag=new_tag(),
            trunk=trunk,
        )
        # first, as it may refuse (NotRelayable): then nothing is sent nor registered
        sdp = self._sdp_for(leg, body, offer=True) if body else b""
        if side == "a":
            call.a = leg
        else:
            call.b = leg
        h = Headers()
        h.add("Via", self.transport.via(tp))
        h.add("Max-Forwards", str(max(1, min(max_forwards, 70))))
        scheme = trunk.scheme
        h.add("From", f"<{scheme}:{target.caller_id}@{host}>;tag={leg.local_tag}")
        h.add("To", f"<{scheme}:{number}@{trunk.host}>" if number else f"<{ruri}>")
        h.add("Call-ID", leg.call_id)
        h.add("CSeq", "1 INVITE")
        h.add("Contact", self.transport.contact(transport=tp, secure=ruri.startswith("sips:")))
        h.add("Allow", ALLOW)
        # early media from a carrier comes in reliable 183s (RFC 3262); no "timer": we
        # answer session timers a trunk asks for, we do not ask a trunk for them
        h.add("Supported", "100rel")
        if trunk.digest is not None:
            for name, value in trunk.digest.preauthorize("INVITE", ruri):
                h.add(name, value)  # nonce reuse: no challenge round trip per call
        if sdp:
            h.add("Content-Type", "application/sdp")
        invite = Request("INVITE", ruri, h, sdp)
        leg.invite = invite
        leg.initiated_at = self.clock.now()
        self._dialogs[(leg.call_id, leg.local_tag)] = leg
        txn = self.transport.send_request(invite, trunk.addr, tp)
        assert isinstance(txn, ClientInviteTransaction)
        txn.context = _Ctx(leg, "invite")
        leg.invite_txn = txn
        self.observer.on_leg_initiated(call, leg, leg.initiated_at)
        if target.ring_timeout:
            self._later(call, target.ring_timeout, self._ring_timeout, leg)
        return leg

    def originate(self, first: Bridge, second: Bridge, context: Any = None) -> Call:
        """Call ``first`` from its caller ID; when answered, call ``second`` and bridge.

        ``first.call_time_limit`` limits the whole call, counted from the first answer.
        Must be called on the running loop. Returns at once; follow it through the observer.
        """
        call = Call(
            id=str(uuid.uuid4()),
            kind="originate",
            context=context if context is not None else first.context,
            bridge=first,
            second=second,
        )
        self.calls[call.id] = call
        self._dial(call, "a", first, b"")
        return call

    def _sdp_for(self, leg: Leg, body: bytes, *, offer: bool) -> bytes:
        """The SDP to send to ``leg``, made from the other phone's SDP ``body`` (an offer
        or an answer): read through the allow-list, written by the hook (the relay) or,
        for a bare B2BUA, by :func:`crossing.direct`; our o= line on it. Raises
        :class:`NotRelayable` when it cannot be written."""
        try:
            desc = crossing.read(parse_sdp(body))
        except SdpError as exc:
            log.info("b2bua: unreadable SDP for leg %s: %s", leg.id, exc)
            raise NotRelayable(488, "Not Acceptable Here") from None
        if self.sdp_rewriter is not None:
            sd = self.sdp_rewriter(leg, desc, offer)
        else:
            sd = crossing.direct(desc)
        sd.set_origin(leg.sdp_session_id, leg.sdp_version, self.host)
        out = sd.to_bytes()
        if leg.last_sdp is not None and out != leg.last_sdp:
            # RFC 3264 §8: a changed description gets the next version.
            leg.sdp_version += 1
            sd.set_origin(leg.sdp_session_id, leg.sdp_version, self.host)
            out = sd.to_bytes()
        leg.last_sdp = out
        return out

    def _later(
        self, call: Call, delay: float, fn: Callable[..., None], *args: Any
    ) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("b2bua: timer failed")

        handle = loop.call_later(delay, run)
        call._timers.append(handle)
        return handle

    # ---------------------------------------------------------------- responses
    def _on_response(self, ev: ResponseReceived) -> None:
        txn = ev.txn
        if txn is None or not isinstance(txn.context, _Ctx):
            return
        ctx = txn.context
        resp = ev.response
        if resp.status in (401, 407) and self._retry_with_credentials(ctx, txn, resp):
            return
        if ctx.purpose == "invite":
            self._invite_response(ctx.leg, txn, resp)
        elif ctx.purpose == "refresh":
            self._refresh_response(ctx.leg, txn, resp)
        elif ctx.purpose == "reinvite":
            self._reinvite_response(ctx, txn, resp)
        elif ctx.purpose == "relay" and resp.status >= 200 and ctx.peer_txn is not None:
            other = ctx.leg.call.other(ctx.leg)
            body = b""
            status = resp.status
            if (
                resp.body
                and resp.content_type == "application/sdp"
                and other is not None
                and 200 <= status < 300
            ):
                try:
                    body = self._sdp_for(other, resp.body, offer=False)
                except NotRelayable as exc:
                    status = exc.status
            # only an answer written by us crosses; no other body of the response does
            peer = ctx.peer_txn
            to_tag = other.local_tag if other is not None else None
            extra = (("Content-Type", "application/sdp"),) if body else ()
            resp_out = make_response(peer.request, status, to_tag=to_tag, body=body, extra=extra)
            if other is not None and 200 <= status < 300 and peer.request.method == "UPDATE":
                for name, value in self._timer_refreshed(other, peer.request):
                    resp_out.headers.add(name, value)
            self.transport.respond(peer, resp_out)

    def _retry_with_credentials(self, ctx: _Ctx, txn: ClientTransaction, resp: Response) -> bool:
        """Answer a 401/407 to any request we sent (INVITE, BYE, re-INVITE, UPDATE, INFO,
        PRACK, refresh) with the leg's trunk credentials: the same request again as a new
        transaction (RFC 3261 §22.2). CANCEL is never resubmitted (§9.2: it cannot be
        challenged; the one we send matches the latest INVITE, credentials and all).
        False: not ours to answer (no credentials, refused twice) — the failure stands."""
        leg = ctx.leg
        req = txn.request
        trunk = leg.trunk
        if ctx.purpose == "cancel" or trunk is None or trunk.digest is None:
            return False
        if ctx.purpose == "invite" and (leg.abandoned or leg.finished or leg.call.ended):
            return False
        answer = trunk.digest.answer(
            challenges_of(resp), req.method, req.uri, answered=ctx.answered
        )
        if answer is None:
            log.warning("b2bua: trunk %s refused our credentials (%s)", trunk.name, req.method)
            return False
        if ctx.purpose == "invite":
            cseq = req.cseq.number + 1
        else:
            dialog = ctx.dialog or leg.dialog
            if dialog is None:
                return False
            dialog.local_cseq += 1
            cseq = dialog.local_cseq
        again = resubmit(req, self.transport.via(leg.transport), cseq, auth=[answer])
        new_ctx = _Ctx(leg, ctx.purpose, ctx.peer_txn, ctx.offer, ctx.dialog, ctx.answered + 1)
        ntxn = self.transport.send_request(again, leg.addr, leg.transport)
        ntxn.context = new_ctx
        if ctx.purpose == "invite":
            self._replace_invite(leg, again, ntxn)
        return True

    def _replace_invite(self, leg: Leg, invite: Request, txn: ClientTransaction) -> None:
        """The leg's INVITE went again (credentials, redirect): CANCEL and ACK follow the
        new one, and a CANCEL waits for a provisional answer to it (§9.1)."""
        assert isinstance(txn, ClientInviteTransaction)
        leg.invite = invite
        leg.invite_txn = txn
        leg.got_provisional = False

    def _follow_redirect(self, leg: Leg, txn: ClientTransaction, resp: Response) -> bool:
        """A 3xx on an outbound leg: try its best Contact (through the same trunk) while
        the trunk's ``max_redirects`` allows; False: the redirect is a failure."""
        trunk = leg.trunk
        if trunk is None or leg.redirects >= trunk.max_redirects or leg.abandoned:
            return False
        targets = redirect_targets(resp)
        if not targets:
            return False
        leg.redirects += 1
        req = txn.request
        again = resubmit(
            req, self.transport.via(leg.transport), req.cseq.number + 1, uri=targets[0]
        )
        ntxn = self.transport.send_request(again, leg.addr, leg.transport)
        ntxn.context = _Ctx(leg, "invite")
        self._replace_invite(leg, again, ntxn)
        return True

    def _prack(self, leg: Leg, txn: ClientTransaction, resp: Response, rseq: int) -> bool:
        """RFC 3262 §4: acknowledge a reliable provisional in its early dialog. False: a
        retransmission or out of order — neither acknowledged nor processed further."""
        tag = resp.to.tag
        if not tag:
            return False
        last = leg.rseq_seen.get(tag)
        if last is not None and rseq != last + 1:
            return False
        dialog = leg.early.get(tag)
        if dialog is None:
            try:
                dialog = Dialog.as_uac(txn.request, resp)
            except DialogError as exc:
                log.warning("b2bua: reliable provisional without a usable dialog: %s", exc)
                return True
            leg.early[tag] = dialog
        leg.rseq_seen[tag] = rseq
        prack = dialog.create_request(
            "PRACK",
            self.transport.via(leg.transport),
            extra=[("RAck", rack_value(rseq, txn.request))],
        )
        self._send_in_dialog(leg, prack, _Ctx(leg, "prack", dialog=dialog))
        return True

    def _invite_response(self, leg: Leg, txn: ClientTransaction, resp: Response) -> None:
        call = leg.call
        status = resp.status
        if status < 200:
            if status == 100:
                return
            leg.got_provisional = True
            if leg.cancel_pending:
                self._send_cancel(leg)
                return
            if leg.abandoned or leg.finished:
                return
            rseq = rseq_of(resp)
            if rseq is not None and not self._prack(leg, txn, resp, rseq):
                return
            if leg.state == "new":
                leg.state = "early"
                leg.ringing_at = self.clock.now()
                self.observer.on_leg_ringing(call, leg, leg.ringing_at)
            if call.kind == "inbound" and leg.side == "b":
                self._relay_provisional(call, resp)
            return
        if status < 300:
            self._invite_answered(leg, resp)
            return
        # Final failure (the transaction already sent the ACK).
        if 300 <= status < 400 and self._follow_redirect(leg, txn, resp):
            return
        leg.cancel_pending = False
        if leg.finished:
            return
        self._leg_failed(leg, status, cause_for_status(status), leg.side)
        self._after_b_failure(leg, status)

    def _relay_provisional(self, call: Call, resp: Response) -> None:
        a = call.a
        if a is None or a.finished or not isinstance(a.invite_txn, ServerInviteTransaction):
            return
        if a.invite_txn.state != "proceeding":
            return
        body = b""
        b = call.b
        if resp.body and b is not None and b.invite is not None and b.invite.body:
            # early media: the answer to the caller's offer (an offerless INVITE's 18x SDP
            # is not relayed: its offer comes in the 2xx)
            try:
                body = self._sdp_for(a, resp.body, offer=False)
            except NotRelayable:
                body = b""
        assert a.invite is not None
        if wants_reliable(a.invite, resp.status, bool(body)):
            if a.invite_txn.awaiting_prack:
                # §3: one unacknowledged reliable provisional at a time; the latest waits
                a.queued_provisional = (resp.status, body)
            else:
                self._send_reliable(a, resp.status, body)
        else:
            # Our own reason phrase: the callee's free text could name them.
            self._respond(a.invite_txn, resp.status, to_tag=a.local_tag, body=body, contact=True)
        if a.state == "new":
            a.state = "early"
            a.ringing_at = self.clock.now()
            self.observer.on_leg_ringing(call, a, a.ringing_at)

    def _send_reliable(self, a: Leg, status: int, body: bytes) -> None:
        """A provisional to the caller per RFC 3262: Require 100rel, the next RSeq, kept
        retransmitted by the transaction until the caller's PRACK."""
        assert isinstance(a.invite_txn, ServerInviteTransaction)
        a.rseq = a.rseq + 1 if a.rseq else secrets.randbelow(2**30) + 1
        a.prack_sdp = bool(body)
        self._respond(
            a.invite_txn,
            status,
            to_tag=a.local_tag,
            body=body,
            contact=True,
            extra=(("Require", "100rel"), ("RSeq", str(a.rseq))),
            reliable=True,
        )

    def _on_prack(self, leg: Leg, txn: ServerTransaction, req: Request) -> None:
        """The caller acknowledges our reliable provisional: stop retransmitting it, and
        send what waited for it (the next reliable 1xx, or the 2xx)."""
        inv = leg.invite_txn
        rack = parse_rack(req.headers.get("rack"))
        if (
            leg.direction != "inbound"
            or not isinstance(inv, ServerInviteTransaction)
            or not inv.awaiting_prack
            or rack is None
            or leg.invite is None
            or rack != (leg.rseq, leg.invite.cseq.number, "INVITE")
        ):
            self._respond(txn, 481)  # RFC 3262 §3: no matching reliable provisional
            return
        inv.prack_received()
        self._respond(txn, 200)
        if leg.queued_final is not None:
            body, leg.queued_final = leg.queued_final, None
            self._answer_caller(leg, body)
        elif leg.queued_provisional is not None:
            (status, body), leg.queued_provisional = leg.queued_provisional, None
            self._send_reliable(leg, status, body)

    def _timer_headers(self, leg: Leg) -> tuple[tuple[str, str], ...]:
        """RFC 4028 §9: what our 2xx says of the session timer granted on ``leg``."""
        if leg.timer is None:
            return ()
        out = [("Session-Expires", leg.timer.header())]
        if leg.timer.require:
            out.append(("Require", "timer"))
        return tuple(out)

    def _answer_caller(self, a: Leg, body: bytes) -> None:
        """Send the 2xx to the inbound leg — unless an SDP answer it must not overtake
        (RFC 3262 §3) is still waiting for its PRACK: then it goes when that arrives."""
        txn = a.invite_txn
        assert isinstance(txn, ServerInviteTransaction)
        if txn.awaiting_prack and a.prack_sdp:
            a.queued_final = body
            return
        a.queued_provisional = None
        self._respond(
            txn, 200, to_tag=a.local_tag, body=body, contact=True, extra=self._timer_headers(a)
        )
        self._arm_session_timer(a)

    # ---------------------------------------------------------------- session timers
    def _arm_session_timer(self, leg: Leg) -> None:
        """Refresh the session ourselves at half the interval (refresher=uas), or end the
        call if the caller's refresh does not come in time (§10: interval − min(32, ⅓))."""
        timer = leg.timer
        if timer is None or leg.call.ended:
            return
        if leg.timer_handle is not None:
            leg.timer_handle.cancel()
        if timer.refresher == "uas":
            leg.timer_handle = self._later(leg.call, timer.interval / 2, self._refresh_session, leg)
        else:
            grace = min(32.0, timer.interval / 3)
            leg.timer_handle = self._later(
                leg.call, timer.interval - grace, self._session_expired, leg
            )

    def _timer_refreshed(self, leg: Leg, req: Request) -> tuple[tuple[str, str], ...]:
        """A re-INVITE or UPDATE from ``leg`` was accepted: it refreshes the session (and
        may renegotiate the timer). The headers our 2xx to it carries."""
        if leg.timer is None:
            return ()
        timer = negotiate_session_timer(req)
        if isinstance(timer, SessionTimer):
            leg.timer = timer
        self._arm_session_timer(leg)
        return self._timer_headers(leg)

    def _session_expired(self, leg: Leg) -> None:
        leg.timer_handle = None
        if leg.finished or leg.call.ended:
            return
        log.info("b2bua: session timer of leg %s expired without a refresh", leg.id)
        self.hangup(leg.call, "RECOVERY_ON_TIMER_EXPIRE")

    def _refresh_session(self, leg: Leg) -> None:
        """We are the refresher: UPDATE without a body if the peer allows it, else a
        re-INVITE with our current description unchanged (same o= version)."""
        leg.timer_handle = None
        if leg.finished or leg.dialog is None or leg.timer is None or leg.call.ended:
            return
        allow = leg.invite.headers.get_all("allow") if leg.invite is not None else []
        use_update = any(m.strip().upper() == "UPDATE" for m in allow)
        extra = [("Session-Expires", leg.timer.header()), ("Supported", "timer")]
        via = self.transport.via(leg.transport)
        if use_update or not leg.last_sdp:
            req = leg.dialog.create_request("UPDATE", via, extra=extra)
        else:
            req = leg.dialog.create_request("INVITE", via, leg.last_sdp, extra=extra)
        self._send_in_dialog(leg, req, _Ctx(leg, "refresh"))

    def _refresh_response(self, leg: Leg, txn: ClientTransaction, resp: Response) -> None:
        if resp.status < 200:
            return
        req = txn.request
        if resp.status < 300:
            if req.method == "INVITE" and leg.dialog is not None:
                ack = leg.dialog.create_ack(req.cseq.number, self.transport.via(leg.transport))
                self.transport.send_stateless(ack, leg.addr, leg.transport)
            self._arm_session_timer(leg)
        elif resp.status in (408, 481):
            self.hangup(leg.call, "RECOVERY_ON_TIMER_EXPIRE")  # §10: the session is gone
        else:
            self._arm_session_timer(leg)  # 491 and friends: try again next period

    def _invite_answered(self, leg: Leg, resp: Response) -> None:
        call = leg.call
        if leg.dialog is not None:
            # A retransmitted 2xx: our ACK was lost; repeat it (unless we owe it still).
            if leg.acked and leg.dialog.remote_tag == resp.to.tag:
                self._send_ack(leg, leg.ack_body)
            return
        try:
            leg.dialog = Dialog.as_uac(leg.invite, resp) if leg.invite else None
        except DialogError as exc:
            log.warning("b2bua: unusable 2xx on leg %s: %s", leg.id, exc)
            return
        early = leg.early.pop(resp.to.tag or "", None)
        if early is not None and leg.dialog is not None:
            # the early dialog's PRACKs used CSeq numbers: the dialog goes on from them
            leg.dialog.local_cseq = max(leg.dialog.local_cseq, early.local_cseq)
        leg.early.clear()
        if leg.abandoned or leg.finished or call.ended:
            # We gave up (CANCEL crossed the 2xx): accept and hang up at once.
            self._send_ack(leg, b"")
            self._send_bye(leg)
            return
        if call.kind == "answered":
            leg.remote_sdp = resp.body or None
        leg.state = "answered"
        leg.status = resp.status
        leg.answered_at = self.clock.now()
        self.observer.on_leg_answered(call, leg, leg.answered_at)
        if call.kind == "originate" and leg.side == "a":
            # Flow I: keep A's offer, ACK it later with B's answer.
            leg.offer_pending = resp.body or b""
            if call.bridge.call_time_limit:
                self._later(call, call.bridge.call_time_limit, self._time_limit, call)
            assert call.second is not None
            try:
                self._dial(call, "b", call.second, resp.body)
            except NotRelayable as exc:
                log.info("b2bua: first party's offer on call %s refused: %s", call.id, exc)
                self._ack_pending_with_rejection(leg)
                self._end_leg(leg, "INCOMPATIBLE_DESTINATION", "system", send_bye=True)
                self._maybe_finish(call)
            return
        delayed = call.kind == "inbound" and leg.side == "b" and bool(resp.body)
        delayed = delayed and leg.invite is not None and not leg.invite.body
        if not delayed:
            self._send_ack(leg, b"")
        if call.kind == "answered":
            if leg.side == "a" and call.script is not None:
                # originate_answered: the first party is up; the script takes over
                if call.bridge.call_time_limit:
                    self._later(call, call.bridge.call_time_limit, self._time_limit, call)
                self._start_script(call, call.script)
            return
        if call.kind == "originate":
            a = call.a
            assert a is not None
            try:
                answer = self._sdp_for(a, resp.body, offer=False) if resp.body else b""
            except NotRelayable as exc:
                log.info("b2bua: second party's answer on call %s refused: %s", call.id, exc)
                self.hangup(call, "INCOMPATIBLE_DESTINATION")  # A gets a rejecting ACK, BYE
                return
            a.offer_pending = None
            self._send_ack(a, answer)
            return
        a = call.a
        assert a is not None and isinstance(a.invite_txn, ServerInviteTransaction)
        inv = a.invite
        assert inv is not None
        try:
            body = self._sdp_for(a, resp.body, offer=delayed) if resp.body else b""
        except NotRelayable as exc:
            log.info("b2bua: callee's SDP on call %s refused: %s", call.id, exc)
            if delayed:
                self._send_ack(leg, b"")
            self._end_leg(leg, "INCOMPATIBLE_DESTINATION", "system", send_bye=True)
            self._refuse(a, exc)
            self._maybe_finish(call)
            return
        a.dialog = Dialog.as_uas(inv, self._contact_for(inv, a.transport), a.local_tag)
        if delayed and leg.invite is not None:
            # the callee's offer went to the caller: its answer comes in the caller's ACK
            a.relay_ack = _PendingAck(leg, leg.invite.cseq.number, inv.cseq.number, True)
        self._answer_caller(a, body)
        a.state = "answered"
        a.status = 200
        a.answered_at = self.clock.now()
        self.observer.on_leg_answered(call, a, a.answered_at)
        # Both legs are up for the length of the call: keep their INVITEs light.
        inv.invalidate()
        if leg.invite is not None:
            leg.invite.invalidate()
        if call.bridge.call_time_limit:
            self._later(call, call.bridge.call_time_limit, self._time_limit, call)

    def _after_b_failure(self, leg: Leg, status: int) -> None:
        """Leg ``leg`` failed before answer: release the other side accordingly."""
        call = leg.call
        other = call.other(leg)
        if call.kind == "answered":
            # the caller stays up: the script decides (another prompt, hang up); a failed
            # first party of originate_answered ends the call here
            self._maybe_finish(call)
            return
        if call.kind == "inbound":
            a = call.a
            if a is not None and not a.finished and leg.side == "b":
                self._fail_inbound(a, caller_status_for(status), leg.hangup_cause, leg.side)
        elif other is not None and other.is_up:
            # originate: B failed after A answered — give A an answer it can ACK, then BYE.
            self._ack_pending_with_rejection(other)
            self._end_leg(other, "NORMAL_CLEARING", "system", send_bye=True)
        self._maybe_finish(call)

    def _fail_inbound(
        self,
        a: Leg,
        status: int,
        cause: str | None,
        by: str | None,
        *,
        reason: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        if isinstance(a.invite_txn, ServerInviteTransaction) and a.invite_txn.state == "proceeding":
            self._respond(a.invite_txn, status, reason, to_tag=a.local_tag, extra=extra)
        self._leg_failed(a, status, cause or cause_for_status(status), by)

    # ---------------------------------------------------------------- timers
    def _ring_timeout(self, leg: Leg) -> None:
        if leg.state not in ("new", "early") or leg.abandoned:
            return
        self._abandon(leg, "NO_ANSWER", 480, "system")
        call = leg.call
        if call.kind == "inbound" and leg.side == "b" and call.a is not None:
            self._fail_inbound(call.a, 480, "NO_ANSWER", "system")
        elif call.kind == "originate" and leg.side == "b" and call.a is not None:
            self._ack_pending_with_rejection(call.a)
            self._end_leg(call.a, "NORMAL_CLEARING", "system", send_bye=True)
        self._maybe_finish(call)

    def _time_limit(self, call: Call) -> None:
        if call.ended:
            return
        self.hangup(call, "ALLOTTED_TIMEOUT")

    def hangup(self, call: Call, cause: str = "NORMAL_CLEARING") -> None:
        """End every leg of ``call`` (BYE answered legs, cancel ringing ones)."""
        for leg in call.legs:
            if leg.finished:
                continue
            if leg.is_up:
                if leg.offer_pending is not None:
                    self._ack_pending_with_rejection(leg)
                self._end_leg(leg, cause, "system", send_bye=True)
            elif leg.direction == "outbound":
                self._abandon(leg, cause, None, "system")
            else:
                self._fail_inbound(leg, 480, cause, "system")
        self._maybe_finish(call)

    # ---------------------------------------------------------------- leg endings
    def _leg_failed(self, leg: Leg, status: int | None, cause: str, by: str | None = None) -> None:
        if leg.finished:
            return
        leg.hangup_by = by or leg.hangup_by
        leg.state = "failed"
        leg.status = status
        leg.hangup_cause = cause
        leg.ended_at = self.clock.now()
        self._forget_leg(leg)
        if leg.call.id in self.calls:
            self.observer.on_leg_failed(leg.call, leg, leg.ended_at)

    def _end_leg(self, leg: Leg, cause: str, by: str, *, send_bye: bool) -> None:
        if leg.finished:
            return
        if send_bye:
            self._send_bye(leg)
        leg.state = "ended"
        leg.hangup_cause = cause
        leg.hangup_by = by
        leg.ended_at = self.clock.now()
        self._forget_leg(leg)
        self.observer.on_leg_ended(leg.call, leg, leg.ended_at)

    def _forget_leg(self, leg: Leg) -> None:
        self._dialogs.pop((leg.call_id, leg.local_tag), None)
        if leg.direction == "inbound" and leg.invite is not None:
            key = (leg.call_id, leg.invite.from_.tag or "")
            if self._inbound.get(key) is leg:
                del self._inbound[key]

    def _abandon(self, leg: Leg, cause: str, status: int | None, by: str | None = None) -> None:
        """Give up on an unanswered outbound leg: CANCEL now or when it first answers 1xx."""
        if leg.finished or leg.abandoned:
            return
        leg.abandoned = True
        if leg.got_provisional:
            self._send_cancel(leg)
        else:
            # §9.1: no CANCEL before a provisional response; send it when one arrives.
            leg.cancel_pending = True
        self._leg_failed(leg, status, cause, by)

    def _maybe_finish(self, call: Call) -> None:
        if call.ended:
            return
        if all(leg.finished for leg in call.legs):
            call.ended = True
            call.ended_at = self.clock.now()
            for t in call._timers:
                t.cancel()
            call._timers.clear()
            for leg in call.legs:
                # Its transactions keep the leg for up to 32 s more; keep it light.
                if leg.invite is not None:
                    leg.invite.invalidate()
            if self.calls.pop(call.id, None) is not None:
                self.observer.on_call_ended(call, call.ended_at)

    # ---------------------------------------------------------------- sending
    def _send_cancel(self, leg: Leg) -> None:
        leg.cancel_pending = False
        if leg.invite is None:
            return
        txn = self.transport.send_request(build_cancel(leg.invite), leg.addr, leg.transport)
        txn.context = _Ctx(leg, "cancel")

    def _send_ack(self, leg: Leg, body: bytes) -> None:
        if leg.dialog is None or leg.invite is None:
            return
        ack = leg.dialog.create_ack(leg.invite.cseq.number, self.transport.via(leg.transport), body)
        for name, value in auth_headers(leg.invite):
            ack.headers.add(name, value)  # §22.1: the ACK of a 2xx carries the INVITE's
        leg.acked = True
        leg.ack_body = body
        self.transport.send_stateless(ack, leg.addr, leg.transport)

    def _ack_pending_with_rejection(self, leg: Leg) -> None:
        """Originate flow: A's 2xx carried an offer we cannot complete; reject every stream."""
        if leg.offer_pending is None:
            return
        offer = leg.offer_pending
        leg.offer_pending = None
        body = b""
        if offer:
            try:
                sd = crossing.decline(crossing.read(parse_sdp(offer)), self.host)
                sd.set_origin(leg.sdp_session_id, leg.sdp_version, self.host)
                body = sd.to_bytes()
            except SdpError:
                body = b""
        self._send_ack(leg, body)

    def _send_bye(self, leg: Leg) -> None:
        if leg.dialog is None:
            return
        bye = leg.dialog.create_request("BYE", self.transport.via(leg.transport))
        self._send_in_dialog(leg, bye, _Ctx(leg, "bye"))

    def _send_in_dialog(self, leg: Leg, request: Request, ctx: _Ctx) -> ClientTransaction:
        """Send an in-dialog request on ``leg``, with the trunk's remembered credentials
        (nonce reuse) when it has any; a challenge is answered by the generic retry."""
        trunk = leg.trunk
        if trunk is not None and trunk.digest is not None:
            for name, value in trunk.digest.preauthorize(request.method, request.uri):
                request.headers.add(name, value)
        txn = self.transport.send_request(request, leg.addr, leg.transport)
        txn.context = ctx
        return txn

    # ---------------------------------------------------------------- CANCEL / ACK
    def _on_cancel(self, ev: RequestReceived) -> None:
        txn = ev.txn
        assert txn is not None
        inv = ev.cancelled
        if inv is None:
            self._respond(txn, 481)
            return
        self._respond(txn, 200)
        ctx = inv.context
        if inv.state != "proceeding" or not isinstance(ctx, _Ctx):
            return
        leg = ctx.leg
        self._respond(inv, 487, to_tag=leg.local_tag)
        if ctx.purpose == "reinvite":
            return
        call = leg.call
        self._leg_failed(leg, 487, "ORIGINATOR_CANCEL", "a")
        b = call.b
        if b is not None and not b.finished:
            self._abandon(b, "ORIGINATOR_CANCEL", 487, "a")
        self._maybe_finish(call)

    def _on_ack(self, ev: RequestReceived) -> None:
        req = ev.request
        tag = req.to.tag
        if tag is None:
            return
        leg = self._dialogs.get((req.call_id, tag))
        if leg is None:
            return
        pending = leg.relay_ack
        if pending is not None and pending.cseq_in == req.cseq.number:
            # Delayed offer (the INVITE, or a re-INVITE, had no SDP): the answer comes in
            # this ACK; pass it on.
            leg.relay_ack = None
            other = pending.to_leg
            try:
                body = self._sdp_for(other, req.body, offer=False) if req.body else b""
            except NotRelayable:
                body = None
            if pending.initial:
                self._send_ack(other, body or b"")
            elif other.dialog is not None:
                ack = other.dialog.create_ack(
                    pending.cseq, self.transport.via(other.transport), body or b""
                )
                self.transport.send_stateless(ack, other.addr, other.transport)
            if not body:
                # no answer we can write: the offer was left unanswered; end the call
                log.info("b2bua: ACK of leg %s carries no usable answer; ending call", leg.id)
                self.hangup(leg.call, "INCOMPATIBLE_DESTINATION")

    # ---------------------------------------------------------------- in-dialog
    def _in_dialog(self, leg: Leg, ev: RequestReceived) -> None:
        req = ev.request
        txn = ev.txn
        assert txn is not None
        method = req.method
        if method == "PRACK":
            self._on_prack(leg, txn, req)
            return
        if leg.dialog is None:
            # Early dialog on an inbound leg (we sent 18x with our tag, no 2xx yet).
            if method == "BYE":
                self._respond(txn, 481)
            else:
                self._respond(txn, 491 if method in ("UPDATE", "INVITE") else 481)
            return
        if not leg.dialog.check_remote_cseq(req):
            self._respond(txn, 500, "CSeq out of order")
            return
        call = leg.call
        if method == "BYE":
            self._respond(txn, 200)
            self._end_leg(leg, "NORMAL_CLEARING", leg.side, send_bye=False)
            other = call.other(leg)
            if other is not None and not other.finished:
                if other.is_up:
                    if other.offer_pending is not None:
                        self._ack_pending_with_rejection(other)
                    self._end_leg(other, "NORMAL_CLEARING", leg.side, send_bye=True)
                elif other.direction == "outbound":
                    self._abandon(other, "ORIGINATOR_CANCEL", None, leg.side)
            self._maybe_finish(call)
            return
        if method == "OPTIONS":
            self._respond(txn, 200, extra=(("Allow", ALLOW),))
            return
        if method == "INFO" and self.on_info is not None and self.on_info(leg, req):
            self._respond(txn, 200)  # consumed here (DTMF for a PIN prompt)
            return
        other = call.other(leg)
        if other is None or other.dialog is None or not other.is_up:
            self._respond(txn, 491 if method in ("INVITE", "UPDATE") else 481)
            return
        if method == "INVITE":
            self._relay_reinvite(leg, other, txn)
        elif method in ("UPDATE", "INFO"):
            self._relay_simple(leg, other, txn)
        else:
            self._respond(txn, 405, extra=(("Allow", ALLOW),))

    def _relay_reinvite(self, leg: Leg, other: Leg, txn: ServerTransaction) -> None:
        req = txn.request
        if other.reinvite_busy or leg.reinvite_busy:
            self._respond(txn, 491, to_tag=None)
            return
        assert leg.dialog is not None and other.dialog is not None
        self._respond(txn, 100)
        try:
            body = self._sdp_for(other, req.body, offer=True) if req.body else b""
        except NotRelayable as exc:
            self._respond(txn, exc.status, exc.reason)
            return
        leg.dialog.update_target(req)
        out = other.dialog.create_request("INVITE", self.transport.via(other.transport), body)
        out.headers.add("Allow", ALLOW)
        other.reinvite_busy = True
        self._send_in_dialog(
            other, out, _Ctx(other, "reinvite", peer_txn=txn, offer=bool(req.body))
        )

    def _reinvite_response(self, ctx: _Ctx, txn: ClientTransaction, resp: Response) -> None:
        other = ctx.leg  # the leg the re-INVITE was relayed to
        peer = ctx.peer_txn
        call = other.call
        origin = call.other(other)
        if resp.status < 200 or peer is None or origin is None:
            return
        if resp.status >= 300:
            other.reinvite_busy = False
            if peer.state == "proceeding":
                self._respond(peer, resp.status)
            return
        cseq = txn.request.cseq.number
        if not other.reinvite_busy:
            # 2xx retransmission: repeat the ACK we sent (an offerless re-INVITE waits).
            if ctx.offer and other.dialog is not None:
                ack = other.dialog.create_ack(cseq, self.transport.via(other.transport))
                self.transport.send_stateless(ack, other.addr, other.transport)
            return
        other.reinvite_busy = False
        refused: NotRelayable | None = None
        body: bytes | None = b""
        try:
            body = self._sdp_for(origin, resp.body, offer=not ctx.offer) if resp.body else b""
        except NotRelayable as exc:
            body, refused = None, exc
        if other.dialog is not None:
            other.dialog.update_target(resp)
            if ctx.offer or body is None:
                ack = other.dialog.create_ack(cseq, self.transport.via(other.transport))
                self.transport.send_stateless(ack, other.addr, other.transport)
            else:
                origin.relay_ack = _PendingAck(other, cseq, peer.request.cseq.number)
        if peer.state != "proceeding":
            return
        if refused is not None:
            self._respond(peer, refused.status, refused.reason)
        else:
            extra = self._timer_refreshed(origin, peer.request)
            self._respond(peer, 200, to_tag=None, body=body, contact=True, extra=extra)

    def _relay_simple(self, leg: Leg, other: Leg, txn: ServerTransaction) -> None:
        """UPDATE and INFO: pass the request on, answer with the peer's final response."""
        req = txn.request
        assert other.dialog is not None
        ctype: str | None = None
        body = req.body
        if body and req.method == "UPDATE" and req.content_type == "application/sdp":
            try:
                body = self._sdp_for(other, body, offer=True)
            except NotRelayable as exc:
                self._respond(txn, exc.status, exc.reason)
                return
            ctype = "application/sdp"
        elif body:
            written = crossing.info_body(req.headers.get("content-type") or "", body)
            if written is None:
                self._respond(txn, 415, extra=(("Accept", crossing.INFO_TYPE),))
                return
            ctype, body = written
        out = other.dialog.create_request(
            req.method, self.transport.via(other.transport), body, ctype
        )
        if req.method == "UPDATE" and leg.dialog is not None:
            leg.dialog.update_target(req)
        self._send_in_dialog(other, out, _Ctx(other, "relay", peer_txn=txn))

    # ---------------------------------------------------------------- time-outs
    def _on_timeout(self, ev: TransactionTimeout) -> None:
        txn = ev.txn
        ctx = txn.context
        if not isinstance(ctx, _Ctx):
            return
        leg = ctx.leg
        call = leg.call
        if isinstance(txn, ClientTransaction):
            if ctx.purpose == "invite":
                if leg.finished:
                    return
                self._leg_failed(leg, 408, "RECOVERY_ON_TIMER_EXPIRE", "system")
                self._after_b_failure(leg, 408)
            elif ctx.purpose == "reinvite":
                leg.reinvite_busy = False
                if ctx.peer_txn is not None and ctx.peer_txn.state == "proceeding":
                    self._respond(ctx.peer_txn, 408)
            elif (
                ctx.purpose == "relay"
                and ctx.peer_txn is not None
                and ctx.peer_txn.state in ("trying", "proceeding")
            ):
                self._respond(ctx.peer_txn, 408)
            return
        if (
            isinstance(txn, ServerInviteTransaction)
            and ctx.purpose == "invite"
            and txn.state == "proceeding"
            and not leg.finished
        ):
            # RFC 3262 §3: our reliable provisional was never PRACKed — refuse the call
            log.warning("b2bua: no PRACK from the caller of leg %s; refusing", leg.id)
            self._fail_inbound(leg, 500, "RECOVERY_ON_TIMER_EXPIRE", "system")
            b = call.b
            if b is not None and not b.finished:
                self._abandon(b, "RECOVERY_ON_TIMER_EXPIRE", None, "system")
            self._maybe_finish(call)
            return
        if isinstance(txn, ServerInviteTransaction) and ctx.purpose == "invite" and leg.is_up:
            # Our 200 was never ACKed (§13.3.1.4): end the call.
            log.warning("b2bua: no ACK for 200 on leg %s; ending call", leg.id)
            self.hangup(call, "RECOVERY_ON_TIMER_EXPIRE")


@dataclass(slots=True)
class _PendingAck:
    to_leg: Leg
    cseq: int  # CSeq of the (re-)INVITE we sent to ``to_leg``
    cseq_in: int  # CSeq of the (re-)INVITE we received (its ACK carries the answer)
    initial: bool = False  # the call's first INVITE (its ACK is retransmitted with 2xx)
