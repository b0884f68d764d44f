"""Bad input from outside, counted and logged without flooding the log.

Anyone on the network can send the service garbage as fast as they like: a WARNING per
bad request or datagram would turn the log into the attacker's. :func:`note` counts
every occurrence by *kind* (a short fixed label such as ``"http_400"`` or
``"unsafe_url"``, never the input itself, so the label set stays small) and logs at
most one line per kind per :data:`LOG_EVERY` seconds, saying how many were suppressed
since the last line.

:data:`COUNTS` is a plain thread-safe counter the operator's metrics page can render
(``vts_bad_input_total{kind=...}``); nothing here depends on a metrics library.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("vts_masking.badinput")

LOG_EVERY = 60.0  # seconds between two log lines of one kind


class BadInput:
    """Counts by kind, and a rate-limited log line per kind."""

    def __init__(
        self,
        *,
        log_every: float = LOG_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last_log: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.log_every = log_every
        self._monotonic = monotonic
        self._log = logger

    def note(self, kind: str, detail: str = "", level: int = logging.WARNING) -> None:
        """Count one occurrence of ``kind``; log it unless one was logged recently."""
        now = self._monotonic()
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            last = self._last_log.get(kind)
            if last is not None and now - last < self.log_every:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last_log[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        more = f" ({suppressed} more since the last line)" if suppressed else ""
        self._log.log(level, "bad input (%s): %s%s", kind, detail[:200], more)

    def snapshot(self) -> dict[str, int]:
        """Occurrences so far by kind."""
        with self._lock:
            return dict(self._counts)


#: The process-wide counter (API refusals, refused outbound URLs, bad SIP input).
COUNTS = BadInput()


def note(kind: str, detail: str = "", level: int = logging.WARNING) -> None:
    COUNTS.note(kind, detail, level)
