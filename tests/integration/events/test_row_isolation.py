"""Background work isolates rows (issue 11): one damaged row never blocks other tenants.

A row is damaged here the only way left once the API refuses bad text: written straight
into the store, as data from an older release or a bug elsewhere would be.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from tests.integration.events.conftest import FrozenClock, drain, new_session, rows
from vts_masking.events.worker import DeliveryWorker, WorkerConfig
from vts_masking.store import Account, Store
from vts_masking.store.models import outbox, sessions

FAST = WorkerConfig(lease=30.0, deadline=5.0, poll_interval=0.02, concurrency=4, batch_size=20)


def _damage_params(store: Store, session_id: int, text: str) -> None:
    with store.db.write() as conn:
        conn.execute(update(sessions).where(sessions.c.id == session_id).values(params=text))


def _status(store: Store, session_id: int) -> str:
    with store.db.read() as conn:
        return conn.execute(select(sessions.c.status).where(sessions.c.id == session_id)).scalar()


def _event_names(store: Store, session_id: int) -> list[str]:
    with store.db.read() as conn:
        return list(
            conn.execute(
                select(outbox.c.event_name)
                .where(outbox.c.session_id == session_id)
                .order_by(outbox.c.seq)
            ).scalars()
        )


def test_one_damaged_session_does_not_stop_expiry_for_other_tenants(
    store: Store, account: Account, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    other = store.accounts.create("other-tenant")
    bad = new_session(store, account, session_expiry=60)
    good = new_session(store, other, session_expiry=120)
    _damage_params(store, bad.id, '{"callback_url": ')  # not JSON any more
    clock.advance(200)
    with caplog.at_level(logging.ERROR, logger="vts_masking.store"):
        assert store.sessions.sweep() == 2
        assert store.sessions.sweep() == 0
    assert _status(store, good.id) == "expired"
    assert _event_names(store, good.id) == ["SessionCreated", "SessionTimeout"]
    assert _status(store, bad.id) == "expired"  # set aside: no SessionTimeout, bindings freed
    assert _event_names(store, bad.id) == ["SessionCreated"]
    assert caplog.text.count(bad.uuid) == 1  # logged once


def test_a_session_whose_params_hold_a_lone_surrogate_does_not_block_the_sweep(
    store: Store, account: Account, clock: FrozenClock
) -> None:
    bad = new_session(store, account, session_expiry=60)
    good = new_session(store, account, session_expiry=60)
    _damage_params(store, bad.id, '{"callback_url": "http://x.example/\\udc80"}')
    clock.advance(61)
    store.sessions.sweep()
    assert _status(store, bad.id) == _status(store, good.id) == "expired"
    assert _event_names(store, good.id)[-1] == "SessionTimeout"


@pytest.mark.asyncio
async def test_an_unreadable_event_is_failed_alone_and_the_others_are_delivered(
    store: Store, account: Account
) -> None:
    from tests.integration.events.receiver import Receiver

    with Receiver() as rx:
        first = new_session(store, account, callback_url=f"http://127.0.0.1:{rx.port}/a")
        second = new_session(store, account, callback_url=f"http://127.0.0.1:{rx.port}/b")
        with store.db.write() as conn:
            conn.execute(
                update(outbox).where(outbox.c.session_id == first.id).values(params="{broken")
            )
        w = DeliveryWorker(store.db, allow_private=True, config=FAST)
        await drain(w)
        await w.aclose()
        by_session = {r.session_id: r for r in rows(store)}
        assert by_session[first.id].status == "failed"
        assert by_session[second.id].status == "delivered"
        assert len(rx.got()) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/\x00x",
        "http://0177.0.0.1/x",
        "http://127.1/x",
        "http://a.com\\@10.0.0.1/",
    ],
    ids=["nul", "octal-host", "short-numeric-host", "backslash"],
)
async def test_an_event_that_can_never_be_sent_is_failed_at_once_without_a_traceback(
    store: Store, account: Account, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if "\x00" in url and store.db.postgres:
        pytest.skip("PostgreSQL cannot store NUL: such a URL can only reach SQLite")
    session = new_session(store, account, callback_url="http://example.com/placeholder")
    with store.db.write() as conn:
        conn.execute(update(outbox).where(outbox.c.session_id == session.id).values(url=url))
    w = DeliveryWorker(store.db, allow_private=False, config=FAST)
    with caplog.at_level(logging.ERROR):
        await drain(w)
    await w.aclose()
    [row] = rows(store)
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error.startswith("refused:")
    assert "Traceback" not in caplog.text
