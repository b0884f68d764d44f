"""Per-account request rate limits: a token bucket per auth id (docs/reference.md#rate-limit).

Pure: the caller passes the monotonic time in. ``rate`` tokens per second refill up to
``burst``; a request takes one token or learns how long until one is there.
"""

from __future__ import annotations

import math
import threading


class TokenBuckets:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}  # key → (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> float:
        """0.0 if the request may go, else the seconds to wait before retrying."""
        with self._lock:
            tokens, at = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            if len(self._state) > 100_000:  # forget idle accounts rather than grow forever
                self._state.clear()
            return (1.0 - tokens) / self.rate


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
