"""The call engine: the one room that joins telephony to sessions.

It answers the B2BUA's routing question from the session store (docs/calls.md), and turns
the B2BUA's leg events into Call records, the session's interaction, its totals and its
events. Store writes go through one queue (``calls/writer.py``), all calls' writes in
the order they happened, as many per transaction as are waiting, so a call's step never
waits on the database: on SQLite the queue is written on the loop itself, in the store's
group commit; on PostgreSQL by one writer thread. A call's coroutine steps (a
recording's end) chain after its earlier writes.

It also puts every call's media through an RTP relay (``calls/media.py``; docs/media.md):
plain bridges are relayed through the B2BUA's SDP hook; calls that need prompts, a PIN or
the unknown-caller message are answered by the B2BUA itself (its ``Answer`` decision and
``originate_answered``) and driven by the scripts here (``_connect``, ``_pin_entry``,
``_unknown_caller``). Recording starts when the parties are bridged.

No call is ever bridged around the relay: without relay ports (all taken, or the media
path disabled) a call is refused 503 with ``Retry-After`` (counted in ``stats``, logged a
few times a minute), and an initiated call is not placed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import metrics
from ..badinput import BadInput
from ..clock import Clock
from ..config import Settings
from ..domain.appxml import Dial, Hangup, Play, Verb, Wait
from ..domain.phone import normalize_lenient
from ..logs import fields
from ..media.crossing import Description, NotRelayable
from ..media.dtmf import PinCollector, digit_from_sip_info
from ..media.prompt import PromptFetcher
from ..media.relay import CallClosed, NoPortsAvailable, PortAllocator
from ..sip.message import Request
from ..sip.sdp import SessionDescription
from ..sip.tls import TlsConfigError, server_context
from ..sip.transport import SipTransport
from ..store import Store
from ..store.calllog import CallLog, CallRef, RecordingLog, RecordingRef, Role, Route, other
from .application import fetch_application
from .b2bua import B2BUA, Answer, Bridge, Call, Decision, InboundCall, Leg, Reject
from .media import CallMedia, describe
from .writer import LoopRecordWriter, RecordWriter

log = logging.getLogger("vts_masking.calls")

#: seconds an application's ``<Dial>`` rings without a ``timeout`` (Twilio's and Plivo's)
DIAL_TIMEOUT = 30
#: ``Retry-After`` (seconds) of the 503 a call gets when the relay has no ports free
NO_PORTS_RETRY_AFTER = 5


def host_port(text: str, default_port: int = 5060) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        return text, default_port
    return host.strip("[]"), int(port)


def _tls_options(settings: Settings) -> dict[str, Any]:
    """The transport's TLS listener, when the operator configured one."""
    if settings.sip_tls_port is None:
        return {}
    if settings.sip_tls_cert is None or settings.sip_tls_key is None:
        raise TlsConfigError("sip_tls_port needs sip_tls_cert and sip_tls_key")
    return {
        "tls_port": settings.sip_tls_port,
        "tls_server": server_context(settings.sip_tls_cert, settings.sip_tls_key),
    }


def _srtp(leg: Leg) -> str:
    """The SRTP policy of a leg's trunk ("off", "offer", "require"; media/srtp.py)."""
    return leg.trunk.srtp if leg.trunk is not None else "off"


def _play_url(role: Role) -> str:
    """The session parameter holding what ``role`` hears before being connected."""
    return "first_party_play_url" if role == "first" else "second_party_play_url"


@dataclass
class CallContext:
    """What the engine attaches to a B2BUA call (``Bridge.context``)."""

    ref: CallRef
    roles: dict[str, Role]  # leg side ("a"/"b") → party role
    numbers: dict[str, tuple[str, str]]  # leg side → (from, to) as the customer sees them
    params: dict[str, Any] = field(default_factory=dict)  # the session's parameters
    media: CallMedia | None = None  # the RTP relay, from the first SDP on
    recording: RecordingRef | None = None
    #: answered mode: records held back until the PIN names the session (docs/calls.md#pin-entry)
    pending: list[tuple[Callable[..., None], tuple[Any, ...]]] | None = None
    #: answered mode: resolves True/False when the dialled party answers/fails
    b_outcome: asyncio.Future[bool] | None = None
    authorized: bool = False  # a registered party let through a PIN session


@dataclass
class AppCall:
    """What an answered application call carries (docs/calls.md). It belongs to no
    session: no records, no events; just its relay and the outcome of a ``<Dial>``."""

    virtual: str  # the number called: a <Dial> presents it unless callerId says otherwise
    media: CallMedia | None = None
    b_outcome: asyncio.Future[bool] | None = None


