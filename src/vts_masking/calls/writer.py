"""The call records' writer: one queue of every call's records, written in arrival order,
as many operations per transaction as are waiting (group commit) — by one thread
(:class:`RecordWriter`, PostgreSQL) or on the event loop (:class:`LoopRecordWriter`,
SQLite).

Each step of a call (``call_started``, ``leg_initiated`` …, about nine per call) used to
hop to a worker thread of its own and take the store's write lock and a transaction of
its own: nine GIL hand-offs between the SIP loop and the threads, nine BEGIN/COMMIT
pairs, and threads queueing on the lock. Here the loop only appends the step to a queue
(no waiting, no result); the one writer thread takes everything queued and runs it in one
write transaction (``CallLog.batch``), so under load a hand-off and a commit carry
many calls' steps. Order is kept: one queue, one thread — a call's steps run in the
order they were submitted, as with the per-call chain before.

Durability is unchanged in kind: a step is in memory until its batch commits (before,
until its worker thread ran), and every event is still written in the transaction of the
change that caused it. A batch is bounded (``max_batch``) so other writers (the API, the
outbox worker) wait on the store's lock a few milliseconds at most. A woken writer waits
``LINGER`` (20 ms) before it takes its batch, so that at moderate load, too, a transaction
carries several steps rather than one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("vts_masking.calls")

#: called on the writer thread once the step is committed (result, or the exception)
Done = Callable[[Any, BaseException | None], None]
Op = tuple[Callable[..., Any], tuple[Any, ...], Done | None]
#: opens one write transaction in which the steps run (``CallLog.batch``)
Transaction = Callable[[], contextlib.AbstractContextManager[Any]]

_STOP = object()

#: how long a woken writer waits for more steps before it writes (seconds). A call's
#: steps come one SIP message at a time; written as they come, at a hundred calls a
#: second nearly every step is a transaction of its own (BEGIN, the session's event
#: numbers, COMMIT): 5.0 ms of CPU a call, against 4.1 with the wait (docs/benchmarks.md).
#: The cost: a step's records and events reach the store up to this much later. The
#: call's signalling never waits for them; ``drain`` and each step chained after a
#: coroutine step (a recording's end) wait up to this much longer, each in turn.
LINGER = 0.02


class RecordWriter:
    """A queue of record operations drained by one thread, a batch per transaction."""

    def __init__(
        self, transaction: Transaction, *, max_batch: int = 256, linger: float = LINGER
    ) -> None:
        self._transaction = transaction
        self._max_batch = max_batch
        self._linger = linger
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: batches written, and batches that fell back to one transaction per step
        self.stats = {"batches": 0, "steps": 0, "fallbacks": 0}

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._main, name="vts-call-records", daemon=True
                    )
                    self._thread.start()

    def put(self, fn: Callable[..., Any], args: tuple[Any, ...], done: Done | None = None) -> None:
        """Queue ``fn(*args)`` after everything queued before it (returns at once)."""
        self._ensure_started()
        self._queue.put((fn, args, done))

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Queue ``fn(*args)`` and wait until it is committed (its result, or its exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle, future, result, error)

        self.put(fn, args, done)
        return await future

    async def drain(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._thread is not None:
            await self.run(_nothing, ())

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread once the queue is written (``drain`` first to wait for it)."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        self._thread = None

    def _main(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            if self._linger and self._queue.qsize() < self._max_batch:
                time.sleep(self._linger)  # let the steps of the next moments join
            batch: list[Op] = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[Op]) -> None:
        outcomes: list[tuple[Any, BaseException | None]]
        try:
            with self._transaction():
                outcomes = [(fn(*args), None) for fn, args, _ in batch]
        except Exception:
            # A step failed (or the commit did): everything is rolled back; each step
            # then runs alone in a transaction of its own, so one bad step costs only
            # itself (its state on the Python side is set again by the rerun).
            self.stats["fallbacks"] += 1
            outcomes = []
            for fn, args, _ in batch:
                try:
                    outcomes.append((fn(*args), None))
                except Exception as e:
                    _failed(fn)
                    outcomes.append((None, e))
        _report(self.stats, batch, outcomes)


#: runs ``fn(conn)`` in the loop's group commit (``Database.run_write``)
RunWrite = Callable[..., Awaitable[Any]]
#: joins a transaction begun by someone else (``CallLog.joined``)
Join = Callable[[Any], contextlib.AbstractContextManager[Any]]


class LoopRecordWriter:
    """The same queue, written on the event loop's own thread (the SQLite store).

    With a writer thread, the loop and the thread take turns at the GIL: SQLite gives it
    up around every statement, so each statement of a call's records is a hand-off, and
    a hand-off costs both threads CPU (measured: the records of a call cost 0.8 ms alone,
    1.5 ms beside a busy thread; ``docs/benchmarks.md``). Here one task on the loop takes
    everything queued and hands it to the store's group commit (``Database.run_write``),
    which runs it on the loop in one transaction with the other writes of the moment —
    no thread, no hand-off. Everything else is as with :class:`RecordWriter`: one queue,
    steps committed in order, a batch bounded by ``max_batch``, a failed batch rerun one
    step per transaction so a bad step costs only itself. ``put`` and ``run`` are called
    on the loop.
    """

    def __init__(
        self, run_write: RunWrite, join: Join, *, max_batch: int = 256, linger: float = LINGER
    ) -> None:
        self._run_write = run_write
        self._join = join
        self._max_batch = max_batch
        self._linger = linger
        self._queue: list[Op] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats = {"batches": 0, "steps": 0, "fallbacks": 0}

    def put(self, fn: Callable[..., Any], args: tuple[Any, ...], done: Done | None = None) -> None:
        """Queue ``fn(*args)`` after everything queued before it (returns at once)."""
        self._queue.append((fn, args, done))
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._main())
        assert self._wake is not None
        self._wake.set()

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Queue ``fn(*args)`` and wait until it is committed (its result, or its exception)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.put(fn, args, lambda result, error: _settle(future, result, error))
        return await future

    async def drain(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._task is not None:
            await self.run(_nothing, ())

    def close(self, timeout: float = 10.0) -> None:
        """Stop the task (``drain`` first: what is still queued is not written)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _main(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            if self._linger and len(self._queue) < self._max_batch:
                await asyncio.sleep(self._linger)  # let the steps of the next moments join
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._write(batch)

    async def _write(self, batch: list[Op]) -> None:
        def steps(conn: Any, ops: list[Op]) -> list[Any]:
            with self._join(conn):
                return [fn(*args) for fn, args, _ in ops]

        outcomes: list[tuple[Any, BaseException | None]]
        try:
            outcomes = [(r, None) for r in await self._run_write(steps, batch)]
        except Exception:
            self.stats["fallbacks"] += 1  # as RecordWriter._write: each step alone
            outcomes = []
            for op in batch:
                try:
                    outcomes.append(((await self._run_write(steps, [op]))[0], None))
                except Exception as e:
                    _failed(op[0])
                    outcomes.append((None, e))
        _report(self.stats, batch, outcomes)


def _failed(fn: Callable[..., Any]) -> None:
    log.exception("writing call records failed (%s)", getattr(fn, "__name__", fn))


def _report(
    stats: dict[str, int], batch: list[Op], outcomes: list[tuple[Any, BaseException | None]]
) -> None:
    """Count a written batch and tell each step's waiter its outcome."""
    stats["batches"] += 1
    stats["steps"] += len(batch)
    for (_fn, _args, done), (result, error) in zip(batch, outcomes, strict=True):
        if done is not None:
            try:
                done(result, error)
            except Exception:  # a closed loop at shutdown: nobody waits any more
                log.debug("a record step's waiter is gone", exc_info=True)


def _nothing() -> None:
    return None


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
