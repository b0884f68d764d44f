"""The delivery worker's counters (delivered, retried, failed), on prometheus_client.

:data:`COUNTERS` is the process-wide set: the ``vts_events_*_total`` series of
``vts_masking.metrics`` that ``/metrics`` shows. A :class:`Counters` made without
arguments has series of its own, so a test can count one worker's outcomes alone.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from .. import metrics

NAMES = ("delivered", "retried", "failed")


class Counters:
    """One counter per delivery outcome, readable as a snapshot."""

    def __init__(self, counters: dict[str, Counter] | None = None) -> None:
        if counters is None:
            registry = CollectorRegistry()
            counters = {
                name: Counter(f"vts_events_{name}", name, registry=registry) for name in NAMES
            }
        self._counters = counters

    def add(self, name: str, n: int = 1) -> None:
        if n:
            self._counters[name].inc(n)

    def snapshot(self) -> dict[str, int]:
        # The client exposes the value through collect(): one sample named *_total each.
        values: dict[str, int] = {}
        for name, counter in self._counters.items():
            for family in counter.collect():
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        values[name] = int(sample.value)
        return values


#: The process-wide counters the worker increments and ``/metrics`` reports.
COUNTERS = Counters(
    {
        "delivered": metrics.EVENTS_DELIVERED,
        "retried": metrics.EVENTS_RETRIED,
        "failed": metrics.EVENTS_FAILED,
    }
)
