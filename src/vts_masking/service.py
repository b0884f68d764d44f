"""Assembles the whole service for ``vts-masking serve``: the HTTP API with its expiry
sweeper, the SIP edge (call engine), and the event delivery worker."""

from __future__ import annotations

from fastapi import FastAPI

from .api.app import create_app
from .clock import Clock
from .config import Settings
from .store import Store


def build_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    background: bool = True,
) -> FastAPI:
    app = create_app(settings, store=store, clock=clock, background=background)
    from .console.routes import router as console_router
    from .events.api import router as metrics_router
    from .events.worker import start_worker, stop_worker

    app.include_router(metrics_router)
    app.include_router(console_router)
    if background and settings.worker_enabled:
        app.state.startup_hooks.append(start_worker)
        app.state.shutdown_hooks.append(stop_worker)
    if settings.sip_enabled:
        from .calls.engine import CallEngine
        from .calls.trunk_status import prometheus_lines
        from .calls.trunk_status import router as trunks_router
        from .sip.tls import TlsConfigError
        from .sip.trunks import TrunkConfigError

        try:
            engine = CallEngine(app.state.store, settings, clock)
        except (TrunkConfigError, TlsConfigError) as exc:
            # the operator's configuration, not a bug: say what is wrong, no traceback
            raise SystemExit(f"vts-masking: {exc}") from None
        app.state.calls = engine
        app.include_router(trunks_router)
        app.state.metrics_sources = [lambda: prometheus_lines(engine)]

        async def start_calls(_app: FastAPI) -> None:
            await engine.start()

        async def stop_calls(_app: FastAPI) -> None:
            await engine.stop()

        app.state.startup_hooks.append(start_calls)
        app.state.shutdown_hooks.append(stop_calls)
    return app
