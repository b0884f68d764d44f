"""Fixtures for event delivery: a store on each backend, sessions with callbacks, events."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import us
from vts_masking.clock import FrozenClock
from vts_masking.domain.session_params import parse_create
from vts_masking.events.worker import DeliveryWorker
from vts_masking.store import Account, Principal, Store
from vts_masking.store import outbox as outbox_ops
from vts_masking.store.deliveries import OutboxRepo
from vts_masking.store.models import outbox, sessions

_numbers = itertools.count()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store(db_url: str, clock: FrozenClock) -> Iterator[Store]:
    s = Store(db_url, clock, pool_size=5)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def account(store: Store) -> Account:
    return store.accounts.create("events-tenant")


def new_session(store: Store, account: Account, **params: Any) -> Any:
    """A real session (SessionCreated in its outbox) made through the store's create."""
    n = next(_numbers)
    vn = f"+1220300{n:04d}"
    store.numbers.add(account, [vn])
    raw = {"first_party": us(1000 + n), "second_party": us(5000 + n), **params}
    _, body = store.sessions.create(
        Principal(account, account, None), parse_create(raw), render=lambda view: view
    )
    uuid = body["session_uuid"]
    with store.db.read() as conn:
        return conn.execute(select(sessions).where(sessions.c.uuid == uuid)).one()


def emit(store: Store, session: Any, *names: str, **extra: Any) -> None:
    """More events of ``session``, written the way the call engine writes them."""
    with store.db.write() as conn:
        row = conn.execute(select(sessions).where(sessions.c.id == session.id)).one()
        for name in names:
            outbox_ops.emit(
                conn,
                row,
                name,
                store.clock.now(),
                from_number=us(1),
                to_number=us(2),
                call_uuid="c0ffee00-0000-4000-8000-000000000001",
                extra=extra or None,
            )


def rows(store: Store, session: Any | None = None) -> list[Any]:
    query = select(outbox).order_by(outbox.c.id)
    if session is not None:
        query = query.where(outbox.c.session_id == session.id)
    with store.db.read() as conn:
        return list(conn.execute(query).all())


async def drain(worker: DeliveryWorker, rounds: int = 50) -> int:
    """Run single passes until nothing is due; returns how many attempts were made."""
    total = 0
    for _ in range(rounds):
        n = await worker.run_once()
        if not n:
            break
        total += n
    return total


def repo(store: Store) -> OutboxRepo:
    return OutboxRepo(store.db)
