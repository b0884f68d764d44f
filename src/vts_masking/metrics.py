"""Prometheus metrics of one service process, with the official client library.

Counters and histograms live in the process that did the work (``serve`` or ``worker``)
and are incremented where it happens, through the few functions and objects here (a
leaf module: it imports nothing of the project but the leaf ``badinput``, so ``sip/``,
``media/``, ``calls/``, ``api/`` and ``events/`` may all call it). Gauges that describe
the shared database — live sessions, pool use per account, the outbox by status — are
read from the store when ``/metrics`` is scraped (:class:`StoreCollector`), so every
process reports the same values for them.

Several processes: each one serves its own ``/metrics`` (``serve`` on its HTTP port,
``worker --metrics-port``) and Prometheus scrapes each as its own target, summing
counters across them; prometheus_client's multiprocess mode is not used (nor needed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from . import badinput  # a leaf too: counts by kind, rendered below

# Each counter's *_created twin doubles the page for nothing an operator reads.
prometheus_client.disable_created_metrics()

# The classic text format, which every Prometheus (and every other scraper) reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: the process's own series (not prometheus_client's default registry, so importing
#: the service into a test process or another app never mixes registries)
REGISTRY = CollectorRegistry(auto_describe=True)
# The garbage collector's collections per generation (``python_gc_collections_total``):
# a full collection (generation 2) pauses the event loop for tens of milliseconds on a
# busy SIP edge, so an operator (and bench/sip/run.py) can see how often one came.
GCCollector(registry=REGISTRY)

# -- calls ---------------------------------------------------------------------------------

CALLS_STARTED = Counter(
    "vts_calls_started", "Calls the SIP edge took on (inbound or originated).", registry=REGISTRY
)
CALLS_ACTIVE = Gauge("vts_calls_active", "Calls in progress in this process.", registry=REGISTRY)
CALLS_ENDED = Counter(
    "vts_calls_ended",
    "Calls ended, by the hangup cause of the leg that ended first.",
    ["hangup_cause"],
    registry=REGISTRY,
)
CALL_SETUP = Histogram(
    "vts_call_setup_seconds",
    "From the call's first leg to both parties connected (includes ringing).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
    registry=REGISTRY,
)
CALL_ROUTING = Histogram(
    "vts_call_routing_seconds",
    "From an inbound INVITE to the routing decision (the store lookup).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
    registry=REGISTRY,
)

# -- SIP -----------------------------------------------------------------------------------

SIP_REQUESTS = Counter(
    "vts_sip_requests",
    "SIP requests received (direction=in) and sent (direction=out), retransmissions included.",
    ["direction", "method"],
    registry=REGISTRY,
)
SIP_RESPONSES = Counter(
    "vts_sip_responses",
    "SIP responses received and sent, by the method answered and the status code.",
    ["direction", "method", "status"],
    registry=REGISTRY,
)


class _SipTransportStats(Collector):
    """The SIP transport's own counters (``SipTransport.stats``), read at scrape time."""

    HELP = {
        "malformed": "SIP messages (or TCP streams) that could not be parsed.",
        "tcp_idle_closed": "TCP connections the SIP edge closed for idling.",
        "tcp_overflow": "TCP connections the SIP edge closed for sending too much.",
    }

    def __init__(self) -> None:
        self.stats: dict[str, int] | None = None

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self.stats or {}
        for key, text in self.HELP.items():
            family = CounterMetricFamily(f"vts_sip_{key}", text)
            family.add_metric([], stats.get(key, 0))
            yield family


_SIP_STATS = _SipTransportStats()
REGISTRY.register(_SIP_STATS)


def watch_sip_transport(stats: dict[str, int]) -> None:
    """Report this transport's counters (the SIP edge of this process)."""
    _SIP_STATS.stats = stats


class _CallRefusals(Collector):
    """Calls the engine refused with 503 because it could not relay them (the engine's
    ``stats``), read at scrape time: a pool of RTP ports too small shows here first."""

    REASONS = {
        "no_media_ports": "refused_no_media_ports",
        "media_disabled": "refused_media_disabled",
    }

    def __init__(self) -> None:
        self.stats: dict[str, int] | None = None

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self.stats or {}
        family = CounterMetricFamily(
            "vts_calls_refused",
            "Calls refused 503 because the relay could not carry them, by reason.",
            labels=["reason"],
        )
        for reason, key in self.REASONS.items():
            family.add_metric([reason], stats.get(key, 0))
        yield family


_CALL_REFUSALS = _CallRefusals()
REGISTRY.register(_CALL_REFUSALS)


def watch_call_refusals(stats: dict[str, int]) -> None:
    """Report this call engine's refusal counters."""
    _CALL_REFUSALS.stats = stats


class _BadInput(Collector):
    """Refusals of bad input by kind (``vts_masking.badinput``), read at scrape time."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "vts_bad_input",
            "Bad input refused, by kind (HTTP 4xx, unsafe URLs, SIP).",
            labels=["kind"],
        )
        for kind, n in sorted(badinput.COUNTS.snapshot().items()):
            family.add_metric([kind], n)
        yield family


REGISTRY.register(_BadInput())
_KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK"}
    | {"SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE"}
)


_CSEQ = re.compile(rb"\r\nCSeq:[ \t]*\d+[ \t]+([A-Za-z]+)", re.IGNORECASE)


# A metric's child per label values, found once: ``labels()`` validates and takes a lock
# on every call, a measurable part of a SIP message's cost at a few hundred calls a
# second. The SIP label values are bounded (known methods, three-digit statuses); the
# HTTP method is the client's (the HTTP parser knows a fixed set); the cache stops
# growing at a size no real traffic reaches, whatever comes.
_CHILDREN: dict[tuple[Any, ...], Any] = {}
_CHILDREN_MAX = 4096


def child(metric: Counter | Histogram, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once per distinct ``values``."""
    key = (metric, *values)
    found = _CHILDREN.get(key)
    if found is None:
        found = metric.labels(*values)
        if len(_CHILDREN) < _CHILDREN_MAX:
            _CHILDREN[key] = found
    return found


