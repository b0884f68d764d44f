"""The retry schedule and the outcome decision (no sockets, no database, no clock)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from vts_masking.domain.delivery import Attempt, RetryPolicy, decide
from vts_masking.events.worker import WorkerConfig

T0 = datetime(2026, 1, 1, 12, 0, 0)
POLICY = RetryPolicy(base=5.0, cap=3600.0, min_delay=1.0, give_up_after=86400.0)


class Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    assert [POLICY.ceiling(n) for n in range(1, 6)] == [5, 10, 20, 40, 80]
    assert POLICY.ceiling(11) == 3600 and POLICY.ceiling(10_000) == 3600


def test_full_jitter_draws_between_the_floor_and_the_ceiling() -> None:
    rng = random.Random(1)
    for n in range(1, 30):
        for _ in range(50):
            assert POLICY.min_delay <= POLICY.delay(n, rng) <= POLICY.ceiling(n)
    assert POLICY.delay(3, Fixed(0.5)) == 10.0
    assert POLICY.delay(3, Fixed(0.0)) == 1.0  # floored


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_any_2xx_is_delivered(code: int) -> None:
    d = decide(
        Attempt(status_code=code), attempts=1, created=T0, now=T0, policy=POLICY, rng=Fixed(1)
    )
    assert d.kind == "delivered"


@pytest.mark.parametrize(
    "attempt",
    [
        Attempt(status_code=500),
        Attempt(status_code=302),
        Attempt(status_code=404),
        Attempt(error="timeout"),
        Attempt(error="ConnectError"),
    ],
)
def test_non_2xx_time_out_and_connection_errors_are_retried(attempt: Attempt) -> None:
    now = T0 + timedelta(seconds=30)
    d = decide(attempt, attempts=2, created=T0, now=now, policy=POLICY, rng=Fixed(1.0))
    assert d.kind == "retry" and d.next_attempt_at == now + timedelta(seconds=10)


def test_a_failure_just_before_24_hours_is_still_retried_and_at_24_hours_fails() -> None:
    almost = T0 + timedelta(hours=24) - timedelta(microseconds=1)
    args = {"attempts": 30, "created": T0, "policy": POLICY, "rng": Fixed(0.5)}
    assert decide(Attempt(status_code=503), now=almost, **args).kind == "retry"
    assert decide(Attempt(status_code=503), now=T0 + timedelta(hours=24), **args).kind == "failed"


def test_a_refused_target_fails_at_once() -> None:
    d = decide(
        Attempt(error="refused: x", refused=True),
        attempts=1,
        created=T0,
        now=T0,
        policy=POLICY,
        rng=Fixed(1),
    )
    assert d.kind == "failed"


def test_last_error_text() -> None:
    assert Attempt(status_code=200).describe() is None
    assert Attempt(status_code=502).describe() == "HTTP 502"
    assert Attempt(error="x" * 900).describe() == "x" * 500


def test_deadline_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValueError):
        WorkerConfig(lease=10.0, deadline=10.0)


def test_config_from_environment() -> None:
    config = WorkerConfig.from_env(
        {"VTS_EVENTS_LEASE": "9", "VTS_EVENTS_BACKOFF_BASE": "0.5", "VTS_EVENTS_CONCURRENCY": "8"}
    )
    assert config.lease == 9 and config.deadline == 3  # a third of the lease by default
    assert config.policy.base == 0.5 and config.concurrency == 8
    assert WorkerConfig.from_env({}) == WorkerConfig(deadline=20.0)
