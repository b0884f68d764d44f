"""Named store operations on the outbox for the delivery worker and the operator.

``claim`` hands a batch of due events to one worker under a lease; ``record`` writes what
happened to them. Both are single short transactions, so any number of worker processes
can share one database:

* PostgreSQL: candidates are locked with ``FOR UPDATE SKIP LOCKED`` and marked
  ``delivering`` with ``lease_until = now + lease`` in one statement, so two workers never
  claim the same row; a row whose lease has passed (its worker died) is due again.
* SQLite: ``BEGIN IMMEDIATE`` admits one writer at a time, which gives the same guarantee.

The lease value doubles as a fencing token: ``record`` only touches a row that is still
``delivering`` under the lease this worker was given, so a worker that lost its lease
(paused for longer than the lease, say) cannot overwrite the outcome of the worker that
took the row over.

Per-session order: an event is never claimed while an earlier event (lower ``seq``) of
the same session is still pending or being delivered. Because an event is only marked
delivered or failed after its attempt is over, a later event is never in flight while an
earlier one is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, select, update

from ..domain.delivery import DELIVERED, FAILED, RETRY, Decision
from .base import Database
from .models import accounts, delivery_attempts, outbox, sessions

log = logging.getLogger("vts_masking.events")

OPEN = ("pending", "delivering")  # statuses that still hold back later events
STATUSES = ("pending", "delivering", "delivered", "failed", "skipped")
INSERT_ATTEMPT = delivery_attempts.insert()


@dataclass(frozen=True)
class Claimed:
    """One event a worker holds under a lease, with what it needs to send and sign it."""

    id: int
    account_id: int
    session_id: int | None
    seq: int
    event_name: str
    url: str
    method: str
    params: dict[str, str]
    attempts: int  # including the attempt this claim is for
    created_time: datetime
    lease_until: datetime
    auth_token: str


@dataclass(frozen=True)
class AttemptLog:
    """One attempt as ``delivery_attempts`` keeps it (the console shows each)."""

    account_id: int
    attempt: int
    at: datetime
    latency_ms: int
    answer: str | None


@dataclass(frozen=True)
class Outcome:
    """What to write back for one claimed event."""

    id: int
    lease_until: datetime  # the fencing token from the claim
    decision: Decision
    status_code: int | None
    error: str | None
    log: AttemptLog | None = None  # None: nothing to add to the attempt log


def _params(row: Any) -> dict[str, str] | None:
    """An event's parameters, or ``None`` when the stored text is not a JSON object."""
    try:
        value = json.loads(row.params)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class OutboxRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the worker's two operations ----------------------------------------------------

    _cand = outbox.alias("cand")
    _earlier = outbox.alias("earlier")

    def _claim_stmt(self, due: Any, order: Any, limit: int, lease_until: datetime) -> Any:
        cand, earlier = self._cand, self._earlier
        # "An earlier event of this session is still open": a scalar subquery, which
        # PostgreSQL runs as one probe per candidate (an EXISTS it turns into an anti
        # join, and with a stale estimate of the open rows it walked all of them for
        # every candidate), on the partial index of open events (its condition written
        # with the same literal values, or it is not usable).
        held_back = (
            select(earlier.c.id)
            .where(
                earlier.c.session_id == cand.c.session_id,
                earlier.c.seq < cand.c.seq,
                earlier.c.status.in_([literal_column(f"'{s}'") for s in OPEN]),
            )
            .limit(1)
            .scalar_subquery()
        )
        ids = select(cand.c.id).where(due, held_back.is_(None)).order_by(order).limit(limit)
        if self.db.postgres:
            ids = ids.with_for_update(skip_locked=True, of=cand)
        return (
            update(outbox)
            .where(outbox.c.id.in_(ids.scalar_subquery()))
            .values(status="delivering", lease_until=lease_until, attempts=outbox.c.attempts + 1)
            .returning(
                outbox.c.id,
                outbox.c.account_id,
                outbox.c.session_id,
                outbox.c.seq,
                outbox.c.event_name,
                outbox.c.url,
                outbox.c.method,
                outbox.c.params,
                outbox.c.attempts,
                outbox.c.created_time,
            )
        )

    def claim(self, limit: int, lease: float) -> list[Claimed]:
        """Take up to ``limit`` due events for ``lease`` seconds (oldest due first)."""
        now = self.db.clock.now()
        lease_until = now + timedelta(seconds=lease)
        # Two statements, not one with an OR: each walks an index in order and stops at
        # ``limit``, so a claim costs the same with ten or a million events waiting.
        expired = self._claim_stmt(
            and_(self._cand.c.status == "delivering", self._cand.c.lease_until < now),
            self._cand.c.lease_until,
            limit,
            lease_until,
        )
        with self.db.write() as conn:
            rows = conn.execute(expired).all()
            if len(rows) < limit:
                due = self._claim_stmt(
                    and_(self._cand.c.status == "pending", self._cand.c.next_attempt_at <= now),
                    self._cand.c.next_attempt_at,
                    limit - len(rows),
                    lease_until,
                )
                rows += conn.execute(due).all()
            if not rows:
                return []
            decoded = {r.id: _params(r) for r in rows}
            unreadable = [r for r in rows if decoded[r.id] is None]
            if unreadable:
                # One damaged row must not fail the claim (and so every tenant's events
                # claimed with it, again after each lease): it is failed on its own,
                # and that is logged once — a failed row is never claimed again.
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in unreadable]))
                    .values(
                        status="failed",
                        lease_until=None,
                        last_error="refused: the stored event parameters cannot be read",
                    )
                )
                for r in unreadable:
                    log.error("event %s has unreadable parameters; marked failed", r.id)
                rows = [r for r in rows if decoded[r.id] is not None]
            account_ids = {r.account_id for r in rows}
            tokens = dict(
                conn.execute(
                    select(accounts.c.id, accounts.c.auth_token).where(
                        accounts.c.id.in_(account_ids)
                    )
                ).all()
            )
        claimed = [
            Claimed(
                id=r.id,
                account_id=r.account_id,
                session_id=r.session_id,
                seq=r.seq,
                event_name=r.event_name,
                url=r.url or "",
                method=(r.method or "POST").upper(),
                params=decoded[r.id] or {},
                attempts=r.attempts,
                created_time=r.created_time,
                lease_until=lease_until,
                auth_token=tokens.get(r.account_id, ""),
            )
            for r in rows
        ]
        claimed.sort(key=lambda c: c.id)
        return claimed

    def record(self, outcomes: Iterable[Outcome]) -> int:
        """Write outcomes in one transaction; returns how many rows were still ours."""
        outcomes = list(outcomes)
        now = self.db.clock.now()
        delivered: list[dict[str, Any]] = []
        retry: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for o in outcomes:
            row = {
                "b_id": o.id,
                "b_lease": o.lease_until,
                "b_status": o.status_code,
                "b_error": o.error[:500] if o.error else None,
                "b_next": o.decision.next_attempt_at or now,
            }
            {DELIVERED: delivered, RETRY: retry, FAILED: failed}[o.decision.kind].append(row)
        fence = and_(
            outbox.c.id == bindparam("b_id"),
            outbox.c.status == "delivering",
            outbox.c.lease_until == bindparam("b_lease"),
        )
        # Deliveries claimed together share one lease value and nearly always one status
        # code: one UPDATE per (lease, code) instead of one per row.
        groups: dict[tuple[datetime, int | None], list[int]] = {}
        for row in delivered:
            groups.setdefault((row["b_lease"], row["b_status"]), []).append(row["b_id"])
        # Every attempt made is logged, a late one (its lease lost) included: it did
        # reach the receiver.
        attempts = [
            {
                "event_id": o.id,
                "account_id": o.log.account_id,
                "attempt": o.log.attempt,
                "attempted_time": o.log.at,
                "latency_ms": o.log.latency_ms,
                "status_code": o.status_code,
                "error": o.error[:500] if o.error else None,
                "answer": o.log.answer[:500] if o.log.answer else None,
                "outcome": o.decision.kind,
            }
            for o in outcomes
            if o.log is not None
        ]
        kept = 0
        with self.db.write() as conn:
            if attempts:
                conn.execute(INSERT_ATTEMPT, attempts)
            for (lease_until, code), ids in groups.items():
                kept += conn.execute(
                    update(outbox)
                    .where(
                        outbox.c.id.in_(ids),
                        outbox.c.status == "delivering",
                        outbox.c.lease_until == lease_until,
                    )
                    .values(
                        status="delivered",
                        delivered_time=now,
                        lease_until=None,
                        last_status=code,
                        last_error=None,
                    )
                ).rowcount
            if retry:
                kept += conn.execute(
                    update(outbox)
                    .where(fence)
                    .values(
                        status="pending",
                        next_attempt_at=bindparam("b_next"),
                        lease_until=None,
                        last_status=bindparam("b_status"),
                        last_error=bindparam("b_error"),
                    ),
                    retry,
                ).rowcount
            if failed:
                kept += conn.execute(
                    update(outbox)
                    .where(fence)
                    .values(
                        status="failed",
                        lease_until=None,
                        last_status=bindparam("b_status"),
                        last_error=bindparam("b_error"),
                    ),
                    failed,
                ).rowcount
        total = len(delivered) + len(retry) + len(failed)
        if kept < total:
            log.warning("%d of %d event outcomes lost their lease", total - kept, total)
        return kept

    # -- the operator's view ------------------------------------------------------------

    def list(
        self,
        *,
        session_uuid: str | None = None,
        failed: bool = False,
        limit: int = 100,
    ) -> list[Any]:
        """Newest first; each row has the outbox columns and ``session_uuid``."""
        query = select(outbox, sessions.c.uuid.label("session_uuid")).outerjoin(
            sessions, sessions.c.id == outbox.c.session_id
        )
        if session_uuid:
            query = query.where(sessions.c.uuid == session_uuid)
        if failed:
            query = query.where(outbox.c.status == "failed")
        query = query.order_by(outbox.c.id.desc()).limit(limit)
        with self.db.read() as conn:
            return list(conn.execute(query).all())

    def get(self, event_id: int) -> Any | None:
        """One event with the outbox columns and ``session_uuid``, or ``None``."""
        query = (
            select(outbox, sessions.c.uuid.label("session_uuid"))
            .outerjoin(sessions, sessions.c.id == outbox.c.session_id)
            .where(outbox.c.id == event_id)
        )
        with self.db.read() as conn:
            return conn.execute(query).one_or_none()

    def retry(self, event_id: int) -> bool:
        """Make a failed (or waiting) event due now; False when it is not retryable.

        The attempt count is kept, so an event older than the give-up age gets exactly
        one more attempt before it is failed again.
        """
        now = self.db.clock.now()
        with self.db.write() as conn:
            done = conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id, outbox.c.status.in_(("failed", "pending")))
                .values(status="pending", next_attempt_at=now, lease_until=None)
            ).rowcount
        return bool(done)

    def counts(self, statuses: tuple[str, ...] = STATUSES) -> dict[str, int]:
        """Events by status (each asked-for status present, zero where none).

        ``/metrics`` asks only for the statuses that stay small (pending, delivering,
        failed): counting every delivered event on each scrape would grow without bound.
        """
        with self.db.read() as conn:
            rows = conn.execute(
                select(outbox.c.status, func.count())
                .where(outbox.c.status.in_(statuses))
                .group_by(outbox.c.status)
            ).all()
        counts = dict.fromkeys(statuses, 0)
        counts.update({status: int(n) for status, n in rows})
        return counts