def _count_bytes(direction: str, data: bytes) -> None:
    """A message the transaction layer keeps serialised (final responses it retransmits)."""
    if data.startswith(b"SIP/2.0 "):
        found = _CSEQ.search(data)
        answered = found.group(1).decode().upper() if found else "other"
        if answered not in _KNOWN_METHODS:
            answered = "other"
        child(SIP_RESPONSES, direction, answered, data[8:11].decode(errors="replace")).inc()
        return
    method = data.split(b" ", 1)[0].decode(errors="replace")
    child(SIP_REQUESTS, direction, method if method in _KNOWN_METHODS else "other").inc()


def sip_message(direction: str, message: Any) -> None:
    """Count one SIP request or response (``message`` has ``method``, or ``status`` and
    ``cseq``, or is its bytes). Unknown methods share one label, so a fuzzer cannot mint
    new series."""
    if isinstance(message, bytes | bytearray):
        _count_bytes(direction, bytes(message))
        return
    method = getattr(message, "method", None)
    if method is not None:
        child(SIP_REQUESTS, direction, method if method in _KNOWN_METHODS else "other").inc()
        return
    status = getattr(message, "status", None)
    if status is None:
        return
    try:
        answered = message.cseq[1]
    except Exception:
        answered = "other"
    if answered not in _KNOWN_METHODS:
        answered = "other"
    child(SIP_RESPONSES, direction, answered, str(status)).inc()


# -- media ---------------------------------------------------------------------------------

RTP_PORTS = Gauge(
    "vts_rtp_ports_in_use", "RTP relay ports held by calls in this process.", registry=REGISTRY
)


def watch_rtp_ports(count: Callable[[], float]) -> None:
    """Read the relay's port count at scrape time (the allocator knows it exactly)."""
    RTP_PORTS.set_function(count)


# -- sessions ------------------------------------------------------------------------------

SESSIONS_CREATED = Counter(
    "vts_sessions_created", "Masking sessions created by this process.", registry=REGISTRY
)
RETENTION_PRUNED = Counter(
    "vts_retention_pruned",
    "Rows the retention sweep deleted: kind=events (finished outbox rows) or sessions "
    "(ended sessions with their call records).",
    ["kind"],
    registry=REGISTRY,
)
SESSIONS_EXPIRED = Counter(
    "vts_sessions_expired",
    "Masking sessions ended by this process: reason=timeout (expiry swept) or deleted.",
    ["reason"],
    registry=REGISTRY,
)

# -- HTTP ----------------------------------------------------------------------------------

HTTP_REQUESTS = Histogram(
    "vts_http_request_duration_seconds",
    "HTTP requests by method, route template and status code, with their duration.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    registry=REGISTRY,
)

# -- event deliveries (names kept from the hand-written exposition before) ----------------

EVENTS_DELIVERED = Counter(
    "vts_events_delivered", "Events delivered (the receiver answered 2xx).", registry=REGISTRY
)
EVENTS_RETRIED = Counter(
    "vts_events_retried",
    "Delivery attempts that failed and were scheduled again.",
    registry=REGISTRY,
)
EVENTS_FAILED = Counter(
    "vts_events_failed",
    "Events given up (24 h of retries, or a refused target).",
    registry=REGISTRY,
)


class StoreCollector(Collector):
    """Gauges read from the database at scrape time (the same in every process)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        live = GaugeMetricFamily(
            "vts_sessions_active", "Masking sessions not yet expired (all processes)."
        )
        live.add_metric([], self.store.operator.live_sessions())
        yield live
        total = GaugeMetricFamily(
            "vts_pool_numbers", "Virtual numbers in service, per pool (auth_id).", labels=["pool"]
        )
        busy = GaugeMetricFamily(
            "vts_pool_numbers_in_use",
            "Virtual numbers carrying at least one live session, per pool.",
            labels=["pool"],
        )
        ratio = GaugeMetricFamily(
            "vts_pool_utilisation",
            "Share of a pool's numbers carrying a live session (0 to 1).",
            labels=["pool"],
        )
        for pool in self.store.operator.pool_usage():
            total.add_metric([pool.auth_id], pool.numbers)
            busy.add_metric([pool.auth_id], pool.in_use)
            ratio.add_metric([pool.auth_id], pool.in_use / pool.numbers if pool.numbers else 0)
        yield from (total, busy, ratio)
        outbox = GaugeMetricFamily(
            "vts_events_outbox",
            "Events in the outbox by status (all processes).",
            labels=["status"],
        )
        counts = self.store.deliveries.counts(("pending", "delivering", "failed"))
        for status, n in sorted(counts.items()):
            outbox.add_metric([status], n)
        yield outbox


class _Page:
    """The registries one scrape renders, in order."""

    def __init__(self, collectors: Iterable[Any]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Any]:
        for collector in self.collectors:
            yield from collector.collect()


def render(store: Any | None = None, extra: Iterable[Any] = ()) -> bytes:
    """The exposition page: this process's series, the store's gauges, then ``extra``
    collectors (the SIP edge's trunks). Blocking (the store gauges run queries): call it
    on a worker thread from async code."""
    parts: list[Any] = [REGISTRY]
    if store is not None:
        parts.append(StoreCollector(store))
    parts.extend(extra)
    return generate_latest(_Page(parts))  # type: ignore[arg-type]
