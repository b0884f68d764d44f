"""The FastAPI application: routers, error mapping, trailing-slash tolerance, sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..clock import Clock
from ..config import Settings
from ..domain.ratelimit import TokenBuckets
from ..store import Store
from . import errors
from .routers import accounts, calls, numbers, sessions

log = logging.getLogger("vts_masking")


class TrailingSlash:
    """Serve every path with and without its trailing slash, without a redirect.

    SDKs always add the slash, the docs never do (spec §1); routes are declared
    without it and this strips one before routing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope, path=path.rstrip("/") or "/")
        await self.app(scope, receive, send)


async def sweeper(store: Store, interval: float) -> None:
    """Expire sessions whose time passed, forever (cancelled at shutdown)."""
    while True:
        try:
            while await run_in_threadpool(store.sessions.sweep) >= 500:
                pass
        except Exception:  # keep sweeping; the next pass retries the same rows
            log.exception("expiry sweep failed")
        try:
            while await run_in_threadpool(store.idempotency.sweep) >= 5000:
                pass
        except Exception:
            log.exception("idempotency key sweep failed")
        await asyncio.sleep(interval)


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    background: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    own_store = store is None
    store = store or Store(settings.resolved_database_url(), clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(store.migrate)
        tasks: list[asyncio.Task[Any]] = []
        if background:
            tasks.append(asyncio.create_task(sweeper(store, settings.sweep_interval)))
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

    app.add_middleware(TrailingSlash)
    return app
