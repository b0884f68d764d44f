"""The one clock every expiring thing reads (sessions, cool-offs, timers, retries).

Production code asks a :class:`Clock` for the time; tests hand in a :class:`FrozenClock`
and move it, so nothing waits in real time to see an expiry.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    """Current UTC time as a naive datetime with whole-microsecond precision."""
    return datetime.now(UTC).replace(tzinfo=None)


class Clock:
    """Real time: wall clock for stored timestamps, monotonic for timers."""

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()


class FrozenClock(Clock):
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, 12, 0, 0)
        self._mono = 1000.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds

    def set(self, when: datetime) -> None:
        with self._lock:
            self._mono += (when - self._now).total_seconds()
            self._now = when
