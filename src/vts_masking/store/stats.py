"""Read operations the web console needs beyond the API's: dashboard counts, deliveries
across sessions with their attempts, a session's call legs, a number's live sessions.

Every operation takes the tenant as a :class:`~.accounts.Principal` (what the API's
auth makes of a caller: a main account sees its subaccounts' rows too, a subaccount only
its own) or ``None`` for the console's operator, who sees every account. The scoping
rules are the ones ``sessions``, ``numbers`` and ``calls`` apply to the API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, true

from ..domain.views import session_view
from .accounts import Principal
from .base import Database
from .models import accounts, calls, delivery_attempts, numbers, outbox, recordings, sessions

DAY = timedelta(hours=24)
# No call lasts longer than the largest call_time_limit (4 h) plus its ring time: a leg
# still without an end after that is a leftover of a crash, not a call in progress.
LONGEST_CALL = timedelta(hours=4, minutes=10)
LATENCY_SAMPLE = 20_000  # newest attempts a p95 is computed over
OPEN_EVENTS = ("pending", "delivering")


@dataclass(frozen=True)
class PoolUse:
    """One pool: a main account's own numbers, or a subaccount's."""

    auth_id: str
    name: str
    is_main: bool
    in_service: int
    in_use: int  # numbers in service carrying at least one live session
    draining: int
    live_sessions: int


@dataclass(frozen=True)
class Dashboard:
    sessions_active: int
    sessions_today: int
    calls_in_progress: int
    calls_per_hour: list[tuple[datetime, int]]  # the last 24 hours, oldest first
    legs_dialled: int  # outbound legs of the last 24 hours
    legs_answered: int
    hangup_causes: list[tuple[str, int]]  # most frequent first
    pools: list[PoolUse]
    events_pending: int
    events_failed: int
    p95_latency_ms: int | None  # receivers' answer time (any answer), last 24 hours
    p95_delay_s: float | None  # event written → delivered, last 24 hours

    @property
    def answer_rate(self) -> float | None:
        return self.legs_answered / self.legs_dialled if self.legs_dialled else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile by nearest rank (``q`` in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _sessions_of(who: Principal | None) -> Any:
    if who is None:
        return true()
    if who.subaccount is not None:
        return sessions.c.subaccount_id == who.subaccount.id
    return sessions.c.account_id == who.main.id


def _owned(account_col: Any, session_col: Any, who: Principal | None) -> Any:
    """Rows carrying ``account_id`` and ``session_id`` (calls, outbox) visible to ``who``."""
    if who is None:
        return true()
    cond = account_col == who.main.id
    if who.subaccount is not None:
        mine = select(sessions.c.id).where(sessions.c.subaccount_id == who.subaccount.id)
        cond = and_(cond, session_col.in_(mine))
    return cond


def _numbers_of(who: Principal | None) -> Any:
    cond = numbers.c.state != "removed"
    if who is None:
        return cond
    if who.subaccount is not None:
        return and_(cond, numbers.c.pool_id == who.subaccount.id)
    return and_(cond, numbers.c.account_id == who.main.id)


def _hour_floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.strptime(str(value)[:19], "%Y-%m-%d %H:%M:%S")


def _live(now: datetime) -> Any:
    return and_(sessions.c.status == "active", sessions.c.expiry_time > now)


class StatsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _hour(self, column: Any) -> Any:
        if self.db.postgres:
            return func.date_trunc("hour", column)
        return func.strftime("%Y-%m-%d %H:00:00", column)

    # -- the dashboard --------------------------------------------------------------

    def dashboard(self, who: Principal | None) -> Dashboard:
        now = self.db.clock.now()
        since = now - DAY
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        scope = _sessions_of(who)
        legs = _owned(calls.c.account_id, calls.c.session_id, who)
        events = _owned(outbox.c.account_id, outbox.c.session_id, who)
        with self.db.read() as conn:
            active = conn.execute(
                select(func.count()).select_from(sessions).where(scope, _live(now))
            ).scalar()
            created = conn.execute(
                select(func.count())
                .select_from(sessions)
                .where(scope, sessions.c.created_time >= today)
            ).scalar()
            in_progress = conn.execute(
                select(func.count(func.distinct(calls.c.interaction_id))).where(
                    legs,
                    calls.c.end_time.is_(None),
                    calls.c.initiation_time >= now - LONGEST_CALL,
                )
            ).scalar()
            first_hour = _hour_floor(since) + timedelta(hours=1)
            hour = self._hour(calls.c.initiation_time)
            per_hour = {
                _as_datetime(h): int(n)
                for h, n in conn.execute(
                    select(hour, func.count(func.distinct(calls.c.interaction_id)))
                    .where(legs, calls.c.initiation_time >= first_hour)
                    .group_by(hour)
                ).all()
            }
            dialled, answered = conn.execute(
                select(func.count(), func.count(calls.c.answer_time)).where(
                    legs, calls.c.direction == "outbound", calls.c.initiation_time >= since
                )
            ).one()
            causes = conn.execute(
                select(calls.c.hangup_cause, func.count())
                .where(legs, calls.c.initiation_time >= since, calls.c.end_time.is_not(None))
                .group_by(calls.c.hangup_cause)
                .order_by(func.count().desc())
            ).all()
            counts = dict(
                conn.execute(
                    select(outbox.c.status, func.count())
                    .where(events, outbox.c.status.in_((*OPEN_EVENTS, "failed")))
                    .group_by(outbox.c.status)
                ).all()
            )
            latency, delay = self._latencies(conn, who, since)
            pools = self._pools(conn, who, now)
        hours = [first_hour + timedelta(hours=i) for i in range(24)]
        return Dashboard(
            sessions_active=int(active or 0),
            sessions_today=int(created or 0),
            calls_in_progress=int(in_progress or 0),
            calls_per_hour=[(h, per_hour.get(h, 0)) for h in hours],
            legs_dialled=int(dialled or 0),
            legs_answered=int(answered or 0),
            hangup_causes=[(c or "unknown", int(n)) for c, n in causes],
            pools=pools,
            events_pending=sum(int(counts.get(s, 0)) for s in OPEN_EVENTS),
            events_failed=int(counts.get("failed", 0)),
            p95_latency_ms=None if latency is None else round(latency),
            p95_delay_s=delay,
        )

    def _latencies(
        self, conn: Any, who: Principal | None, since: datetime
    ) -> tuple[float | None, float | None]:
        cond = [delivery_attempts.c.attempted_time >= since]
        if who is not None:
            cond.append(delivery_attempts.c.account_id == who.main.id)
            if who.subaccount is not None:
                mine = select(sessions.c.id).where(sessions.c.subaccount_id == who.subaccount.id)
                cond.append(outbox.c.session_id.in_(mine))
        rows = conn.execute(
            select(
                delivery_attempts.c.latency_ms,
                delivery_attempts.c.status_code,
                delivery_attempts.c.attempted_time,
                delivery_attempts.c.outcome,
                outbox.c.created_time,
            )
            .join(outbox, outbox.c.id == delivery_attempts.c.event_id)
            .where(*cond)
            .order_by(delivery_attempts.c.attempted_time.desc())
            .limit(LATENCY_SAMPLE)
        ).all()
        # The receivers' answer time counts every attempt they answered (a 503 takes
        # their time too); the delay, only the attempts that delivered.
        latency = percentile([r.latency_ms for r in rows if r.status_code is not None], 0.95)
        delays = [
            max(0.0, (r.attempted_time - r.created_time).total_seconds())
            for r in rows
            if r.outcome == "delivered"
        ]
        delay = percentile(delays, 0.95)
        return latency, None if delay is None else round(delay, 1)

    def _pools(self, conn: Any, who: Principal | None, now: datetime) -> list[PoolUse]:
        per_number = (
            select(sessions.c.number_id, func.count().label("live"))
            .where(_live(now))
            .group_by(sessions.c.number_id)
            .subquery()
        )
        rows = conn.execute(
            select(
                accounts.c.auth_id,
                accounts.c.name,
                accounts.c.parent_id,
                numbers.c.state,
                func.count(numbers.c.id),
                func.count(per_number.c.number_id),
                func.coalesce(func.sum(per_number.c.live), 0),
            )
            .select_from(
                numbers.join(accounts, accounts.c.id == numbers.c.pool_id).outerjoin(
                    per_number, per_number.c.number_id == numbers.c.id
                )
            )
            .where(_numbers_of(who))
            .group_by(accounts.c.auth_id, accounts.c.name, accounts.c.parent_id, numbers.c.state)
            .order_by(accounts.c.auth_id)
        ).all()
        pools: dict[str, dict[str, Any]] = {}
        for auth_id, name, parent, state, count, busy, live in rows:
            pool = pools.setdefault(
                auth_id,
                {"name": name, "is_main": parent is None, "in": 0, "use": 0, "dr": 0, "live": 0},
            )
            if state == "in_service":
                pool["in"] += int(count)
                pool["use"] += int(busy)
            else:
                pool["dr"] += int(count)
            pool["live"] += int(live)
        return [
            PoolUse(a, p["name"], p["is_main"], p["in"], p["use"], p["dr"], p["live"])
            for a, p in pools.items()
        ]

    # -- calls ------------------------------------------------------------------------

    def calls_in_progress(self, who: Principal | None, limit: int = 50) -> list[dict[str, Any]]:
        """Legs without an end, newest first, each with its session's uuid and number."""
        now = self.db.clock.now()
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    calls,
                    sessions.c.uuid.label("session_uuid"),
                    sessions.c.virtual_number,
                )
                .select_from(calls.outerjoin(sessions, sessions.c.id == calls.c.session_id))
                .where(
                    _owned(calls.c.account_id, calls.c.session_id, who),
                    calls.c.end_time.is_(None),
                    calls.c.initiation_time >= now - LONGEST_CALL,
                )
                .order_by(calls.c.initiation_time.desc(), calls.c.id.desc())
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    def session_legs(self, who: Principal | None, session_uuid: str) -> list[dict[str, Any]]:
        """Every call leg of a session the tenant owns, in the order they began."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(calls)
                .join(sessions, sessions.c.id == calls.c.session_id)
                .where(sessions.c.uuid == session_uuid, _sessions_of(who))
                .order_by(calls.c.initiation_time, calls.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    # -- deliveries -------------------------------------------------------------------

    def deliveries(
        self,
        who: Principal | None,
        statuses: tuple[str, ...],
        limit: int,
        offset: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Events in ``statuses`` across the tenant's sessions, newest first, each with
        its session's uuid and the receiver's last answer (``answer``)."""
        cond = and_(
            outbox.c.status.in_(statuses), _owned(outbox.c.account_id, outbox.c.session_id, who)
        )
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(outbox).where(cond)).scalar()
            rows = conn.execute(
                select(outbox, sessions.c.uuid.label("session_uuid"))
                .select_from(outbox.outerjoin(sessions, sessions.c.id == outbox.c.session_id))
                .where(cond)
                .order_by(outbox.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            last = self._last_attempts(conn, [r.id for r in rows])
        return int(total or 0), [
            dict(r._mapping, answer=last.get(r.id, {}).get("answer")) for r in rows
        ]

    def _last_attempts(self, conn: Any, event_ids: list[int]) -> dict[int, dict[str, Any]]:
        if not event_ids:
            return {}
        newest = (
            select(func.max(delivery_attempts.c.id))
            .where(delivery_attempts.c.event_id.in_(event_ids))
            .group_by(delivery_attempts.c.event_id)
        )
        rows = conn.execute(
            select(delivery_attempts).where(delivery_attempts.c.id.in_(newest))
        ).all()
        return {r.event_id: dict(r._mapping) for r in rows}

    def event(self, who: Principal | None, event_id: int) -> dict[str, Any] | None:
        """One outbox row with its session's uuid and the receiver's last ``answer``, if
        the tenant owns it (what a retry checks first)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(outbox, sessions.c.uuid.label("session_uuid"))
                .select_from(outbox.outerjoin(sessions, sessions.c.id == outbox.c.session_id))
                .where(
                    outbox.c.id == event_id,
                    _owned(outbox.c.account_id, outbox.c.session_id, who),
                )
            ).first()
            if row is None:
                return None
            last = self._last_attempts(conn, [row.id]).get(row.id, {})
        return dict(row._mapping, answer=last.get("answer"))

    def session_attempts(
        self, who: Principal | None, session_uuid: str
    ) -> dict[int, list[dict[str, Any]]]:
        """Every delivery attempt of a session's events, by event id, in order."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(delivery_attempts)
                .join(outbox, outbox.c.id == delivery_attempts.c.event_id)
                .join(sessions, sessions.c.id == outbox.c.session_id)
                .where(sessions.c.uuid == session_uuid, _sessions_of(who))
                .order_by(delivery_attempts.c.event_id, delivery_attempts.c.id)
            ).all()
        result: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            result.setdefault(r.event_id, []).append(dict(r._mapping))
        return result

    # -- numbers ----------------------------------------------------------------------

    def number_sessions(
        self, who: Principal | None, number_id: int, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The live sessions on one number of the tenant's pool (in a call or not),
        newest first, as the API renders them."""
        now = self.db.clock.now()
        with self.db.read() as conn:
            rows = conn.execute(
                select(sessions)
                .where(
                    sessions.c.number_id == number_id,
                    _sessions_of(who),
                    or_(_live(now), sessions.c.active_calls > 0),
                )
                .order_by(sessions.c.created_time.desc(), sessions.c.id.desc())
                .limit(limit)
            ).all()
        return [session_view(r._mapping, now) for r in rows]

    # -- the operator's view ----------------------------------------------------------

    def main_accounts(self) -> list[Any]:
        with self.db.read() as conn:
            return conn.execute(
                select(accounts.c.id, accounts.c.auth_id, accounts.c.name, accounts.c.enabled)
                .where(accounts.c.parent_id.is_(None), accounts.c.deleted.is_(False))
                .order_by(accounts.c.name, accounts.c.id)
            ).all()

    def session_account(self, session_uuid: str) -> int | None:
        """The id of the main account a session belongs to (None: no such session)."""
        with self.db.read() as conn:
            return conn.execute(
                select(sessions.c.account_id).where(sessions.c.uuid == session_uuid)
            ).scalar()

    def recording_account(self, recording_uuid: str) -> int | None:
        with self.db.read() as conn:
            return conn.execute(
                select(recordings.c.account_id).where(recordings.c.uuid == recording_uuid)
            ).scalar()
