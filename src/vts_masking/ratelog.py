"""Warnings about input from outside, rate-limited so that a flood cannot flood the log.

A peer that sends garbage (malformed SIP datagrams, a burst of calls when the RTP ports
are gone) should leave a trace, but not one log line per packet: :class:`RateLimitedLog`
writes at most ``burst`` lines per ``interval`` seconds for each kind of event (its
``key``), counts what it held back, and says how many were held back with the next line
it writes for that key. Counting for metrics is the caller's business (a plain counter
beside it), so the numbers do not depend on the log level.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """``warning(key, msg, *args)`` at most ``burst`` times per ``interval`` s per key."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 60.0,
        burst: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.burst = burst
        self._clock = clock
        # key → [window start, lines written in the window, lines held back since last]
        self._windows: dict[str, list[float]] = {}

    def warning(self, key: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` at WARNING unless ``key`` used its burst; True if written."""
        now = self._clock()
        w = self._windows.get(key)
        if w is None or now - w[0] >= self.interval:
            held = int(w[2]) if w is not None else 0
            w = [now, 0.0, float(held)]
            if len(self._windows) > 1000:
                self._windows.clear()  # keys are a small fixed set; never grow unbounded
            self._windows[key] = w
        if w[1] >= self.burst:
            w[2] += 1
            return False
        w[1] += 1
        held = int(w[2])
        w[2] = 0
        if held:
            self.logger.warning(msg + " (%d similar held back)", *args, held)
        else:
            self.logger.warning(msg, *args)
        return True

    def held_back(self, key: str) -> int:
        """Lines not written for ``key`` since the last one that was."""
        w = self._windows.get(key)
        return int(w[2]) if w is not None else 0
