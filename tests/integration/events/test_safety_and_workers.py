"""Private targets, several workers at once, and the worker inside the real service."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, defaultdict

import pytest
from sqlalchemy import update

from tests.integration.events.conftest import drain, emit, new_session, rows
from tests.integration.events.receiver import Receiver, wait_for
from vts_masking.events.worker import DeliveryWorker, WorkerConfig, run_worker
from vts_masking.store import Account, Store
from vts_masking.store.models import outbox

FAST = WorkerConfig(lease=30.0, deadline=5.0, poll_interval=0.02, concurrency=16, batch_size=20)


@pytest.mark.asyncio
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_target_is_refused_unless_private_callbacks_are_allowed(
    store: Store, account: Account, host: str
) -> None:
    with Receiver() as rx:
        new_session(store, account, callback_url=f"http://{host}:{rx.port}/hook")
        w = DeliveryWorker(store.db, allow_private=False, config=FAST)
        await drain(w)
        await w.aclose()
        assert rx.got() == []
        [row] = rows(store)
        assert row.status == "failed" and row.attempts == 1
        assert row.last_error.startswith("refused:") and "non-public" in row.last_error

        # The operator allows private callbacks and retries it.
        from vts_masking.store.deliveries import OutboxRepo

        assert OutboxRepo(store.db).retry(row.id)
        w = DeliveryWorker(store.db, allow_private=True, config=FAST)
        await drain(w)
        await w.aclose()
    assert len(rx.got()) == 1 and rows(store)[0].status == "delivered"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/x",
        "http://[::ffff:127.0.0.1]:9/x",
        "http://224.0.0.1/x",
        "http://0.0.0.0:9/x",
    ],
)
async def test_non_http_and_non_public_targets_are_failed_without_a_request(
    store: Store, account: Account, url: str
) -> None:
    session = new_session(store, account, callback_url="http://example.com/placeholder")
    with store.db.write() as conn:
        conn.execute(update(outbox).where(outbox.c.session_id == session.id).values(url=url))
    w = DeliveryWorker(store.db, allow_private=False, config=FAST)
    await drain(w)
    await w.aclose()
    [row] = rows(store)
    assert row.status == "failed" and row.last_error.startswith("refused:")


def _run_worker_thread(db_url: str, clock, stop: threading.Event) -> threading.Thread:
    """A worker with its own store (own connections) and its own event loop."""

    def main() -> None:
        own = Store(db_url, clock, pool_size=4)

        async def go() -> None:
            stop_async = asyncio.Event()

            async def watch() -> None:
                while not stop.is_set():
                    await asyncio.sleep(0.02)
                stop_async.set()

            watcher = asyncio.create_task(watch())
            await run_worker(own, allow_private=True, stop=stop_async, config=FAST)
            await watcher

        try:
            asyncio.run(go())
        finally:
            own.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    return thread


def test_two_workers_never_send_the_same_event_at_the_same_time(
    db_url: str, store: Store, account: Account, clock
) -> None:
    with Receiver(hold=0.01) as rx:
        sessions = [new_session(store, account, callback_url=rx.url) for _ in range(30)]
        for s in sessions:
            emit(
                store, s, "SessionFirstPartyInitiated", "SessionFirstPartyAnswer", "SessionTimeout"
            )
        total = len(rows(store))
        stop = threading.Event()
        threads = [_run_worker_thread(db_url, clock, stop) for _ in range(2)]
        try:
            wait_for(
                lambda: all(r.status == "delivered" for r in rows(store)),
                timeout=60,
                why=lambda: str(Counter((r.status, r.attempts, r.last_error) for r in rows(store))),
            )
        finally:
            stop.set()
            for t in threads:
                t.join(30)
    assert rx.overlaps == []
    got = rx.got()
    assert len(got) == total == 120
    assert Counter(r.key for r in got).most_common(1)[0][1] == 1  # no event twice
    by_session = defaultdict(list)
    for r in got:
        by_session[r.params["SessionUUID"]].append(r.seq)
    assert all(seqs == sorted(seqs) for seqs in by_session.values())


def test_run_worker_stops_when_asked_and_leaves_nothing_in_flight(
    db_url: str, store: Store, account: Account, clock
) -> None:
    with Receiver(hold=0.05) as rx:
        for _ in range(10):
            new_session(store, account, callback_url=rx.url)
        stop = threading.Event()
        thread = _run_worker_thread(db_url, clock, stop)
        rx.wait_for(lambda: len(rx.started) >= 1)
        stop.set()
        thread.join(30)
        assert not thread.is_alive()
    assert "delivering" not in {r.status for r in rows(store)}
