"""The delivery worker: claims due outbox rows, sends them signed, records what happened.

One asyncio task runs three things at once:

* a **claimer** that takes due events from the store under a lease whenever there is room
  for more requests in flight (up to ``concurrency``), or sleeps ``poll_interval`` when
  nothing is due;
* one **sender** task per event: builds the request (POST form body or GET query string,
  docs/calls.md#events), signs it with :mod:`vts.signature` (the very function the SDK's verifier
  uses), sends it through the guarded client of :mod:`vts_masking.guarded_http`, reads at most
  ``max_body`` bytes of the answer and turns it into an :class:`~.delivery.Attempt`;
* a **recorder** that writes finished outcomes back in small batches, one transaction
  each, after :func:`~.delivery.decide` has chosen delivered / retry-at / failed.

Because claiming and recording are decoupled, one slow customer only holds the slots its
own requests occupy; it never stalls a whole batch. Every attempt is cut off at
``deadline`` seconds, which is kept well under the lease, so a row is never in flight from
two workers at once unless a worker stalls for longer than the lease (then the fencing in
``record`` keeps the late outcome from overwriting the new owner's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import httpx

from vts.signature import NONCE_HEADER, SIGNATURE_HEADER, compute_v3_signature, generate_nonce

from .. import badinput
from ..domain.delivery import (
    DELIVERED,
    FAILED,
    RETRY,
    Attempt,
    Decision,
    Random,
    RetryPolicy,
    decide,
    default_rng,
)
from ..guarded_http import ClientPool, UnsafeTarget, check_url
from ..logs import fields
from ..store.base import Database
from ..store.deliveries import AttemptLog, Claimed, OutboxRepo, Outcome
from .metrics import COUNTERS, Counters

log = logging.getLogger("vts_masking.events")

FORM = "application/x-www-form-urlencoded"
ANSWER_BYTES = 500  # of each receiver's body kept with the attempt (delivery_attempts)


def answer_text(body: bytes) -> str | None:
    """The kept start of a receiver's answer, as text a database takes (no NUL)."""
    if not body:
        return None
    return body.decode("utf-8", errors="replace").replace("\x00", "")[:ANSWER_BYTES]


@dataclass(frozen=True)
class WorkerConfig:
    """Tuning of one worker (defaults suit production; tests shorten the waits)."""

    concurrency: int = 64  # requests in flight at once
    batch_size: int = 200  # most events taken by one claim
    lease: float = 60.0  # seconds a claim is exclusive
    deadline: float = 20.0  # seconds one attempt may take in all (< lease)
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    poll_interval: float = 0.25  # seconds between claims while nothing is due
    max_body: int = 16 * 1024  # bytes of a response read before the rest is dropped
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.deadline >= self.lease:
            # The lease is what keeps a second worker off an event in flight.
            raise ValueError("an attempt's deadline must be shorter than the lease")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        """Read ``VTS_EVENTS_*`` overrides (documented in docs/events.md)."""
        env = os.environ if env is None else env

        def num(name: str, default: float) -> float:
            raw = env.get(f"VTS_EVENTS_{name}")
            return float(raw) if raw not in (None, "") else default

        base = cls()
        lease = num("LEASE", base.lease)
        policy = RetryPolicy(
            base=num("BACKOFF_BASE", base.policy.base),
            cap=num("BACKOFF_CAP", base.policy.cap),
            min_delay=num("BACKOFF_MIN", base.policy.min_delay),
            give_up_after=num("GIVE_UP_AFTER", base.policy.give_up_after),
        )
        return replace(
            base,
            concurrency=int(num("CONCURRENCY", base.concurrency)),
            batch_size=int(num("BATCH", base.batch_size)),
            lease=lease,
            deadline=num("DEADLINE", min(base.deadline, lease / 3)),
            poll_interval=num("POLL", base.poll_interval),
            policy=policy,
        )


def build_request(client: httpx.AsyncClient, event: Claimed) -> httpx.Request:
    """The signed request for ``event`` (the URL signed is exactly the URL sent)."""
    nonce = generate_nonce()
    if event.method == "GET":
        query = urlencode(event.params)
        url = event.url + (("&" if "?" in event.url else "?") + query if query else "")
        request = client.build_request("GET", url)
        params: Any = None
    else:
        request = client.build_request(
            event.method,
            event.url,
            content=urlencode(event.params).encode(),
            headers={"Content-Type": FORM},
        )
        params = event.params
    # The URL as it goes on the wire is what the receiver rebuilds and must be what we
    # sign (httpx normalises it: percent-encoding, default ports).
    request.headers[NONCE_HEADER] = nonce
    request.headers[SIGNATURE_HEADER] = compute_v3_signature(
        event.method, signed_url(request.url), params, nonce, event.auth_token
    )
    return request


