"""Idempotency keys: the first answer to a request, kept so that a retry gets it again.

A client that sends ``Idempotency-Key`` on a POST or DELETE may repeat the request (its
connection dropped, the answer was lost) without acting twice: the repeat is answered
with the stored status and body. Creates store their answer in the same transaction as
the thing they create, so a crash can never leave one without the other; a replayed key
with a different request is ``409``. Keys are per main account and kept for
:data:`KEEP_FOR` (the sweeper drops older ones).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError

from ..domain import errors
from .base import Database
from .models import idempotency_keys

KEEP_FOR = timedelta(hours=24)
KEY_CONSTRAINT = "uq_idempotency_account_key"


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

    def remember(self, idem: Idempotency, status: int, body: dict[str, Any]) -> None:
        """Keep an answer in a transaction of its own (for requests whose repeat would
        not act twice, only answer differently: a DELETE). A concurrent twin that
        stored first wins; this one is dropped."""
        try:
            with self.db.write() as conn:
                remember(conn, idem, status, body, self.db.clock.now())
        except IntegrityError as exc:
            if not lost_key_race(exc):
                raise

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
