"""Per-account token buckets (429 with Retry-After)."""

from __future__ import annotations

from vts_masking.domain.ratelimit import TokenBuckets, retry_after_header


def test_burst_then_refused_until_a_token_refills() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("MA1", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("MA1", 0.0) == 0.5
    assert buckets.take("MA1", 0.5) == 0.0


def test_accounts_have_their_own_buckets() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1)
    assert buckets.take("MA1", 0.0) == 0.0
    assert buckets.take("MA2", 0.0) == 0.0
    assert buckets.take("MA1", 0.0) > 0


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(2.1) == "3"
