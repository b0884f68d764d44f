"""``Database.run_write``: writes from async code, group-committed on SQLite (issue 15).

Each test runs on both stores (``db_url``): PostgreSQL runs every write in a worker
thread, a transaction of its own, so what holds for callers there holds too; the tests
that are about SQLite's group commit itself say so and skip PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from vts_masking.store import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url, pool_size=4)
    s.migrate()
    with s.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE gc_probe (x INTEGER PRIMARY KEY)")
    yield s
    s.close()


def insert(conn: Connection, x: int) -> int:
    conn.exec_driver_sql(f"INSERT INTO gc_probe (x) VALUES ({int(x)})")
    return x


def insert_then_fail(conn: Connection, x: int) -> int:
    insert(conn, x)
    raise ValueError("this write fails after its insert")


def stored(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT x FROM gc_probe ORDER BY x")]


def test_concurrent_writes_each_get_their_own_result(store: Store) -> None:
    async def main() -> list[int]:
        return await asyncio.gather(*(store.db.run_write(insert, x) for x in range(40)))

    assert asyncio.run(main()) == list(range(40))
    assert stored(store) == list(range(40))


def test_a_failing_write_fails_alone_and_leaves_nothing(store: Store) -> None:
    async def main() -> list[object]:
        writes = [store.db.run_write(insert, 1), store.db.run_write(insert_then_fail, 2)]
        writes.append(store.db.run_write(insert, 3))
        return await asyncio.gather(*writes, return_exceptions=True)

    first, failed, third = asyncio.run(main())
    assert (first, third) == (1, 3)
    assert isinstance(failed, ValueError)
    assert stored(store) == [1, 3]


def test_a_constraint_violation_reaches_its_caller_as_integrity_error(store: Store) -> None:
    async def main() -> list[object]:
        return await asyncio.gather(
            store.db.run_write(insert, 7), store.db.run_write(insert, 7), return_exceptions=True
        )

    results = asyncio.run(main())
    assert results.count(7) == 1
    assert sum(isinstance(r, IntegrityError) for r in results) == 1
    assert stored(store) == [7]


def test_writes_submitted_together_share_one_sqlite_transaction(store: Store) -> None:
    if store.db.postgres:
        pytest.skip("group commit is SQLite's (PostgreSQL: a transaction per write)")
    begins: list[str] = []
    event.listen(store.engine, "begin", lambda conn: begins.append("begin"))

    async def main() -> None:
        await asyncio.gather(*(store.db.run_write(insert, x) for x in range(25)))

    asyncio.run(main())
    assert len(begins) == 1
    assert len(stored(store)) == 25


def test_the_loop_keeps_running_while_another_process_holds_the_write_lock(
    store: Store,
) -> None:
    if store.db.postgres:
        pytest.skip("SQLite's database-wide write lock")
    other = sqlite3.connect(make_url(store.url).database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, as SQLite sees it

    async def main() -> tuple[int, int]:
        write = asyncio.ensure_future(store.db.run_write(insert, 5))
        ticks = 0
        for _ in range(10):  # the loop must go on while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
        other.execute("COMMIT")
        return ticks, await asyncio.wait_for(write, 30)

    try:
        ticks, result = asyncio.run(main())
    finally:
        other.close()
    assert (ticks, result) == (10, 5)
    assert stored(store) == [5]


def test_a_write_waits_for_a_worker_threads_transaction(store: Store) -> None:
    holding = threading.Event()
    release = threading.Event()

    def worker() -> None:
        with store.db.write() as conn:
            insert(conn, 1)
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    holding.wait(10)

    async def main() -> int:
        write = asyncio.ensure_future(store.db.run_write(insert, 2))
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.wait_for(write, 30)

    started = time.monotonic()
    assert asyncio.run(main()) == 2
    thread.join(10)
    assert time.monotonic() - started < 30
    assert stored(store) == [1, 2]
