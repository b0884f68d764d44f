"""Retention: pruning finished events and old call records by age, in small batches.

Without it the outbox (every event ever sent, with its attempt log) and the call records
(sessions that ended long ago, their calls, interactions and bindings) grow without bound,
and with them every index the hot paths walk. The sweeper (``api/app.py``) calls
:meth:`RetentionRepo.prune` once per pass; docs/operations.md#retention says what is kept.

Two independent ages (``0``: keep forever):

* **events** — an outbox row that is finished (``delivered``, ``failed``, ``skipped``) is
  deleted, with its ``delivery_attempts``, once its last attempt was due more than
  ``event_days`` ago. ``next_attempt_at`` is that time: the moment an event was written,
  moved on by each retry (and by ``events retry``), so a row's age is measured from its
  last activity and the existing ``ix_outbox_due`` (status, next_attempt_at) serves the
  range. ``pending`` and ``delivering`` rows are never touched.
* **call records** — a session that is ``expired``, has no call up, ended more than
  ``call_days`` ago (and had no call since), holds no binding still blocking a party, no
  open event, and no recording the customer has not deleted, is deleted with its calls,
  interactions, dead bindings, finished events and deleted recordings' rows.
  ``ix_sessions_due`` (status, expiry_time) serves the range: an expired session's
  ``expiry_time`` is when it ended.

Every batch is one short write transaction: at most ``batch`` rows of the driving table.
On PostgreSQL each takes ``pg_try_advisory_xact_lock`` first, so two nodes sharing the
database never prune at once (the second skips its turn instead of waiting), and the
candidate rows are locked ``FOR UPDATE`` so a concurrent ``events retry`` either sees the
row gone or makes it pending before it is chosen (then it is not). Deletes name rows by
id alone, never with a status condition beside the ids, which SQLite (no statistics)
would serve from the status index by walking every row of that status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, exists, or_, select

from .base import Database
from .models import (
    bindings,
    calls,
    delivery_attempts,
    interactions,
    outbox,
    recordings,
    sessions,
)

FINISHED = ("delivered", "failed", "skipped")  # outbox statuses that never change again
OPEN = ("pending", "delivering")
# Keys of the advisory locks (any 64-bit number no other lock of the store uses: the
# store's other locks are crc32 values of names, under 2**32, and 724001 for migrations).
# The prune locks' names; the key is the name hashed with the schema, so nodes sharing a
# schema take turns while databases of other schemas on the same server (another
# deployment, or the test suite's parallel workers) never hold each other back.
EVENTS_LOCK = "vts-retention-events"
CALLS_LOCK = "vts-retention-calls"
LOCK_KEY_SQL = "hashtextextended(current_schema() || ':' || %s, 0)"


@dataclass(frozen=True)
class RetentionPolicy:
    """How long finished things are kept, in days (0: forever), and the batch size."""

    event_days: float = 30.0
    call_days: float = 90.0
    batch: int = 1000

    @property
    def enabled(self) -> bool:
        return self.event_days > 0 or self.call_days > 0


@dataclass(frozen=True)
class Pruned:
    """What one pass deleted (driving rows: events and sessions)."""

    events: int = 0
    sessions: int = 0
    more: bool = False  # a batch was full: there may be more to prune right away


class RetentionRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _try_lock(self, conn: Connection, key: str) -> bool:
        """PostgreSQL: whether this transaction got the prune lock (held to its end).
        SQLite: always (BEGIN IMMEDIATE already admits one writer)."""
        if not self.db.postgres:
            return True
        query = f"SELECT pg_try_advisory_xact_lock({LOCK_KEY_SQL})"
        return bool(conn.exec_driver_sql(query, (key,)).scalar())

    def prune_events(self, days: float, batch: int) -> int:
        """Delete up to ``batch`` finished events older than ``days`` (and their attempt
        log); returns how many events were deleted. ``days`` 0 deletes nothing."""
        if days <= 0 or batch <= 0:
            return 0
        with self.db.write() as conn:
            if not self._try_lock(conn, EVENTS_LOCK):
                return 0
            cutoff = self.db.clock.now() - timedelta(days=days)
            ids: list[int] = []
            # One range per status, each on ix_outbox_due in order and stopping at the
            # limit, so a batch costs the same with a thousand or ten million rows kept.
            for status in FINISHED:
                if len(ids) >= batch:
                    break
                query = (
                    select(outbox.c.id)
                    .where(outbox.c.status == status, outbox.c.next_attempt_at < cutoff)
                    .order_by(outbox.c.next_attempt_at)
                    .limit(batch - len(ids))
                )
                if self.db.postgres:
                    query = query.with_for_update(skip_locked=True)
                ids += conn.execute(query).scalars()
            if not ids:
                return 0
            conn.execute(delete(delivery_attempts).where(delivery_attempts.c.event_id.in_(ids)))
            # By id alone: the rows are ours (locked above on PostgreSQL; SQLite has one
            # writer). With "AND status IN (...)" SQLite, which has no statistics, chose
            # ix_outbox_due for the status and walked every delivered row: 1.3 s a batch
            # among 10 million (bench/flat/run.py).
            return int(conn.execute(delete(outbox).where(outbox.c.id.in_(ids))).rowcount)

    def _prunable_sessions(self, now: datetime, cutoff: datetime, batch: int) -> Any:
        blocking_binding = exists().where(
            bindings.c.session_id == sessions.c.id, bindings.c.blocked_until > now
        )
        open_event = exists().where(
            outbox.c.session_id == sessions.c.id, outbox.c.status.in_(OPEN)
        )
        kept_recording = exists().where(
            recordings.c.session_id == sessions.c.id, recordings.c.deleted.is_(False)
        )
        call_up = exists().where(calls.c.session_id == sessions.c.id, calls.c.end_time.is_(None))
        query = (
            select(sessions.c.id)
            .where(
                sessions.c.status == "expired",
                sessions.c.expiry_time < cutoff,
                sessions.c.active_calls == 0,
                or_(
                    sessions.c.last_interaction_time.is_(None),
                    sessions.c.last_interaction_time < cutoff,
                ),
                ~blocking_binding,
                ~open_event,
                ~kept_recording,
                ~call_up,
            )
            .order_by(sessions.c.expiry_time)
            .limit(batch)
        )
        if self.db.postgres:
            query = query.with_for_update(skip_locked=True, of=sessions)
        return query

    def prune_call_records(self, days: float, batch: int) -> int:
        """Delete up to ``batch`` sessions that ended more than ``days`` ago, with
        everything recorded of them; returns how many sessions. ``days`` 0: none."""
        if days <= 0 or batch <= 0:
            return 0
        with self.db.write() as conn:
            if not self._try_lock(conn, CALLS_LOCK):
                return 0
            now = self.db.clock.now()
            cutoff = now - timedelta(days=days)
            ids = list(conn.execute(self._prunable_sessions(now, cutoff, batch)).scalars())
            if not ids:
                return 0
            events = select(outbox.c.id).where(outbox.c.session_id.in_(ids))
            # Children first: every one of them refers to the session (or to a call).
            conn.execute(delete(delivery_attempts).where(delivery_attempts.c.event_id.in_(events)))
            conn.execute(delete(outbox).where(outbox.c.session_id.in_(ids)))
            conn.execute(delete(recordings).where(recordings.c.session_id.in_(ids)))
            conn.execute(delete(calls).where(calls.c.session_id.in_(ids)))
            conn.execute(delete(interactions).where(interactions.c.session_id.in_(ids)))
            conn.execute(delete(bindings).where(bindings.c.session_id.in_(ids)))
            # By id alone, as above (a status condition would walk ix_sessions_due).
            return int(conn.execute(delete(sessions).where(sessions.c.id.in_(ids))).rowcount)

    def prune(self, policy: RetentionPolicy) -> Pruned:
        """One batch of each kind (each in its own transaction)."""
        events = self.prune_events(policy.event_days, policy.batch)
        records = self.prune_call_records(policy.call_days, policy.batch)
        more = events >= policy.batch or records >= policy.batch
        return Pruned(events=events, sessions=records, more=more)
