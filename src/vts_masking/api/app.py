"""The FastAPI application: routers, error mapping, trailing-slash tolerance, sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__, metrics
from ..clock import Clock
from ..config import Settings
from ..domain.ratelimit import TokenBuckets
from ..store import Store
from ..store.retention import RetentionPolicy
from . import errors, openapi
from .access import AccessLog
from .parsing import MAX_BODY
from .routers import accounts, calls, numbers, sessions

log = logging.getLogger("vts_masking")


class RequestShape:
    """What every request meets before routing.

    * Every path is served with and without its trailing slash, without a redirect:
      SDKs always add the slash, the family's docs never do; routes are declared
      without it and this strips one.
    * A path holding control characters (``%00`` decodes to NUL) names no resource:
      404, before any of it reaches a store query (PostgreSQL refuses NUL in text).
    * A declared ``Content-Length`` over the body limit is 413 before a byte of the
      body is read, whatever the route (those that read a body check again while it
      streams in: :func:`~vts_masking.api.parsing.read_body`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            refusal = _refusal(scope, path)
            if refusal is not None:
                status, message = refusal
                errors.count_refusal(status, f"{scope.get('method')} {path!r}: {message}")
                response = errors.error_response(status, message)
                await response(scope, receive, send)
                return
            if len(path) > 1 and path.endswith("/"):
                # in place, as the router fills in the route: the access log outside
                # reads the route template from this same scope (raw_path keeps the slash)
                scope["path"] = path.rstrip("/") or "/"
        await self.app(scope, receive, send)


def _refusal(scope: Scope, path: str) -> tuple[int, str] | None:
    if not path.isprintable():
        return 404, errors.HTTP_TEXTS[404]
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.strip()
            if not text.isdigit() or len(text) > 18:
                return 400, "Invalid Content-Length header."
            if int(text) > MAX_BODY:
                return 413, "Request body too large."
    return None


# Retention runs on the sweeper's passes: while a batch comes back full it goes on (at
# most RETENTION_BATCHES batches of each kind per pass, so expiry is never held up for
# long), and once it has caught up it looks again after RETENTION_IDLE seconds.
RETENTION_BATCHES = 10
RETENTION_IDLE = 60.0


async def sweeper(store: Store, interval: float, retention: RetentionPolicy | None = None) -> None:
    """Expire sessions whose time passed, drop old idempotency keys and prune what the
    retention policy no longer keeps, forever (cancelled at shutdown). The three are
    independent: one failing never stops another, and a failure that repeats every
    second is logged once a minute."""
    last_logged: dict[str, float] = {}
    retention_due = -math.inf  # monotonic time of the next retention pass

    def failed(what: str) -> None:
        now = time.monotonic()
        if now - last_logged.get(what, -math.inf) >= 60.0:
            last_logged[what] = now
            log.exception("%s failed (retried every %.1f s; logged once a minute)", what, interval)

    while True:
        try:
            while True:
                expired = await run_in_threadpool(store.sessions.sweep)
                metrics.SESSIONS_EXPIRED.labels("timeout").inc(expired)
                if expired < 500:
                    break
        except Exception:  # keep sweeping; the next pass retries the same rows
            failed("expiry sweep")
        try:
            while await run_in_threadpool(store.idempotency.sweep) >= 5000:
                pass
        except Exception:
            failed("idempotency key sweep")
        if retention is not None and retention.enabled and time.monotonic() >= retention_due:
            try:
                more = await prune_some(store, retention)
                retention_due = time.monotonic() + (0.0 if more else RETENTION_IDLE)
            except Exception:
                failed("retention sweep")
        await asyncio.sleep(interval)


async def prune_some(store: Store, retention: RetentionPolicy) -> bool:
    """Up to :data:`RETENTION_BATCHES` retention batches; whether more are waiting."""
    for _ in range(RETENTION_BATCHES):
        pruned = await run_in_threadpool(store.retention.prune, retention)
        metrics.RETENTION_PRUNED.labels("events").inc(pruned.events)
        metrics.RETENTION_PRUNED.labels("sessions").inc(pruned.sessions)
        if not pruned.more:
            return False
    return True


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    background: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    own_store = store is None
    store = store or Store(settings.resolved_database_url(), clock, pool_size=settings.db_pool_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(store.migrate)
        tasks: list[asyncio.Task[Any]] = []
        if background:
            tasks.append(
                asyncio.create_task(
                    sweeper(store, settings.sweep_interval, settings.retention_policy())
                )
            )
        for hook in app.state.startup_hooks:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(app.state.shutdown_hooks):
                with contextlib.suppress(Exception):
                    await hook(app)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if own_store:
                store.close()

    app = FastAPI(
        title="VTS Number Masking",
        version=__version__,
        description="The VTS masking API: masking sessions, numbers, accounts, calls.",
        lifespan=lifespan,
    )
    store.public_url = settings.base_url()
    store.session_fee = settings.session_fee
    app.state.store = store
    app.state.settings = settings
    app.state.rate_limits = (
        TokenBuckets(settings.rate_limit, settings.rate_limit_burst)
        if settings.rate_limit > 0
        else None
    )
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    errors.install(app)
    for module in (sessions, numbers, accounts, calls):
        app.include_router(module.router)

    @app.get("/health", tags=["Operations"], summary="Liveness (no auth)")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    openapi.install(app)  # the contract at /openapi.json; /docs and /redoc offline

    app.add_middleware(RequestShape)
    # Outermost, so requests RequestShape refuses are logged and counted too; it sees the
    # route template because RequestShape and the router fill in the scope it passes on.
    app.add_middleware(AccessLog)
    return app