def _resolve_outcome(call: Call, answered: bool) -> None:
    """Tell a script waiting on the dialled leg (``b_outcome``) how it went."""
    future = getattr(call.context, "b_outcome", None)
    if future is not None and not future.done():
        future.set_result(answered)


class CallEngine:
    def __init__(self, store: Store, settings: Settings, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or store.clock
        self.settings = settings
        self.log = CallLog(store.db, settings.rate_table_obj())
        self.recordings = RecordingLog(store.db, settings.base_url())
        # SQLite: the records are written on the loop, in its group commit (no thread to
        # hand the GIL to); PostgreSQL: a thread, whose network waits do not stall the loop
        self.writer: RecordWriter | LoopRecordWriter = (
            RecordWriter(self.log.batch)
            if store.db.postgres
            else LoopRecordWriter(store.db.run_write, self.log.joined)
        )
        self.ports: PortAllocator | None = None
        if settings.media_enabled:
            lo, hi = settings.rtp_port_range()
            self.ports = PortAllocator(
                settings.rtp_address, lo, hi, advertise=settings.rtp_advertise or None
            )
            ports = self.ports
            metrics.watch_rtp_ports(lambda: ports.in_use * (2 if ports.reserve_rtcp else 1))
        listen = host_port(settings.sip_listen)
        self.b2bua = B2BUA(
            self.route,
            trunks=settings.trunk_table(),
            listen=listen,
            observer=self,
            clock=self.clock,
            sdp_rewriter=self._rewrite_sdp,
            transport=SipTransport(
                listen[0],
                listen[1],
                tcp_idle_timeout=settings.sip_tcp_idle_timeout,
                tcp_max_buffer=settings.sip_tcp_max_buffer,
                **_tls_options(settings),
            ),
            tls_ca_file=settings.sip_tls_ca,
        )
        self.b2bua.on_info = self._on_info
        metrics.watch_sip_transport(self.b2bua.transport.stats)
        #: plain counters (a metrics endpoint can read them): calls refused because the
        #: relay had no ports (or is disabled), and SDPs refused as not relayable
        self.stats: dict[str, int] = {"refused_no_media_ports": 0, "refused_media_disabled": 0}
        metrics.watch_call_refusals(self.stats)
        # a burst of INVITEs can take every port: one line a minute says so, not one a call
        self._refusals = BadInput(logger=log, what="call refused")
        self.prompts = PromptFetcher(
            cache_dir=settings.prompt_cache_path(), allow_private=settings.prompts_allow_private
        )
        self._chains: dict[str, asyncio.Task[None]] = {}
        # calls counted in vts_calls_active, and those already bridged (the observer
        # may see a step twice: PIN sessions replay the steps they held back)
        self._counted: set[str] = set()
        self._bridged: set[str] = set()

    async def start(self) -> None:
        await self.b2bua.start()
        if self.ports is not None and self.ports.advertise in ("0.0.0.0", "::"):
            # bound to every address and nothing said: SDP names the SIP edge's address
            # (0.0.0.0 in SDP would mean "on hold")
            self.ports.advertise = self.b2bua.host
            log.info("RTP relay advertised as %s (set VTS_RTP_ADVERTISE)", self.ports.advertise)
        transport = self.b2bua.transport
        trunks = ", ".join(
            f"{t.name} {t.host}:{t.port}/{t.transport}" for t in self.b2bua.trunks.trunks
        )
        log.debug("SIP edge on %s:%d, trunks: %s", transport.host, transport.port, trunks)

    async def stop(self) -> None:
        await self.b2bua.stop()
        pending = list(self._chains.values())
        if pending:
            await asyncio.wait(pending, timeout=5)
        try:
            await asyncio.wait_for(self.writer.drain(), timeout=10)
        except TimeoutError:
            log.warning("call records still being written at shutdown")
        self.writer.close()
        await self.prompts.aclose()

    # -- routing --------------------------------------------------------------------

    async def route(self, inbound: InboundCall) -> Decision:
        virtual = normalize_lenient(inbound.to_user or "")
        caller = normalize_lenient(inbound.from_user or "")
        started = time.perf_counter()
        try:
            decision = await self.store.db.run_read(self.log.route, virtual, caller)
        except Exception:
            log.exception("routing failed for a call to %s", virtual)
            return Reject(500, "Server Internal Error")
        finally:
            metrics.CALL_ROUTING.observe(time.perf_counter() - started)
        if decision.kind == "reject":
            return Reject(decision.status, decision.reason)
        if self.ports is None:
            # without the relay nothing can be masked: media would flow phone to phone
            self.stats["refused_media_disabled"] += 1
            self._refusals.note("media_disabled", f"media relay disabled; call to {virtual}")
            return Reject(503, "Media Relay Disabled")
        media = inbound.sdp is not None
        if decision.kind == "application":
            return await self._application(decision.answer_url or "", caller, virtual, media)
        if decision.kind != "bridge" and not media:
            # without the media path, PIN entry and the unknown-caller prompt cannot run:
            # such calls are refused cleanly
            log.info("call to %s needs %s, refused", virtual, decision.kind)
            return Reject(403, "Forbidden")
        assert decision.session_id is not None
        ref = CallRef(
            decision.session_id,
            decision.session_uuid or "",
            decision.account_id or 0,
            decision.virtual_number or virtual,
        )
        if decision.kind == "unknown_caller_play":
            url = decision.params.get("unknown_caller_play")
            return Answer(self._answer_sdp, lambda call: self._unknown_caller(call, url))
        if decision.kind == "pin":
            context = CallContext(
                ref,
                roles={"a": "first", "b": "second"},
                numbers={"a": (caller, virtual), "b": (virtual, "")},
                params=decision.params,
                pending=[],
            )
            return Answer(
                self._answer_sdp,
                lambda call: self._pin_entry(call, context, decision, caller, virtual),
                context=context,
                call_time_limit=decision.params.get("call_time_limit"),
            )
        assert decision.caller_role is not None
        params = decision.params
        context = CallContext(
            ref,
            roles={"a": decision.caller_role, "b": other(decision.caller_role)},
            numbers={"a": (caller, virtual), "b": (virtual, decision.target or "")},
            params=params,
        )
        target = Bridge(
            number=decision.target,
            caller_id=decision.virtual_number or virtual,
            ring_timeout=params.get("ring_timeout"),
            call_time_limit=params.get("call_time_limit"),
            context=context,
        )
        context.authorized = decision.authorized_caller
        if media and (
            params.get(_play_url(decision.caller_role))
            or params.get(_play_url(other(decision.caller_role)))
        ):
            # prompts: we answer the caller, play theirs, then dial the other party
            return Answer(
                self._answer_sdp,
                lambda call: self._connect(call, context, target),
                context=context,
                call_time_limit=params.get("call_time_limit"),
            )
        return target

    async def initiate_session_call(self, session_uuid: str) -> None:
        """``initiate_call_to_first_party``: call the first party, then the second."""
        row = await self.store.db.run_read(self.log.session_for_call, session_uuid)
        if row is None or not row.first_party or not row.second_party:
            return
        params = json.loads(row.params)
        ref = CallRef(row.id, row.uuid, row.account_id, row.virtual_number)
        context = CallContext(
            ref,
            roles={"a": "first", "b": "second"},
            numbers={
                "a": (row.virtual_number, row.first_party),
                "b": (row.virtual_number, row.second_party),
            },
            params=params,
        )

        def leg(number: str) -> Bridge:
            return Bridge(
                number=number,
                caller_id=row.virtual_number,
                ring_timeout=params.get("ring_timeout"),
                call_time_limit=params.get("call_time_limit"),
                context=context,
            )

        try:
            # the relay first: a call it cannot carry is not placed at all
            context.media = self._new_media(None)
        except NotRelayable:
            log.info("session %s: first party not called (no relay ports)", session_uuid)
            return
        if params.get("first_party_play_url") or params.get("second_party_play_url"):
            # the first party hears its prompt before the second party is dialled
            second = leg(row.second_party)
            call = self.b2bua.originate_answered(
                leg(row.first_party),
                lambda call: self._offer_sdp(call, context),
                lambda call: self._connect(call, context, second),
                context,
            )
        else:
            call = self.b2bua.originate(leg(row.first_party), leg(row.second_party), context)
        context.media.call = call

    def _offer_sdp(self, call: Call, ctx: CallContext) -> bytes:
        """Our offer to the first party of an originated call (relay leg A)."""
        assert ctx.media is not None
        ctx.media.call = call
        srtp = self.b2bua.trunk_for(call.bridge).srtp
        return ctx.media.our_offer("a", srtp=srtp).to_bytes()

    # -- answered mode: prompts, PIN entry, unknown caller ------------------------------

    def _answer_sdp(self, call: Call) -> bytes | None:
        """Our answer to the caller's offer, pointing at a new relay (None: nothing in the
        offer the relay can carry; raises NotRelayable when it has no ports)."""
        a = call.a
        desc = describe(a.invite.body) if a is not None and a.invite is not None else None
        if desc is None or desc.audio is None:
            return None
        media = self._new_media(call)
        if isinstance(call.context, CallContext | AppCall):
            call.context.media = media
        else:
            call.context = media  # unknown caller: no records, the script owns the relay
        return media.answer_caller("a", desc, srtp=_srtp(a)).to_bytes()

    @staticmethod
    def _media_of(call: Call) -> CallMedia | None:
        if isinstance(call.context, CallMedia):
            return call.context
        return call.context.media if isinstance(call.context, CallContext | AppCall) else None

    async def _play(self, call: Call, leg: str, url: str | None) -> None:
        """Play ``url`` into relay leg ``leg`` to its end; skipped (logged) if unusable."""
        media = self._media_of(call)
        if not url or media is None or media.relay.closed:
            return
        prompt = await self.prompts.load(url)
        relay = media.relay
        codec = relay.leg(leg).codec
        if prompt is None or relay.closed or call.ended or codec is None:
            return
        await relay.play(leg, prompt.frames(codec))

    async def _application(
        self, answer_url: str, caller: str, virtual: str, media: bool
    ) -> Decision:
        """A call matching no session runs the number's own application.

        A leading ``<Dial>`` is a plain bridge (no session: no records, no events); a
        leading ``<Hangup>`` declines; ``<Play>``/``<Wait>`` answer the call and run in
        order. A document that cannot be fetched or is not of the subset is refused (480).
        """
        verbs = await fetch_application(
            answer_url,
            call_uuid=str(uuid.uuid4()),
            from_number=caller,
            to_number=virtual,
            allow_private=self.settings.allow_private_callbacks,
        )
        if not verbs:
            return Reject(480, "Temporarily Unavailable")
        first = verbs[0]
        if isinstance(first, Dial):
            return Bridge(
                number=first.numbers[0],
                caller_id=first.caller_id or virtual,
                ring_timeout=first.timeout,
                call_time_limit=first.time_limit,
                context=AppCall(virtual),  # relayed like any call (its relay made lazily)
            )
        if isinstance(first, Hangup) or not media:
            return Reject(603, "Decline") if isinstance(first, Hangup) else Reject(480)
        return Answer(
            self._answer_sdp,
            lambda call: self._run_application(call, verbs),
            context=AppCall(virtual),
        )

    async def _run_application(self, call: Call, verbs: list[Verb]) -> None:
        """Run the verbs in order on the answered caller. A ``<Dial>`` that connects
        ends the document (the call ends when either side hangs up, as a bridge does);
        one that is not answered lets the next verbs run (``<Play>`` sorry …)."""
        bridged = False
        try:
            for verb in verbs:
                if call.ended:
                    return
                if isinstance(verb, Play):
                    for _ in range(verb.loop):
                        await self._play(call, "A", verb.url)
                elif isinstance(verb, Wait):
                    await asyncio.sleep(verb.length)
                elif isinstance(verb, Dial):
                    bridged = await self._application_dial(call, verb)
                    if bridged or call.ended:
                        return
                else:
                    break  # <Hangup>
        finally:
            if not bridged:
                media = self._media_of(call)
                if media is not None:
                    media.close()
                if not call.ended:
                    self.b2bua.hangup(call, "NORMAL_CLEARING")

    async def _application_dial(self, call: Call, verb: Dial) -> bool:
        """``<Dial>`` from an answered application call: dial the first ``<Number>``
        through the relay's B leg and bridge once it answers. True: bridged."""
        app = call.context
        if not isinstance(app, AppCall) or app.media is None:
            return False
        target = Bridge(
            number=verb.numbers[0],
            caller_id=verb.caller_id or app.virtual,
            # the caller is answered (and billed) while this rings: never ring forever
            ring_timeout=verb.timeout or DIAL_TIMEOUT,
            call_time_limit=verb.time_limit,
        )
        if not await self._dial_through_relay(call, app, target):
            return False
        app.media.bridge()
        if verb.time_limit:
            self.b2bua.limit(call, verb.time_limit)
        return True

    async def _unknown_caller(self, call: Call, url: str | None) -> None:
        """An unknown caller: answer, play ``unknown_caller_play``, hang up."""
        try:
            await self._play(call, "A", url)
        finally:
            media = self._media_of(call)
            if media is not None:
                media.close()
            if not call.ended:
                self.b2bua.hangup(call, "NORMAL_CLEARING")

    async def _connect(self, call: Call, ctx: CallContext, target: Bridge) -> None:
        """Caller's prompt, dial the other party, their prompt once answered, bridge."""
        a = call.a
        # originate_answered: the first party answered our offer
        outbound = a is not None and a.direction == "outbound"
        if outbound and not self._answered(ctx.media, "a", a.remote_sdp if a else None):
            self.b2bua.hangup(call, "INCOMPATIBLE_DESTINATION")
            return
        await self._play(call, "A", ctx.params.get(_play_url(ctx.roles["a"])))
        answered = await self._dial_through_relay(call, ctx, target)
        if answered is None:
            return
        if not answered:
            self.b2bua.hangup(call, "NORMAL_CLEARING")
            return
        await self._play(call, "B", ctx.params.get(_play_url(ctx.roles["b"])))
        if call.ended:
            return
        self._both_answered(call, ctx, self.clock.now())

    async def _dial_through_relay(
        self, call: Call, holder: CallContext | AppCall, target: Bridge
    ) -> bool | None:
        """Answered mode: dial ``target`` with the relay's B leg as our offer, wait for
        its outcome and point that leg at its answer. True: answered, ready to bridge;
        False: not answered (the caller is still up); None: nothing more to do (the
        call ended, there is no relay, or the answer was unusable and the call is being
        hung up here)."""
        media = holder.media
        if call.ended or media is None or media.relay.closed:
            return None
        holder.b_outcome = asyncio.get_running_loop().create_future()
        srtp = self.b2bua.trunk_for(target).srtp
        leg = self.b2bua.dial(call, target, media.our_offer("b", srtp=srtp).to_bytes())
        if leg is None:
            return None
        answered = await holder.b_outcome
        if call.ended:
            return None
        if not answered:
            return False
        if not self._answered(media, "b", leg.remote_sdp):
            self.b2bua.hangup(call, "INCOMPATIBLE_DESTINATION")
            return None
        return True

    @staticmethod
    def _answered(media: CallMedia | None, side: str, sdp: bytes | None) -> bool:
        """Point the relay leg of ``side`` at the phone that answered our offer with ``sdp``."""
        if media is None or not media.answered(side, describe(sdp)):
            log.warning("an answer without usable G.711 audio; ending the call")
            return False
        return True

    async def _pin_entry(
        self, call: Call, ctx: CallContext, route: Route, caller: str, virtual: str
    ) -> None:
        """PIN entry (docs/calls.md#pin-entry): prompt, digits, retries; success connects,
        failure hangs up."""
        params = route.params
        media = ctx.media
        if media is None:
            self.b2bua.hangup(call)
            return
        relay = media.relay
        attempts = 1 + max(0, int(params.get("pin_retry") or 0))
        wait = float(params.get("pin_retry_wait") or 0)
        for attempt in range(1, attempts + 1):
            url = params.get("pin_prompt_play")
            prompt = await self.prompts.load(url) if url else None
            if call.ended or relay.closed:
                return
            codec = relay.a.codec
            # collect from the start of the prompt: digits may interrupt it
            extra = prompt.duration if prompt is not None else 0.0
            digits = relay.collect(
                "A",
                PinCollector(
                    max_length=15, inter_digit_timeout=5.0, first_digit_timeout=10.0 + extra
                ),
            )
            if prompt is not None and codec is not None:
                relay.play("A", prompt.frames(codec))
            try:
                result = await digits
            except CallClosed:
                return
            relay.stop_playing("A")
            if call.ended:
                return
            found = (
                await self.store.db.run_read(
                    self.log.session_by_pin, virtual, result.digits, caller
                )
                if result.digits
                else None
            )
            if found is not None and found.session_id is not None:
                self._pin_found(call, ctx, found, caller, virtual, attempt)
                target = Bridge(
                    number=found.target,
                    caller_id=found.virtual_number or virtual,
                    ring_timeout=found.params.get("ring_timeout"),
                    call_time_limit=found.params.get("call_time_limit"),
                    context=ctx,
                )
                await self._connect(call, ctx, target)
                return
            self._pin_failed(call, ctx, attempt)
            await self._play(call, "A", params.get("incorrect_pin_play"))
            if call.ended:
                return
            if attempt < attempts and wait > 0:
                await asyncio.sleep(wait)
                if call.ended:
                    return
        self.b2bua.hangup(call, "NORMAL_CLEARING")

    def _pin_found(
        self, call: Call, ctx: CallContext, found: Route, caller: str, virtual: str, attempt: int
    ) -> None:
        """The PIN names the session: records from now on (and those held) go to it."""
        assert found.session_id is not None and found.caller_role is not None
        ctx.ref = CallRef(
            found.session_id,
            found.session_uuid or "",
            found.account_id or 0,
            found.virtual_number or virtual,
            legs=ctx.ref.legs,
        )
        ctx.params = found.params
        ctx.roles = {"a": found.caller_role, "b": other(found.caller_role)}
        ctx.numbers = {"a": (caller, virtual), "b": (virtual, found.target or "")}
        self._release(ctx)
        frm, to = ctx.numbers["a"]
        a_id = call.a.id if call.a is not None else None
        self._submit(
            call,
            self.log.pin_status,
            ctx.ref,
            a_id,
            "success",
            attempt,
            frm,
            to,
            self.clock.now(),
        )

    def _pin_failed(self, call: Call, ctx: CallContext, attempt: int) -> None:
        # reported on the session the call was routed to; the leg records stay held
        # (a later attempt may name another session)
        frm, to = ctx.numbers["a"]
        self._submit(
            call,
            self.log.pin_status,
            ctx.ref,
            None,
            "failed",
            attempt,
            frm,
            to,
            self.clock.now(),
        )

    def _release(self, ctx: CallContext) -> None:
        """Write the records held back while the session was unknown."""
        held = ctx.pending or []
        ctx.pending = None
        for fn, args in held:
            fn(*args)

    def _on_info(self, leg: Leg, req: Request) -> bool:
        """DTMF by SIP INFO from the caller before the parties are bridged."""
        media = self._media_of(leg.call)
        if media is None or leg.call.kind != "answered" or leg.side != "a" or media.relay.bridged:
            return False
        digit = digit_from_sip_info(req.headers.get("content-type") or "", req.body or b"")
        if digit is None:
            return False
        if not media.relay.closed:
            media.relay.inject_digit("A", digit)
        return True

    # -- observer: leg events to records, in order per call ----------------------------

    def _submit(self, call: Call, fn: Callable[..., Any], *args: Any, last: bool = False) -> None:
        """Run ``fn`` after every earlier step of this call: a plain function goes to the
        records' writer (queued, no waiting); a coroutine function runs on the
        loop once the call's earlier steps are committed, and the call's later steps
        chain after it. (``last``: the call's final step; nothing is kept after it.)"""
        previous = self._chains.get(call.id)
        coroutine = inspect.iscoroutinefunction(fn)
        if previous is None and not coroutine:
            self.writer.put(fn, args)
            return

        async def run() -> None:
            try:
                if previous is not None:
                    await asyncio.wait([previous])
                else:
                    await self.writer.drain()  # the call's earlier steps are committed
                if coroutine:
                    await fn(*args)
                else:
                    await self.writer.run(fn, args)
            except Exception:
                log.exception("writing call records failed (%s)", getattr(fn, "__name__", fn))
            finally:
                if self._chains.get(call.id) is task:
                    del self._chains[call.id]  # later steps go straight to the writer

        task = asyncio.get_running_loop().create_task(run())
        self._chains[call.id] = task

    @staticmethod
    def _ctx(call: Call) -> CallContext | None:
        return call.context if isinstance(call.context, CallContext) else None

    def _held(self, ctx: CallContext, fn: Callable[..., None], *args: Any) -> bool:
        if ctx.pending is None:
            return False
        ctx.pending.append((fn, args))
        return True

    def on_leg_initiated(self, call: Call, leg: Leg, at: datetime) -> None:
        if leg.side == "a" and call.id not in self._counted:
            self._counted.add(call.id)
            metrics.CALLS_STARTED.inc()
            metrics.CALLS_ACTIVE.inc()
        ctx = self._ctx(call)
        if ctx is None or self._held(ctx, self.on_leg_initiated, call, leg, at):
            return
        if leg.side == "a":
            self._submit(call, self.log.call_started, ctx.ref, at)
        frm, to = ctx.numbers[leg.side]
        self._submit(
            call,
            self.log.leg_initiated,
            ctx.ref,
            leg.id,
            ctx.roles[leg.side],
            leg.direction,
            frm,
            to,
            at,
        )
        if leg.side == "a" and ctx.authorized:
            self._submit(
                call, self.log.pin_status, ctx.ref, leg.id, "AuthorizedCaller", 0, frm, to, at
            )

    def on_leg_ringing(self, call: Call, leg: Leg, at: datetime) -> None:
        ctx = self._ctx(call)
        if ctx is None or leg.direction != "outbound":
            return
        if self._held(ctx, self.on_leg_ringing, call, leg, at):
            return
        frm, to = ctx.numbers[leg.side]
        self._submit(call, self.log.leg_ringing, ctx.ref, leg.id, frm, to, at)

    def on_leg_answered(self, call: Call, leg: Leg, at: datetime) -> None:
        if leg.side == "b":
            _resolve_outcome(call, True)
        a, b = call.a, call.b
        both_up = a is not None and b is not None and a.is_up and b.is_up
        if both_up and call.id not in self._bridged and a.initiated_at is not None:
            self._bridged.add(call.id)
            metrics.CALL_SETUP.observe(max(0.0, (at - a.initiated_at).total_seconds()))
        ctx = self._ctx(call)
        if ctx is None:
            return
        if self._held(ctx, self.on_leg_answered, call, leg, at):
            return
        frm, to = ctx.numbers[leg.side]
        self._submit(call, self.log.leg_answered, ctx.ref, leg.id, leg.direction, frm, to, at)
        a, b = call.a, call.b
        if call.kind != "answered" and a is not None and b is not None and a.is_up and b.is_up:
            self._both_answered(call, ctx, at)

    # -- media ----------------------------------------------------------------------

    def _rewrite_sdp(self, leg: Leg, desc: Description, offer: bool) -> SessionDescription:
        """The B2BUA's hook: every SDP on its way to a leg is written for the call's relay
        (made with the call's first SDP). Raises NotRelayable: the B2BUA refuses."""
        call = leg.call
        holder = call.context
        media = self._media_of(call)
        if call.kind == "answered" and leg.state == "new":
            # our own offer to a party we dial ourselves (after answering the caller, or
            # the first party of an initiated call with prompts)
            if media is None:
                raise NotRelayable(503, "Service Unavailable")
            return media.our_offer(leg.side, srtp=_srtp(leg))
        if not isinstance(holder, CallContext | AppCall):
            raise NotRelayable(503, "Service Unavailable")  # no call goes around the relay
        if media is None:
            if call.ended:
                raise NotRelayable(503, "Service Unavailable")
            media = holder.media = self._new_media(call)
        if media.call is None:
            media.call = call
        out = media.rewrite(leg.side, desc, offer, srtp=_srtp(leg))
        if not offer and leg.side == "a" and leg.direction == "inbound" and not leg.is_up:
            # early media (a 183 with SDP relayed to the caller): the callee's carrier
            # plays tones or announcements before answering; let them through now
            media.relay.bridge()
        return out

    def _new_media(self, call: Call | None) -> CallMedia:
        """A relay for ``call`` (None: bound later, ``media.call``). Raises NotRelayable
        (503 + Retry-After) when it cannot be had: counted, logged a few times a minute."""
        if self.ports is None:
            self.stats["refused_media_disabled"] += 1
            raise NotRelayable(503, "Media Relay Disabled")
        timeout = self.settings.media_inactivity_timeout
        media: CallMedia

        def inactive(_leg: str) -> None:
            # only when nothing at all has come from either phone for the whole timeout
            # (a phone that never sends, or one on hold, alone does not end the call)
            relay, owner = media.relay, media.call
            now = asyncio.get_running_loop().time()
            if relay.closed or owner is None or owner.ended:
                return
            if all(now - lg.last_rx > timeout for lg in (relay.a, relay.b)):
                log.info("call %s: no media for %.0f s; ending it", owner.id, timeout)
                self.b2bua.hangup(owner, "RECOVERY_ON_TIMER_EXPIRE")

        try:
            media = CallMedia(self.ports, inactivity_timeout=timeout, on_inactive=inactive)
        except (NoPortsAvailable, OSError) as e:
            self.stats["refused_no_media_ports"] += 1
            self._refusals.note(
                "no_media_ports",
                f"{self.ports.in_use} of {self.ports.capacity} RTP port pairs in use ({e}); 503",
            )
            raise NotRelayable(
                503, "No Media Ports Available", retry_after=NO_PORTS_RETRY_AFTER
            ) from None
        media.call = call
        return media

    def _both_answered(self, call: Call, ctx: CallContext, at: datetime) -> None:
        media = ctx.media
        if media is None or media.relay.closed:
            return
        media.bridge()
        if ctx.params.get("record") and ctx.recording is None:
            fmt = "wav" if ctx.params.get("record_file_format") == "wav" else "mp3"
            rec_uuid = str(uuid.uuid4())
            folder = self.settings.recordings_path()
            path = (folder / f"{rec_uuid}.{fmt}").resolve()
            try:
                media.relay.start_recording(path, fmt)  # type: ignore[arg-type]
            except Exception:
                log.exception("recording could not start for call %s", call.id)
                return
            ctx.recording = RecordingRef(rec_uuid, fmt, str(path), at)
            a_id = call.a.id if call.a is not None else None
            self._submit(call, self.recordings.recording_started, ctx.ref, ctx.recording, a_id)

    async def _finish_recording(self, call: Call, ctx: CallContext) -> None:
        rec = ctx.recording
        if rec is None or ctx.media is None:
            return
        a_id = call.a.id if call.a is not None else None
        try:
            result = await ctx.media.relay.stop_recording()
        except Exception:
            log.exception("recording %s could not be written", rec.uuid)
            result = None
        at = self.clock.now()

        def write() -> None:
            self.recordings.recording_finished(
                ctx.ref,
                rec,
                a_id,
                at,
                duration=result.duration if result else 0.0,
                size=result.size if result else 0,
                failed=result is None,
            )

        await self.writer.run(write, ())

    def _finished(self, call: Call, leg: Leg, at: datetime) -> None:
        if leg.side == "b":
            _resolve_outcome(call, False)
        ctx = self._ctx(call)
        if ctx is None:
            return
        if self._held(ctx, self._finished, call, leg, at):
            return
        frm, to = ctx.numbers[leg.side]

        def write() -> None:
            if leg.id in ctx.ref.legs:
                self.log.leg_finished(
                    ctx.ref,
                    leg.id,
                    answered_at=leg.answered_at,
                    sip_status=leg.status,
                    cause=leg.hangup_cause,
                    cause_code=leg.hangup_cause_code,
                    from_number=frm,
                    to_number=to,
                    at=at,
                )

        self._submit(call, write)

    on_leg_failed = _finished
    on_leg_ended = _finished

    def on_call_ended(self, call: Call, at: datetime) -> None:
        _resolve_outcome(call, False)
        self._bridged.discard(call.id)
        if call.id in self._counted:
            self._counted.discard(call.id)
            metrics.CALLS_ACTIVE.dec()
            metrics.CALLS_ENDED.labels(_first_cause(call)).inc()
        if isinstance(call.context, AppCall) and call.context.media is not None:
            call.context.media.close()  # a bridged application call: its ports go now
        ctx = self._ctx(call)
        if ctx is None:
            return
        if ctx.media is not None:
            ctx.media.close()  # every port released now; a recording stays in memory
            if ctx.recording is not None:
                self._submit(call, self._finish_recording, call, ctx)
        self._release(ctx)  # a PIN never entered: the call is the routed session's
        both = all(leg.answered_at is not None for leg in (call.a, call.b) if leg is not None)
        both = both and call.a is not None and call.b is not None

        def write() -> None:
            if ctx.ref.interaction_id is not None:
                self.log.call_ended(ctx.ref, at, both_answered=both)
            # after every earlier write of the call: its legs' call_uuids are known
            log.info("call ended", extra=call_summary(call, ctx))

        self._submit(call, write, last=True)


def _first_cause(call: Call) -> str:
    """The hangup cause of the leg that ended first (the one that ended the call)."""
    ended = [leg for leg in call.legs if leg.ended_at is not None and leg.hangup_cause]
    if not ended:
        return "NORMAL_UNSPECIFIED"
    return min(ended, key=lambda leg: leg.ended_at or datetime.max).hangup_cause or ""


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def call_summary(call: Call, ctx: CallContext) -> dict[str, Any]:
    """The fields of the one log line per call: the session, each leg's call_uuid, its
    numbers as the customer sees them, how long it rang and talked, and how it ended."""
    values: dict[str, Any] = {
        "session_uuid": ctx.ref.session_uuid,
        "virtual_number": ctx.ref.virtual_number,
        "cause": _first_cause(call),
        "legs": len(call.legs),
    }
    for leg in call.legs:
        frm, to = ctx.numbers.get(leg.side, ("", ""))
        known = ctx.ref.legs.get(leg.id)
        side = leg.side
        values[f"{side}_call_uuid"] = known[1] if known else None
        values[f"{side}_from"] = frm or None
        values[f"{side}_to"] = to or None
        values[f"{side}_status"] = "answered" if leg.answered_at else (leg.status or leg.state)
        values[f"{side}_ring_s"] = _seconds(leg.initiated_at, leg.answered_at or leg.ended_at)
        values[f"{side}_talk_s"] = _seconds(leg.answered_at, leg.ended_at)
        values[f"{side}_cause"] = leg.hangup_cause
        values[f"{side}_by"] = leg.hangup_by
    return fields(**values)