def signed_url(url: httpx.URL) -> str:
    """``url`` as a receiver rebuilds it from the request: an empty path is sent as
    ``/`` (``POST / HTTP/1.1``), though ``str(url)`` keeps it empty since httpx 0.28, so
    a callback_url without a path (``http://host:port``) is signed with the slash."""
    text = str(url)
    head, sep, query = text.partition("?")
    if "/" not in head.partition("://")[2]:
        text = head + "/" + sep + query
    return text


class DeliveryWorker:
    """Delivers the outbox of one database; see the module docstring."""

    def __init__(
        self,
        db: Database,
        *,
        allow_private: bool,
        config: WorkerConfig | None = None,
        rng: Random | None = None,
        clients: ClientPool | None = None,
        counters: Counters = COUNTERS,
    ) -> None:
        self.db = db
        self.repo = OutboxRepo(db)
        self.config = config or WorkerConfig()
        self.rng = rng or default_rng()
        self.counters = counters
        self.clients = clients or ClientPool(
            allow_private=allow_private,
            concurrency=self.config.concurrency,
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
        )

    async def aclose(self) -> None:
        await self.clients.aclose()

    # -- one attempt ------------------------------------------------------------------

    async def attempt(self, event: Claimed) -> Attempt:
        """Send ``event`` once; never raises (every failure is an :class:`Attempt`).

        The deadline runs from the call, waiting for a free client slot included, so an
        event is never in flight longer than ``deadline`` after it was claimed.
        """
        try:
            async with asyncio.timeout(self.config.deadline), self.clients.slot() as client:
                return await self._send(client, event)
        except UnsafeTarget as exc:
            badinput.note("unsafe_url", f"event {event.id} to {event.url!r}: {exc}")
            return Attempt(error=str(exc), refused=True)
        except (httpx.TimeoutException, TimeoutError):
            return Attempt(error="timeout")
        except httpx.HTTPError as exc:
            return Attempt(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        except Exception as exc:  # a bug or an odd URL must not kill the worker
            log.exception("delivering event %s failed unexpectedly", event.id)
            return Attempt(error=f"{type(exc).__name__}: {exc}")

    async def _send(self, client: httpx.AsyncClient, event: Claimed) -> Attempt:
        check_url(event.url)
        try:
            request = build_request(client, event)
        except (ValueError, TypeError, UnicodeError, httpx.InvalidURL) as exc:
            # Nothing about this event will change: refuse it once (failed, no retries,
            # no traceback per attempt) instead of retrying it for a day.
            raise UnsafeTarget(
                f"refused: the request cannot be built ({type(exc).__name__}: {exc})"
            ) from None
        started = self.db.clock.monotonic()
        response = await client.send(request, stream=True)
        head = bytearray()
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if len(head) < ANSWER_BYTES:
                    head += chunk[: ANSWER_BYTES - len(head)]
                if read >= self.config.max_body:
                    break  # closing drops the connection rather than read more
        finally:
            await response.aclose()
        latency = round((self.db.clock.monotonic() - started) * 1000)
        return Attempt(
            status_code=response.status_code, answer=answer_text(head), latency_ms=latency
        )

    def outcome(self, event: Claimed, attempt: Attempt) -> Outcome:
        decision = decide(
            attempt,
            attempts=event.attempts,
            created=event.created_time,
            now=self.db.clock.now(),
            policy=self.config.policy,
            rng=self.rng,
        )
        if decision.kind != DELIVERED:
            log_failed_attempt(event, attempt, decision)
        return Outcome(
            event.id,
            event.lease_until,
            decision,
            attempt.status_code,
            attempt.describe(),
            AttemptLog(
                event.account_id,
                event.attempts,
                self.db.clock.now(),
                attempt.latency_ms,
                attempt.answer,
            ),
        )

    async def record(self, outcomes: list[Outcome]) -> None:
        await asyncio.to_thread(self.repo.record, outcomes)
        for kind, name in ((DELIVERED, "delivered"), (RETRY, "retried"), (FAILED, "failed")):
            self.counters.add(name, sum(1 for o in outcomes if o.decision.kind == kind))

    # -- a single pass, for tests and tools ----------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch, attempt every event, record the outcomes; returns the count."""
        claimed = await asyncio.to_thread(
            self.repo.claim, self.config.batch_size, self.config.lease
        )
        if not claimed:
            return 0
        attempts = await asyncio.gather(*(self.attempt(e) for e in claimed))
        await self.record([self.outcome(e, a) for e, a in zip(claimed, attempts, strict=True)])
        return len(claimed)

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then finish what is in flight and return."""
        done: asyncio.Queue[Outcome] = asyncio.Queue()
        in_flight: set[asyncio.Task[None]] = set()
        room = asyncio.Event()  # set when an attempt finishes and there is room to claim
        # Claimed events may queue for a send slot (up to twice the concurrency), so a
        # claim is a real batch and not one row per finished request.
        cap = 2 * self.config.concurrency
        recorded = asyncio.Event()  # set after outcomes are written
        recorder = asyncio.create_task(self._recorder(done, recorded))

        async def send(event: Claimed) -> None:
            try:
                done.put_nowait(self.outcome(event, await self.attempt(event)))
            finally:
                # Wake the claimer only when it would claim (this task is still counted
                # in in_flight here), not on every finished request of a full worker.
                if len(in_flight) - 1 <= cap // 2:
                    room.set()

        try:
            while not stop.is_set():
                free = cap - len(in_flight)
                if in_flight and free < cap // 2:
                    room.clear()
                    await _first(room.wait(), stop.wait())
                    continue
                want = min(free, self.config.batch_size)
                try:
                    claimed = await asyncio.to_thread(self.repo.claim, want, self.config.lease)
                except Exception:
                    log.exception("claiming events failed; retrying")
                    claimed = []
                for event in claimed:
                    task = asyncio.create_task(send(event))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if len(claimed) < want:
                    # Nothing more is due now. A recorded outcome may free the next
                    # event of its session, so wake on that as well as on the timer.
                    recorded.clear()
                    await _first(
                        stop.wait(), recorded.wait(), asyncio.sleep(self.config.poll_interval)
                    )
        finally:
            if in_flight:
                await asyncio.wait(in_flight)
            done.put_nowait(_STOP)
            await recorder

    async def _recorder(self, done: asyncio.Queue[Outcome], recorded: asyncio.Event) -> None:
        while True:
            first = await done.get()
            batch = [first]
            while not done.empty() and len(batch) < 500:
                batch.append(done.get_nowait())
            stopping = any(o is _STOP for o in batch)
            batch = [o for o in batch if o is not _STOP]
            if batch:
                try:
                    await self.record(batch)
                except Exception:
                    # The rows stay "delivering" and come back when their lease ends:
                    # at-least-once holds, at the price of a duplicate.
                    log.exception("recording %d event outcomes failed", len(batch))
                recorded.set()
            if stopping:
                return


_STOP: Any = object()


def log_failed_attempt(event: Claimed, attempt: Attempt, decision: Decision) -> None:
    """One line per failed attempt: which event, where, why, and what happens next
    (a later event of the same session waits for this one: callbacks stay in order)."""
    reason = attempt.describe() or "failed"
    if decision.kind == RETRY and decision.next_attempt_at is not None:
        then = decision.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S")
        message = "callback failed (%s); next attempt at %s UTC"
        args: tuple[Any, ...] = (reason, then)
    else:
        then = None
        hint = (
            " (serve --allow-private-callbacks lets callbacks reach private addresses;"
            " then `vts-masking events retry ID`)"
            if attempt.refused
            else ""
        )
        message = "callback failed (%s); given up" + hint
        args = (reason,)
    log.log(
        logging.INFO if decision.kind == RETRY else logging.WARNING,
        message,
        *args,
        extra=fields(
            event_id=event.id,
            event=event.event_name,
            session_uuid=event.params.get("SessionUUID"),
            url=event.url,
            attempt=event.attempts,
            next_attempt=then,
        ),
    )


async def _first(*aws: Any) -> None:
    """Wait until the first of ``aws`` finishes; cancel the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_worker(
    store: Any,
    *,
    allow_private: bool,
    stop: asyncio.Event,
    config: WorkerConfig | None = None,
    rng: Random | None = None,
) -> None:
    """Deliver ``store``'s outbox until ``stop`` is set (the entry point of every runner)."""
    worker = DeliveryWorker(
        store.db, allow_private=allow_private, config=config or WorkerConfig.from_env(), rng=rng
    )
    try:
        await worker.run(stop)
    finally:
        await worker.aclose()


# -- hooks for the FastAPI app (app.state.startup_hooks / shutdown_hooks) ------------------


async def start_worker(app: Any) -> None:
    """Start delivering in the app's event loop, unless ``settings.worker_enabled`` is off."""
    settings = app.state.settings
    if not getattr(settings, "worker_enabled", True):
        return
    stop = asyncio.Event()
    config = WorkerConfig.from_env()
    task = asyncio.create_task(
        run_worker(
            app.state.store,
            allow_private=bool(settings.allow_private_callbacks),
            stop=stop,
            config=config,
        ),
        name="vts-events-worker",
    )
    app.state.events_worker = (task, stop, config)


async def stop_worker(app: Any) -> None:
    """Stop claiming, let attempts in flight finish (bounded by their deadline), return."""
    running = getattr(app.state, "events_worker", None)
    if running is None:
        return
    task, stop, config = running
    app.state.events_worker = None
    stop.set()
    try:
        await asyncio.wait_for(task, timeout=config.deadline + 5.0)
    except TimeoutError:
        # Rows still in flight stay leased and are delivered again after the lease.
        log.warning("event worker did not stop in time; cancelled")
    except Exception:
        log.exception("event worker ended with an error")
