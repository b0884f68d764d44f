"""Idempotency keys: the first answer to a request, kept so that a retry gets it again.

A client that sends ``Idempotency-Key`` on a POST or DELETE may repeat the request (its
connection dropped, the answer was lost) without acting twice: the repeat is answered
with the stored status and body. Creates store their answer in the same transaction as
the thing they create, so a crash can never leave one without the other; a replayed key
with a different request is ``409``. Requests whose answer is kept after acting claim
their key first (a *pending* row), so a twin sent while the first is still running is
told ``409`` instead of acting too. Keys belong to the account that sends them and are
kept for :data:`KEEP_FOR` (the sweeper drops older ones).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from ..domain import errors
from .base import Database
from .models import idempotency_keys

KEEP_FOR = timedelta(hours=24)
KEY_CONSTRAINT = "uq_idempotency_account_key"
#: ``status_code`` of a claimed key whose request is still running
PENDING = 0
#: a claim older than this was left by a process that died mid-request: it is taken over
ABANDONED_AFTER = timedelta(minutes=2)
IN_PROGRESS = "A request with this Idempotency-Key is still in progress. Retry later."


@dataclasses.dataclass(frozen=True)
class Idempotency:
    """A request's key, scoped to a main account, and the hash of what it asked."""

    account_id: int
    key: str
    request_hash: str


class Answer(tuple):
    """``(status, body)`` of a request; ``replayed`` when it is a stored first answer."""

    replayed: bool

    def __new__(cls, status: int, body: dict[str, Any], replayed: bool = False) -> Answer:
        result = super().__new__(cls, (status, body))
        result.replayed = replayed
        return result


def lost_key_race(exc: IntegrityError) -> bool:
    """Another request with the same key committed first."""
    text = str(exc.orig)
    return KEY_CONSTRAINT in text or "idempotency_keys" in text


def replay(conn: Connection, idem: Idempotency) -> Answer | None:
    """The stored answer for this key, ``None`` when it is new; ``409`` on another request."""
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.account_id == idem.account_id,
            idempotency_keys.c.key == idem.key,
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != idem.request_hash:
        raise errors.Conflict("Idempotency-Key was already used with a different request.")
    if row.status_code == PENDING:
        raise errors.Conflict(IN_PROGRESS, retry_after="1")
    return Answer(row.status_code, json.loads(row.body), replayed=True)


def remember(
    conn: Connection, idem: Idempotency, status: int, body: dict[str, Any], now: datetime
) -> None:
    conn.execute(
        idempotency_keys.insert().values(
            account_id=idem.account_id,
            key=idem.key,
            request_hash=idem.request_hash,
            status_code=status,
            body=json.dumps(body),
            created_time=now,
        )
    )


class IdempotencyRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def replay(self, idem: Idempotency) -> Answer | None:
        with self.db.read() as conn:
            return replay(conn, idem)

    def claim(self, idem: Idempotency) -> Answer | None:
        """Take the key for a request about to act: ``None`` when it is now ours, the
        stored answer when the key was answered before; ``409`` while a twin runs."""
        now = self.db.clock.now()
        for _ in range(2):
            try:
                with self.db.write() as conn:
                    stale = delete(idempotency_keys).where(
                        idempotency_keys.c.account_id == idem.account_id,
                        idempotency_keys.c.key == idem.key,
                        idempotency_keys.c.status_code == PENDING,
                        idempotency_keys.c.created_time < now - ABANDONED_AFTER,
                    )
                    conn.execute(stale)
                    answered = replay(conn, idem)
                    if answered is not None:
                        return answered
                    remember(conn, idem, PENDING, {}, now)
                    return None
            except IntegrityError as exc:  # a twin claimed it between our read and insert
                if not lost_key_race(exc):
                    raise
        with self.db.read() as conn:
            answered = replay(conn, idem)
        if answered is None:  # the twin failed and let go of the key meanwhile
            raise errors.Conflict(IN_PROGRESS, retry_after="1")
        return answered

    def complete(self, idem: Idempotency, status: int, body: dict[str, Any]) -> None:
        """Keep the answer of a claimed key."""
        with self.db.write() as conn:
            conn.execute(
                update(idempotency_keys)
                .where(
                    idempotency_keys.c.account_id == idem.account_id,
                    idempotency_keys.c.key == idem.key,
                    idempotency_keys.c.status_code == PENDING,
                )
                .values(status_code=status, body=json.dumps(body))
            )

    def release(self, idem: Idempotency) -> None:
        """Let go of a claimed key whose request failed (it may be sent again)."""
        with self.db.write() as conn:
            conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.account_id == idem.account_id,
                    idempotency_keys.c.key == idem.key,
                    idempotency_keys.c.status_code == PENDING,
                )
            )

    def sweep(self, batch: int = 5000) -> int:
        """Drop keys older than :data:`KEEP_FOR`; returns how many."""
        with self.db.write() as conn:
            old = select(idempotency_keys.c.id).where(
                idempotency_keys.c.created_time < self.db.clock.now() - KEEP_FOR
            )
            if self.db.postgres:
                old = old.with_for_update(skip_locked=True)
            ids = list(conn.execute(old.limit(batch)).scalars())
            if ids:
                conn.execute(delete(idempotency_keys).where(idempotency_keys.c.id.in_(ids)))
        return len(ids)
