"""The database handle every repository shares: engine, clock, transactions."""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine

from ..clock import Clock
from .db import is_postgres

T = TypeVar("T")


class Database:
    """One engine and one clock; hands out read and write transactions."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.postgres = is_postgres(engine)
        # SQLite admits one writer; queueing writers of this process on a fair lock
        # beats SQLite's busy-wait back-off (which sleeps up to 100 ms per try).
        self._write_lock = threading.Lock() if not self.postgres else None
        self._read_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self.postgres else engine
        )

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads. On PostgreSQL it runs in autocommit: no BEGIN and
        ROLLBACK round trips around each lookup (the routing path makes one per call)."""
        with self._read_engine.connect() as conn:
            yield conn
            if not self.postgres:
                conn.rollback()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` on SQLite, plain BEGIN on PostgreSQL."""
        if self._write_lock is None:
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with self._write_lock, self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    async def run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read-only store operation from async code (the API, the SIP edge).

        On SQLite a read is a local, sub-millisecond lookup that never waits for a writer
        (WAL), cheaper than the hop to a worker thread, so it runs inline; on PostgreSQL
        it goes to a worker thread so network round trips never stall the event loop.
        """
        if self.postgres:
            return await anyio.to_thread.run_sync(fn, *args)
        return fn(*args)

    def lock(self, conn: Connection, *names: str) -> None:
        """Serialise writers that touch the same names (PostgreSQL advisory locks).

        Taken in sorted order so two transactions never wait on each other in a cycle.
        SQLite needs nothing: BEGIN IMMEDIATE already admits one writer at a time.
        """
        if not self.postgres:
            return
        for key in sorted({zlib.crc32(n.encode()) for n in names}):
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (key,))
