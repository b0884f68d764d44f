"""Writing events into the outbox, inside the caller's transaction (docs/calls.md#events)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from ..domain import events
from .models import outbox, sessions
from .prepared import Prepared

BUMP_SEQ = (
    update(sessions)
    .where(sessions.c.id == bindparam("session_id"))
    .values(event_seq=sessions.c.event_seq + 1)
    .returning(sessions.c.event_seq)
)
# Takes ``n`` sequence numbers and reads what an event needs of its session, in one
# statement (the call engine's writes emit one or two events at a time).
TAKE_SEQS = (
    update(sessions)
    .where(sessions.c.id == bindparam("session_id"))
    .values(event_seq=sessions.c.event_seq + bindparam("n"))
    .returning(
        sessions.c.id,
        sessions.c.event_seq,
        sessions.c.uuid,
        sessions.c.account_id,
        sessions.c.virtual_number,
        sessions.c.first_party,
        sessions.c.second_party,
        sessions.c.params,
    )
)
# emit_for's statements on the driver's cursor (store/prepared.py): they run for every
# step of every call, and their results are plain ints and strings.
_TAKE_SEQS = Prepared(TAKE_SEQS)
_ROW_KEYS = (
    "account_id",
    "session_id",
    "seq",
    "event_name",
    "url",
    "method",
    "params",
    "status",
    "attempts",
    "next_attempt_at",
    "created_time",
)
# emit() (a session create's SessionCreated among them) inserts one row with it,
# emit_for() several.
_INSERT_EVENTS = Prepared(outbox.insert(), _ROW_KEYS)


def emit(
    conn: Connection,
    session: Any,
    event_name: str,
    now: datetime,
    *,
    from_number: str | None = None,
    to_number: str | None = None,
    call_uuid: str | None = None,
    extra: dict[str, Any] | None = None,
    seq: int | None = None,
) -> int:
    """Append one event of ``session`` to the outbox; returns its SequenceNumber.

    ``session`` is a row of :data:`sessions` (``id``, ``uuid``, ``account_id``,
    ``virtual_number``, parties and ``params``). The per-session sequence is bumped with
    an UPDATE in this same transaction, so numbers are strictly increasing per session
    even with many writers.
    """
    if seq is None:  # callers that just wrote the session pass the number they set
        seq = conn.execute(BUMP_SEQ, {"session_id": session.id}).scalar_one()
    what = Happened(from_number, to_number, call_uuid, extra)
    params = json.loads(session.params)
    _INSERT_EVENTS.run(conn, _row(session, params, event_name, now, seq, what))
    return int(seq)


@dataclass(frozen=True, slots=True)
class Happened:
    """What an event says beyond its session: the call it is about, and extra fields."""

    from_number: str | None = None
    to_number: str | None = None
    call_uuid: str | None = None
    extra: dict[str, Any] | None = None


def _row(
    session: Any,
    params: dict[str, Any],
    event_name: str,
    now: datetime,
    seq: int,
    what: Happened,
) -> dict[str, Any]:
    """The outbox row of one event."""
    if events.is_recording_event(event_name):
        url, method = params.get("recording_callback_url"), params.get("recording_callback_method")
    else:
        url, method = params.get("callback_url"), params.get("callback_method")
    payload = events.base_params(
        event_name=event_name,
        timestamp=now,
        session_uuid=session.uuid,
        virtual_number=session.virtual_number,
        first_party=session.first_party,
        second_party=session.second_party,
        sequence=seq,
        from_number=what.from_number,
        to_number=what.to_number,
        call_uuid=what.call_uuid,
        extra=what.extra,
    )
    return {
        "account_id": session.account_id,
        "session_id": session.id,
        "seq": seq,
        "event_name": event_name,
        "url": url,
        "method": method or "POST",
        "params": json.dumps(payload),
        "status": "pending" if url else "skipped",
        "attempts": 0,
        "next_attempt_at": now,
        "created_time": now,
    }


def emit_for(
    conn: Connection,
    session_id: int,
    names: list[str],
    now: datetime,
    *,
    from_number: str | None = None,
    to_number: str | None = None,
    call_uuid: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Emit ``names`` (aliases included) for a session known only by id: its sequence
    numbers and the columns the events need come from one UPDATE … RETURNING, and the
    rows go in with one INSERT."""
    waiting = Deferred()
    waiting.add(session_id, names, now, Happened(from_number, to_number, call_uuid, extra))
    waiting.flush(conn)


class Deferred:
    """Events emitted during one transaction, written just before it commits.

    A call's records (``CallLog.batch``, many steps of many calls in one transaction)
    emit about eight times per call; written as they come, each emit is an
    UPDATE … RETURNING on its session and an INSERT. Kept here until the end, a session
    takes the sequence numbers of all its waiting events in one UPDATE, and every row of
    the transaction goes in with one INSERT. Order is what it would have been: a
    session's events are numbered in the order they were added, and nothing else in the
    transaction reads the outbox or a session's ``event_seq`` in between.
    """

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        # session id -> its events in the order emitted (dicts keep insertion order)
        self._waiting: dict[int, list[tuple[str, datetime, Happened]]] = {}

    def add(self, session_id: int, names: list[str], now: datetime, what: Happened) -> None:
        """Keep ``names`` (aliases included) of a session for :meth:`flush`."""
        flat = [alias for name in names for alias in events.ALIASES.get(name, (name,))]
        if flat:
            self._waiting.setdefault(session_id, []).extend((n, now, what) for n in flat)

    def flush(self, conn: Connection) -> None:
        """Number and insert every waiting event in ``conn``'s transaction.

        Raises ``LookupError`` when a session is gone (nothing is inserted then; the
        caller's transaction is expected to roll back).
        """
        rows: list[dict[str, Any]] = []
        for session_id, waiting in self._waiting.items():
            session = _TAKE_SEQS.first(conn, {"session_id": session_id, "n": len(waiting)})
            if session is None:
                raise LookupError(f"no session {session_id}")
            params = json.loads(session.params)
            first = session.event_seq - len(waiting) + 1
            rows.extend(
                _row(session, params, name, at, first + i, what)
                for i, (name, at, what) in enumerate(waiting)
            )
        self._waiting.clear()
        if rows:
            _INSERT_EVENTS.run_many(conn, rows)


def session_events(conn: Connection, session_id: int) -> list[Any]:
    """A session's events in order; each row has the outbox columns and ``session_uuid``
    (what ``domain.views.event_view`` shows)."""
    return conn.execute(
        select(outbox, sessions.c.uuid.label("session_uuid"))
        .join(sessions, sessions.c.id == outbox.c.session_id)
        .where(outbox.c.session_id == session_id)
        .order_by(outbox.c.seq)
    ).all()
