"""Writing events into the outbox, inside the caller's transaction (calls.md §4)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from ..domain import events
from .models import outbox, sessions

BUMP_SEQ = (
    update(sessions)
    .where(sessions.c.id == bindparam("session_id"))
    .values(event_seq=sessions.c.event_seq + 1)
    .returning(sessions.c.event_seq)
)
INSERT_EVENT = outbox.insert()


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
    params = json.loads(session.params)
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
        from_number=from_number,
        to_number=to_number,
        call_uuid=call_uuid,
        extra=extra,
    )
    conn.execute(
        INSERT_EVENT,
        {
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
        },
    )
    return int(seq)


def emit_named(conn: Connection, session: Any, name: str, now: datetime, **kw: Any) -> None:
    """Emit ``name``, or both of its names where an older alias exists."""
    for alias in events.ALIASES.get(name, (name,)):
        emit(conn, session, alias, now, **kw)


def session_events(conn: Connection, session_id: int) -> list[Any]:
    return conn.execute(
        select(outbox).where(outbox.c.session_id == session_id).order_by(outbox.c.seq)
    ).all()
