"""The call engine: the one room that joins telephony to sessions.

It answers the B2BUA's routing question from the session store (calls.md §1), and turns
the B2BUA's leg events into Call records, the session's interaction, its totals and its
events. Store writes run on worker threads, one call's writes strictly in order (a chain
of tasks per call), so the SIP loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from ..clock import Clock
from ..config import Settings
from ..domain.phone import normalize_lenient
from ..media.relay import NoPortsAvailable, PortAllocator
from ..sip.sdp import SessionDescription
from ..store import Store
from ..store.calllog import CallLog, CallRef, RecordingLog, RecordingRef, Role, other
from .b2bua import B2BUA, Bridge, Call, Decision, InboundCall, Leg, Reject
from .media import CallMedia

log = logging.getLogger("vts_masking.calls")


def host_port(text: str, default_port: int = 5060) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        return text, default_port
    return host.strip("[]"), int(port)


@dataclass
class CallContext:
    """What the engine attaches to a B2BUA call (``Bridge.context``)."""

    ref: CallRef
    roles: dict[str, Role]  # leg side ("a"/"b") → party role
    numbers: dict[str, tuple[str, str]]  # leg side → (from, to) as the customer sees them
    params: dict[str, Any] = field(default_factory=dict)  # the session's parameters
    media: CallMedia | None = None  # the RTP relay, from the first SDP on
    no_media: bool = False  # no relay could be had: media flows directly
    recording: RecordingRef | None = None


class CallEngine:
    def __init__(self, store: Store, settings: Settings, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or store.clock
        self.settings = settings
        self.log = CallLog(store.db, settings.rate_table_obj())
        self.recordings = RecordingLog(store.db, settings.base_url())
        self.ports: PortAllocator | None = None
        if settings.media_enabled:
            lo, hi = settings.rtp_port_range()
            self.ports = PortAllocator(
                settings.rtp_address, lo, hi, advertise=settings.rtp_advertise or None
            )
        self.b2bua = B2BUA(
            self.route,
            trunk=host_port(settings.sip_trunk),
            listen=host_port(settings.sip_listen),
            observer=self,
            clock=self.clock,
            sdp_rewriter=self._rewrite_sdp if self.ports is not None else None,
        )
        self._chains: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        await self.b2bua.start()
        log.info("SIP edge listening on %s, trunk %s", self.b2bua.transport, self.b2bua.trunk)

    async def stop(self) -> None:
        await self.b2bua.stop()
        pending = list(self._chains.values())
        if pending:
            await asyncio.wait(pending, timeout=5)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.store.db.postgres:
            return await run_in_threadpool(fn, *args)
        return fn(*args)  # SQLite reads are local and sub-millisecond

    # -- routing --------------------------------------------------------------------

    async def route(self, inbound: InboundCall) -> Decision:
        virtual = normalize_lenient(inbound.to_user or "")
        caller = normalize_lenient(inbound.from_user or "")
        try:
            decision = await self._run(self.log.route, virtual, caller)
        except Exception:
            log.exception("routing failed for a call to %s", virtual)
            return Reject(500, "Server Internal Error")
        if decision.kind == "reject":
            return Reject(decision.status, decision.reason)
        if decision.kind != "bridge":
            # PIN entry, the unknown-caller prompt and the number's own application need
            # the media path; until it is in place such calls are refused cleanly.
            log.info("call to %s needs %s (media), refused", virtual, decision.kind)
            return Reject(403 if decision.kind != "application" else 480, "Forbidden")
        assert decision.session_id is not None and decision.caller_role is not None
        params = decision.params
        ref = CallRef(
            decision.session_id,
            decision.session_uuid or "",
            decision.account_id or 0,
            decision.virtual_number or virtual,
        )
        context = CallContext(
            ref,
            roles={"a": decision.caller_role, "b": other(decision.caller_role)},
            numbers={"a": (caller, virtual), "b": (virtual, decision.target or "")},
            params=params,
        )
        return Bridge(
            number=decision.target,
            caller_id=decision.virtual_number or virtual,
            ring_timeout=params.get("ring_timeout"),
            call_time_limit=params.get("call_time_limit"),
            context=context,
        )

    async def initiate_session_call(self, session_uuid: str) -> None:
        """``initiate_call_to_first_party``: call the first party, then the second."""
        row = await self._run(self.log.session_for_call, session_uuid)
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

        self.b2bua.originate(leg(row.first_party), leg(row.second_party), context)

    # -- observer: leg events to records, in order per call ----------------------------

    def _submit(self, call: Call, fn: Callable[..., Any], *args: Any, last: bool = False) -> None:
        """Run ``fn`` after every earlier step of this call (a coroutine function on the
        loop, anything else on a worker thread)."""
        previous = self._chains.get(call.id)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            try:
                if inspect.iscoroutinefunction(fn):
                    await fn(*args)
                else:
                    await run_in_threadpool(fn, *args)
            except Exception:
                log.exception("writing call records failed (%s)", getattr(fn, "__name__", fn))
            finally:
                if last and self._chains.get(call.id) is task:
                    del self._chains[call.id]

        task = asyncio.get_running_loop().create_task(run())
        self._chains[call.id] = task

    @staticmethod
    def _ctx(call: Call) -> CallContext | None:
        return call.context if isinstance(call.context, CallContext) else None

    def on_leg_initiated(self, call: Call, leg: Leg, at: datetime) -> None:
        ctx = self._ctx(call)
        if ctx is None:
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

    def on_leg_ringing(self, call: Call, leg: Leg, at: datetime) -> None:
        ctx = self._ctx(call)
        if ctx is None or leg.direction != "outbound":
            return
        frm, to = ctx.numbers[leg.side]
        self._submit(call, self.log.leg_ringing, ctx.ref, leg.id, frm, to, at)

    def on_leg_answered(self, call: Call, leg: Leg, at: datetime) -> None:
        ctx = self._ctx(call)
        if ctx is None:
            return
        frm, to = ctx.numbers[leg.side]
        self._submit(call, self.log.leg_answered, ctx.ref, leg.id, leg.direction, frm, to, at)
        a, b = call.a, call.b
        if a is not None and b is not None and a.is_up and b.is_up:
            self._both_answered(call, ctx, at)

    # -- media ----------------------------------------------------------------------

    def _rewrite_sdp(self, leg: Leg, sd: SessionDescription) -> None:
        """The B2BUA's hook: every SDP on its way to a leg goes through the call's relay."""
        ctx = self._ctx(leg.call)
        if ctx is None or ctx.no_media or self.ports is None:
            return
        if ctx.media is None:
            if leg.call.ended:
                return
            try:
                ctx.media = CallMedia(
                    self.ports, inactivity_timeout=self.settings.media_inactivity_timeout
                )
            except (NoPortsAvailable, OSError) as e:
                log.warning("no media relay for call %s (%s): media flows directly", leg.call.id, e)
                ctx.no_media = True
                return
        ctx.media.rewrite(leg.side, sd)

    def _both_answered(self, call: Call, ctx: CallContext, at: datetime) -> None:
        media = ctx.media
        if media is None or media.relay.closed:
            return
        media.relay.bridge()
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
        await run_in_threadpool(
            self.recordings.recording_finished,
            ctx.ref,
            rec,
            a_id,
            at,
            duration=result.duration if result else 0.0,
            size=result.size if result else 0,
            failed=result is None,
        )

    def _finished(self, call: Call, leg: Leg, at: datetime) -> None:
        ctx = self._ctx(call)
        if ctx is None:
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
        ctx = self._ctx(call)
        if ctx is None:
            return
        if ctx.media is not None:
            ctx.media.close()  # every port released now; a recording stays in memory
            if ctx.recording is not None:
                self._submit(call, self._finish_recording, call, ctx)
        both = all(leg.answered_at is not None for leg in (call.a, call.b) if leg is not None)
        both = both and call.a is not None and call.b is not None

        def write() -> None:
            if ctx.ref.interaction_id is not None:
                self.log.call_ended(ctx.ref, at, both_answered=both)

        self._submit(call, write, last=True)
