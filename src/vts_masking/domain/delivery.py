"""What to do with an event after one delivery attempt: the sans-I/O core of the worker.

Nothing here touches the network, the database or the clock: the worker hands in the
attempt's outcome, the row's attempt count and creation time, ``now`` and a random source,
and reads back a :class:`Decision` (delivered, retry at a time, or failed). Tests drive it
with fixed values; the worker and the store apply it.

The retry schedule (docs/calls.md#delivery-and-signatures: "retried with exponential
back-off for at least 24 hours") is exponential with *full jitter*: the n-th retry waits a
uniform random time in ``[0, min(cap, base · 2^(n-1))]`` (floored at ``min_delay``), so a
crowd of events that failed together against one customer does not come back together. An
event whose attempt fails when it is already ``give_up_after`` old is marked failed and
kept; because the check is made *after* each failure, every event is tried for at least that
long.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

DELIVERED = "delivered"
RETRY = "retry"
FAILED = "failed"


class Random(Protocol):
    """The one method of :class:`random.Random` the schedule uses (tests inject a fake)."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 5.0  # seconds: the ceiling of the first retry's delay
    cap: float = 3600.0  # seconds: no delay is drawn from a wider window than this
    min_delay: float = 1.0  # seconds: a lucky draw of ~0 must not hammer a failing receiver
    give_up_after: float = 24 * 3600.0  # seconds since the event was created

    def ceiling(self, attempts: int) -> float:
        """The widest delay after the ``attempts``-th failed attempt (1-based)."""
        exponent = max(0, attempts - 1)
        # 2**exponent overflows float long after it passes any cap; stop doubling early.
        if exponent > 64:
            return self.cap
        return min(self.cap, self.base * (2.0**exponent))

    def delay(self, attempts: int, rng: Random) -> float:
        """Seconds to wait after the ``attempts``-th failure: full jitter, floored."""
        return max(self.min_delay, rng.random() * self.ceiling(attempts))


@dataclass(frozen=True)
class Attempt:
    """How one HTTP attempt went, as the worker saw it."""

    status_code: int | None = None  # the receiver's answer, if it answered
    error: str | None = None  # time-out, connection error, refused target …
    refused: bool = False  # the target is not allowed (guarded_http.py): never retried
    answer: str | None = None  # the start of the receiver's body (shown in the console)
    latency_ms: int = 0  # request sent → answer read (0 when nothing was sent)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str | None:
        """The text kept in ``last_error`` (None for a success)."""
        if self.ok:
            return None
        if self.error:
            return self.error[:500]
        return f"HTTP {self.status_code}"


@dataclass(frozen=True)
class Decision:
    kind: Literal["delivered", "retry", "failed"]
    next_attempt_at: datetime | None = None  # set for a retry


def decide(
    attempt: Attempt,
    *,
    attempts: int,
    created: datetime,
    now: datetime,
    policy: RetryPolicy,
    rng: Random,
) -> Decision:
    """The fate of an event after its ``attempts``-th attempt (counted at claim time)."""
    if attempt.ok:
        return Decision(DELIVERED)
    if attempt.refused:
        # The target is a private/loopback address or a bad scheme: trying again in an
        # hour will not change the customer's configuration, so fail now (kept, and the
        # operator can `events retry` it after allowing private callbacks).
        return Decision(FAILED)
    if (now - created).total_seconds() >= policy.give_up_after:
        return Decision(FAILED)
    delay = policy.delay(attempts, rng)
    return Decision(RETRY, now + timedelta(seconds=delay))


def default_rng() -> random.Random:
    # Jitter need not be unpredictable, only spread; SystemRandom would cost a syscall.
    return random.Random()
