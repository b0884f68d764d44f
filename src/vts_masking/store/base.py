"""The database handle every repository shares: engine, clock, transactions.

Two ways in. Synchronous code (worker threads, the CLI, the tests) takes transactions
with :meth:`Database.read` and :meth:`Database.write`. Async code (the API, the SIP edge)
runs store operations with :meth:`Database.run_read` and :meth:`Database.run_write`,
which on SQLite stay on the event loop's thread (issue 15):

* a read is a local, sub-millisecond lookup that never waits for a writer (WAL): it runs
  inline, on a connection the loop's thread keeps open (no pool checkout per request);
* writes are *group-committed*: every write submitted while the loop is busy goes into
  the one transaction the loop runs next (``BEGIN IMMEDIATE`` … ``COMMIT``), on a second
  connection the loop keeps open, and each caller's future gets its own result after
  the commit. A thread hop per write cost more than the write (the worker thread and the
  loop hand the GIL to each other several times per transaction, and each hand-over can
  wait out the interpreter's switch interval), and one commit per write more than the
  batch's statements together.

The loop never waits for a writer: when another thread of this process holds the
writer lock, or another process holds SQLite's write lock, the batch goes to a worker
thread instead and waits there, as every write did before. When one write of a batch
fails, the batch is rolled back and its writes run again one transaction each, so
only the failing one fails. On PostgreSQL both run in worker threads, each write in its
own transaction, so network round trips never stall the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from ..clock import Clock
from .db import is_postgres

T = TypeVar("T")
P = ParamSpec("P")
WriteFn = Callable[..., Any]
# When a worker thread holds the writer lock, the loop tries again this often, this many
# times (its transaction is short), before handing the batch to a thread of its own.
LOCK_RETRY = 0.0005
LOCK_TRIES = 20
# The connection a read run by :meth:`Database.run_read` inline uses, and its Database
# (a process may hold several stores); a context variable, so other threads never see it.
_INLINE_READ: contextvars.ContextVar[tuple[Database, Connection] | None] = contextvars.ContextVar(
    "vts_inline_read", default=None
)


class _LoopConnections(threading.local):
    """The connections one event loop's thread keeps open (SQLite)."""

    reader: Connection | None = None
    writer: Connection | None = None


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
        self._loop_conns = _LoopConnections()
        self._kept: list[Connection] = []  # every loop connection, closed by close()
        self._kept_lock = threading.Lock()
        # writes waiting for their loop's next group commit, by loop
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[Any, asyncio.Future[Any]]]] = {}

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads. On PostgreSQL it runs in autocommit: no BEGIN and
        ROLLBACK round trips around each lookup (the routing path makes one per call)."""
        inline = _INLINE_READ.get()
        if inline is not None and inline[0] is self:
            conn = inline[1]
            if conn.in_transaction():  # a read inside a read: the outer one ends it
                yield conn
                return
            try:
                yield conn
            finally:
                conn.rollback()  # no snapshot kept between requests
            return
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
        (WAL), cheaper than the hop to a worker thread, so it runs inline, on the
        connection this loop's thread keeps; on PostgreSQL it goes to a worker thread so
        network round trips never stall the event loop.
        """
        if self.postgres:
            return await anyio.to_thread.run_sync(fn, *args)
        token = _INLINE_READ.set((self, self._loop_reader()))
        try:
            return fn(*args)
        finally:
            _INLINE_READ.reset(token)

    async def run_write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(conn, *args)`` in a write transaction from async code; its result.

        SQLite: group-committed on this loop (see the module's docstring); ``fn`` may run
        twice (its batch rolled back and run again alone), so it must do nothing but its
        statements and what it returns. PostgreSQL: a worker thread, a transaction of its
        own. Either way ``fn`` sees a transaction already begun and must not end it.
        """
        if self.postgres:
            return await anyio.to_thread.run_sync(lambda: self._write_alone(fn, args, kwargs))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        batch = self._pending.get(loop)
        if batch is None:
            batch = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        batch.append(((fn, args, kwargs), future))
        return await future

    def _write_alone(self, fn: WriteFn, args: Any, kwargs: Any) -> Any:
        with self.write() as conn:
            return fn(conn, *args, **kwargs)

    # -- group commit (SQLite) ------------------------------------------------------

    def _flush(self, loop: asyncio.AbstractEventLoop, tries: int = 0) -> None:
        """Run the loop's pending writes in one transaction (on the loop's thread)."""
        jobs = [j for j in self._pending.pop(loop, []) if not j[1].done()]
        if not jobs:
            return
        assert self._write_lock is not None
        if not self._write_lock.acquire(blocking=False):  # a worker thread is writing
            if tries < LOCK_TRIES:  # its transaction is short: try again in a moment
                waiting = self._pending.get(loop)
                self._pending[loop] = jobs + (waiting or [])
                if waiting is None:  # no flush is scheduled for the newer writes
                    loop.call_later(LOCK_RETRY, self._flush, loop, tries + 1)
                return
            self._flush_in_thread(loop, jobs)
            return
        try:
            try:
                conn = self._loop_writer()
            except Exception as exc:  # no connection at all: every caller hears why
                for _, future in jobs:
                    _Outcome(error=exc).settle(future)
                return
            try:
                results = self._commit(conn, [j[0] for j in jobs])
            except _Busy:  # another process writes: wait in a thread, not on the loop
                self._flush_in_thread(loop, jobs)
                return
            except Exception:
                self._one_by_one(loop, jobs)
                return
        finally:
            self._write_lock.release()
        for (_, future), result in zip(jobs, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _commit(self, conn: Connection, calls: list[Any]) -> list[Any]:
        """``calls`` in one transaction on ``conn``; raises what one of them raised."""
        try:
            conn.begin()
        except OperationalError as exc:
            conn.rollback()
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise _Busy from exc
            raise
        try:
            results = [fn(conn, *args, **kwargs) for fn, args, kwargs in calls]
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return results

    def _one_by_one(
        self, loop: asyncio.AbstractEventLoop, jobs: list[tuple[Any, asyncio.Future[Any]]]
    ) -> None:
        """After a failed batch: each write alone, so only the failing one fails."""
        conn = self._loop_writer()  # the batch just had it
        for call, future in jobs:
            try:
                outcome = _Outcome(self._commit(conn, [call])[0])
            except _Busy:
                self._flush_in_thread(loop, [(call, future)])
                continue
            except Exception as exc:
                outcome = _Outcome(error=exc)
            outcome.settle(future)

    def _flush_in_thread(
        self, loop: asyncio.AbstractEventLoop, jobs: list[tuple[Any, asyncio.Future[Any]]]
    ) -> None:
        """The batch in a worker thread, which waits there for the writer lock and
        SQLite's busy timeout like any thread's write: one transaction, or one per
        write after a failure."""

        def work() -> list[_Outcome]:
            try:
                with self.write() as conn:
                    return [_Outcome(fn(conn, *args, **kwargs)) for (fn, args, kwargs), _ in jobs]
            except Exception:
                pass
            outcomes = []
            for (fn, args, kwargs), _ in jobs:
                try:
                    outcomes.append(_Outcome(self._write_alone(fn, args, kwargs)))
                except Exception as exc:
                    outcomes.append(_Outcome(error=exc))
            return outcomes

        async def run() -> None:
            try:
                outcomes = await anyio.to_thread.run_sync(work)
            except BaseException as exc:  # cancelled at shutdown: fail every caller
                outcomes = [_Outcome(error=exc)] * len(jobs)
                if not isinstance(exc, Exception):
                    for (_, future), outcome in zip(jobs, outcomes, strict=True):
                        outcome.settle(future)
                    raise
            for (_, future), outcome in zip(jobs, outcomes, strict=True):
                outcome.settle(future)

        task = loop.create_task(run())
        task.add_done_callback(_tasks.discard)
        _tasks.add(task)

    # -- the loop's own connections (SQLite) ----------------------------------------

    def _keep(self, conn: Connection) -> Connection:
        with self._kept_lock:
            self._kept.append(conn)
        return conn

    def _loop_reader(self) -> Connection:
        conn = self._loop_conns.reader
        if conn is None or conn.closed:
            conn = self._loop_conns.reader = self._keep(self.engine.connect())
        return conn

    def _loop_writer(self) -> Connection:
        conn = self._loop_conns.writer
        if conn is None or conn.closed:
            conn = self._keep(self.engine.connect().execution_options(sqlite_begin="IMMEDIATE"))
            # Never wait on the loop for another process's write lock: fail at once
            # (then the batch goes to a thread that waits with the normal timeout).
            conn.connection.driver_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
            self._loop_conns.writer = conn
        return conn

    def close(self) -> None:
        """Close the connections event loops kept (before the engine is disposed)."""
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for conn in kept:
            with contextlib.suppress(Exception):
                conn.close()

    def lock(self, conn: Connection, *names: str) -> None:
        """Serialise writers that touch the same names (PostgreSQL advisory locks).

        Taken in sorted order so two transactions never wait on each other in a cycle.
        SQLite needs nothing: BEGIN IMMEDIATE already admits one writer at a time.
        """
        if not self.postgres:
            return
        for key in sorted({zlib.crc32(n.encode()) for n in names}):
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (key,))


class _Outcome:
    """What one write came to: its result or its exception."""

    __slots__ = ("error", "result")

    def __init__(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result = result
        self.error = error

    def settle(self, future: asyncio.Future[Any]) -> None:
        if future.done():
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.result)


class _Busy(Exception):
    """SQLite's write lock is held by another process (BEGIN IMMEDIATE failed at once)."""


_tasks: set[asyncio.Task[None]] = set()  # writes handed to threads, kept from the GC
