"""The log formats, the warning rate limit and the metrics page (no sockets, no database)."""

from __future__ import annotations

import json
import logging
import sys

from prometheus_client.parser import text_string_to_metric_families

from vts_masking import metrics
from vts_masking.events.metrics import Counters
from vts_masking.logs import JsonFormatter, RateLimit, TextFormatter, fields
from vts_masking.sip.message import Request, Response


def record(
    msg: str, *args: object, level: int = logging.INFO, name: str = "vts_masking.x", **extra: object
) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_text_lines_carry_the_fields_not_already_in_the_message() -> None:
    extra = fields(("status",), status=200, account="MA123", path="/a b")
    line = TextFormatter().format(record("GET %d", 200, **extra))
    assert line.endswith('vts_masking.x: GET 200 account=MA123 path="/a b"')
    assert "status=" not in line


def test_a_field_value_cannot_start_a_forged_text_line() -> None:
    forged = "x\n2026-12-01 00:00:00 INFO vts_masking.api: admin signed in"
    line = TextFormatter().format(record("call ended", **fields(caller=forged)))
    assert "\n" not in line
    assert 'caller="x\\n2026' in line


def test_a_message_argument_cannot_start_a_forged_text_line() -> None:
    line = TextFormatter().format(record("bad header %s", "a\r\nb\u2028c\x1b[31m"))
    assert line.endswith("bad header a\\r\\nb\\u2028c\\u001b[31m")


def test_a_traceback_keeps_its_own_lines_in_the_text_format() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = TextFormatter().format(rec)
    assert line.splitlines()[0].endswith("x: failed")
    assert "ValueError: boom" in line.splitlines()[-1]


def test_json_lines_carry_every_field_as_a_key() -> None:
    extra = fields(("status",), status=200, account="MA123")
    data = json.loads(JsonFormatter().format(record("GET %d", 200, **extra)))
    assert data["message"] == "GET 200" and data["status"] == 200
    assert data["account"] == "MA123" and data["level"] == "info"


def test_repeated_traffic_warnings_are_dropped_then_counted() -> None:
    now = [0.0]
    limit = RateLimit(burst=2, window=60, clock=lambda: now[0])

    def warn() -> logging.LogRecord:
        return record("bad from %s", "1.2.3.4", level=logging.WARNING, name="vts_masking.sip")

    assert [limit.filter(warn()) for _ in range(5)] == [True, True, False, False, False]
    now[0] = 61.0
    later = warn()
    assert limit.filter(later) and later.fields == {"suppressed": 3}


def test_errors_and_other_loggers_are_never_rate_limited() -> None:
    limit = RateLimit(burst=1, window=60, clock=lambda: 0.0)
    errors = [record("x", level=logging.ERROR, name="vts_masking.sip") for _ in range(3)]
    events = [record("y", level=logging.WARNING, name="vts_masking.events") for _ in range(3)]
    assert all(limit.filter(r) for r in errors + events)


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_sip_messages_are_counted_by_method_and_status() -> None:
    invite = Request("INVITE", "sip:+1@x", [("CSeq", "1 INVITE")])
    ringing = Response(180, headers=[("CSeq", "1 INVITE")])
    odd = Request("FROBNICATE", "sip:+1@x", [("CSeq", "1 FROBNICATE")])
    before = (
        _sample("vts_sip_requests_total", direction="in", method="INVITE"),
        _sample("vts_sip_responses_total", direction="out", method="INVITE", status="180"),
        _sample("vts_sip_requests_total", direction="in", method="other"),
    )
    metrics.sip_message("in", invite)
    metrics.sip_message("out", ringing)
    metrics.sip_message("in", odd)
    metrics.sip_message("out", b"SIP/2.0 180 Ringing\r\nVia: x\r\nCSeq: 1 INVITE\r\n\r\n")
    after = (
        _sample("vts_sip_requests_total", direction="in", method="INVITE"),
        _sample("vts_sip_responses_total", direction="out", method="INVITE", status="180"),
        _sample("vts_sip_requests_total", direction="in", method="other"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 2, 1]  # objects and bytes


def test_the_page_parses_as_prometheus_text_with_the_delivery_series() -> None:
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    for name in (
        "vts_events_delivered",
        "vts_events_retried",
        "vts_events_failed",
        "vts_calls_started",
        "vts_calls_active",
        "vts_http_request_duration_seconds",
        "vts_sip_requests",
        "vts_rtp_ports_in_use",
        "vts_sessions_created",
        "python_gc_collections",  # full collections pause the SIP loop: visible
    ):
        assert name in families, name
    assert families["vts_events_delivered"].type == "counter"


def test_private_counters_count_apart_from_the_process_wide_ones() -> None:
    counters = Counters()
    counters.add("delivered", 3)
    counters.add("retried")
    assert counters.snapshot() == {"delivered": 3, "retried": 1, "failed": 0}
