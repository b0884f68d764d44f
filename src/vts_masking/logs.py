"""Logging for the service's processes: one format for every line, text or JSON.

``setup(level, fmt)`` is called once by ``serve``, ``worker`` and ``demo``. Lines say
what happened in plain words; the facts a machine wants (call uuid, status, ms, account)
travel as *fields*: ``log.info("call ended", extra=fields(call_uuid=..., ...))``. The text
format writes them after the message as ``key=value``; ``--log-format json`` writes one
JSON object per line with the fields as keys.

Warnings about other people's traffic are rate-limited per message template
(:class:`RateLimit`): a flood of bad traffic (malformed SIP, odd SDP) costs a few lines
a minute, then one line saying how many like it were dropped, instead of a disk full of
repeats.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

Format = Literal["text", "json"]
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

#: the loggers that speak of other people's traffic (malformed SIP, odd SDP, RTP from
#: the wrong address): their warnings are the ones a flood can multiply
TRAFFIC_LOGGERS = ("vts_masking.sip", "vts_masking.calls", "vts_masking.media")
#: a handler's filter lets this many warnings of one template through per window
WARNINGS_PER_WINDOW = 5
WINDOW_SECONDS = 60.0


def fields(in_message: tuple[str, ...] = (), **values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the structured facts of the line. Those named in
    ``in_message`` are already written in the message, so the text format leaves them
    out (JSON keeps every one)."""
    return {"fields": values, "fields_in_message": in_message}


# C0 and C1 controls, DEL and the Unicode line/paragraph separators: any of them in a
# value that came from a request (a header, a URL, a SIP From) could start a forged line
# or hide part of one, so the text format never writes them raw.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(text: str) -> str:
    """``text`` with every unsafe character written as its JSON escape (``\\n``, ``\\u0085``)."""
    return _UNSAFE.sub(lambda m: json.dumps(m.group())[1:-1], text)


def _value(v: Any) -> str:
    text = str(v)
    if not text or any(c in text for c in ' "=') or _UNSAFE.search(text):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    """``2026-12-01 20:50:01 INFO vts_masking.calls: call ended call_uuid=… cause=…``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The message may carry request-derived text; the traceback appended after it by
        # format() is ours and keeps its newlines.
        record.message = _escape(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra: Mapping[str, Any] | None = getattr(record, "fields", None)
        if extra:
            shown = getattr(record, "fields_in_message", ())
            tail = " ".join(
                f"{k}={_value(v)}" for k, v in extra.items() if v is not None and k not in shown
            )
            if tail:
                # Put the fields before any traceback, on the message's own line.
                head, sep, rest = line.partition("\n")
                line = f"{head} {tail}{sep}{rest}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra: Mapping[str, Any] | None = getattr(record, "fields", None)
        if extra:
            for key, value in extra.items():
                data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class RateLimit(logging.Filter):
    """At most ``burst`` warnings of one (logger, template) per ``window`` seconds, for
    the :data:`TRAFFIC_LOGGERS`.

    The first line after a window in which some were dropped carries
    ``suppressed=N``. Errors and lines below WARNING are never dropped: an operator must
    see every failure of the service itself; only the noise of other people's traffic
    repeats this much.
    """

    def __init__(
        self,
        burst: int = WARNINGS_PER_WINDOW,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        # (logger, template) -> [window start, passed in window, dropped in window]
        self._seen: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or not record.name.startswith(TRAFFIC_LOGGERS):
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is None or now - entry[0] >= self.window:
                dropped = int(entry[2]) if entry is not None else 0
                if len(self._seen) > 1000:
                    self._seen.clear()
                self._seen[key] = [now, 1, 0]
                if dropped:
                    extra = dict(getattr(record, "fields", None) or {})
                    extra["suppressed"] = dropped
                    record.fields = extra
                return True
            if entry[1] < self.burst:
                entry[1] += 1
                return True
            entry[2] += 1
            return False


def setup(level: str = "info", fmt: Format = "text", stream: Any = None) -> logging.Handler:
    """Route every logger (ours, uvicorn's) to one handler on stderr in ``fmt``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own lines go through our handler, in our format; its access log is
    # replaced by ours (api/access.py), which names the account and the route.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every callback request at INFO; the event worker logs its own lines
    # (failures with their reason and next attempt), so keep httpx for its warnings.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # Alembic says "Context impl SQLiteImpl." at every start; only its warnings matter.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpcore").setLevel(max(logging.WARNING, root.level))
    return handler
