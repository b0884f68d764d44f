"""The access log and the HTTP metrics: one line and one histogram sample per request.

A pure ASGI middleware (no body buffering). The line names the method, the path as sent,
the status, the time taken and the account that authenticated (set by
``deps.principal``); never a header, so never a token. The metric is labelled by route
*template* (``/v1/Account/{auth_id}/Masking/Session/{session_uuid}``), never the raw
path, so the series stay few whatever the traffic.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import metrics
from ..logs import fields

log = logging.getLogger("vts_masking.access")

UNMATCHED = "(unmatched)"  # the route label of requests no route took (404s, probes)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        scope.setdefault("state", {})  # shared with the Request the route builds

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            raw = scope.get("raw_path")
            path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
            path = path.split("?", 1)[0]
            account = scope["state"].get("account")
            series = (method, route_template(scope), str(status))
            metrics.child(metrics.HTTP_REQUESTS, *series).observe(elapsed)
            if log.isEnabledFor(logging.INFO):  # not built at all under --log-level warning
                ms = round(elapsed * 1000, 1)
                log.info(
                    "%s %s %d %.1f ms",
                    method,
                    path,
                    status,
                    ms,
                    extra=fields(
                        ("method", "path", "status", "ms"),
                        method=method,
                        path=path,
                        status=status,
                        ms=ms,
                        account=account,
                    ),
                )
