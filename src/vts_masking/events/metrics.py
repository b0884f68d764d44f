"""Prometheus counters for event delivery, rendered in the text exposition format 0.0.4.

Counters live in the process that delivers (``vts-masking serve`` or ``vts-masking
worker``); the outbox gauges are read from the database when scraped, so they are the same
whichever process is asked. No client library is needed for three counters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "delivered": "Events delivered (the receiver answered 2xx).",
    "retried": "Delivery attempts that failed and were scheduled again.",
    "failed": "Events given up (24 h of retries, or a refused target).",
}


class Counters:
    """Thread-safe monotonically increasing counters (one per outcome)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(_HELP, 0)

    def add(self, name: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self._values[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)


#: The process-wide counters the worker increments and ``/metrics`` reports.
COUNTERS = Counters()


def render(counters: Mapping[str, int], outbox: Mapping[str, int] | None = None) -> str:
    """The exposition text: one counter per outcome and the outbox by status."""
    lines: list[str] = []
    for name, help_text in _HELP.items():
        metric = f"vts_events_{name}_total"
        lines += [
            f"# HELP {metric} {help_text}",
            f"# TYPE {metric} counter",
            f"{metric} {counters.get(name, 0)}",
        ]
    if outbox is not None:
        lines += [
            "# HELP vts_events_outbox Events in the outbox by status (all processes).",
            "# TYPE vts_events_outbox gauge",
        ]
        lines += [f'vts_events_outbox{{status="{s}"}} {n}' for s, n in sorted(outbox.items())]
    return "\n".join(lines) + "\n"
