"""Assembles and runs the whole service for ``vts-masking serve``: the HTTP API with its
expiry sweeper, the SIP edge (call engine), the event delivery worker and ``/metrics``.

:func:`build_app` is the app (tests run it on a thread); :func:`run` is ``serve``: it
binds the HTTP port itself and runs the app's start-up before serving, so a port that
is taken or an address that is not this machine's ends in one line naming the port and
the option that changes it, not in a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI

from . import collector
from .api.app import create_app
from .clock import Clock
from .config import Settings
from .store import Store

log = logging.getLogger("vts_masking")


class ListenError(Exception):
    """A socket the service needs could not be bound; says which and how to change it."""

    def __init__(self, what: str, host: str, port: int, option: str, exc: OSError) -> None:
        self.what, self.host, self.port, self.option = what, host, port, option
        if exc.errno == errno.EADDRINUSE:
            why = "already in use (by another vts-masking serve, or another program)"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = f"not available: {host} is not an address of this machine"
        elif exc.errno == errno.EACCES:
            why = "not allowed (ports below 1024 need privileges)"
        else:
            why = f"not usable: {exc.strerror or exc}"
        super().__init__(f"{what} port {host}:{port} is {why}. Choose another with {option}.")


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
        from .api.routers.trunks import router as trunks_router
        from .calls.engine import CallEngine, host_port
        from .calls.trunk_status import TrunkCollector, snapshot
        from .sip.tls import TlsConfigError
        from .sip.trunks import TrunkConfigError

        try:
            engine = CallEngine(app.state.store, settings, clock)
        except (TrunkConfigError, TlsConfigError) as exc:
            # the operator's configuration, not a bug: say what is wrong, no traceback
            raise SystemExit(f"vts-masking: {exc}") from None
        app.state.calls = engine
        app.state.trunk_snapshot = lambda: snapshot(engine)
        app.include_router(trunks_router)
        app.state.metrics_collectors = [TrunkCollector(engine)]

        async def start_calls(_app: FastAPI) -> None:
            try:
                await engine.start()
            except OSError as exc:
                host, port = host_port(settings.sip_listen)
                option = "--sip-listen HOST:PORT (VTS_SIP_LISTEN)"
                raise ListenError("SIP", host, port, option, exc) from None

        async def stop_calls(_app: FastAPI) -> None:
            await engine.stop()

        app.state.startup_hooks.append(start_calls)
        app.state.shutdown_hooks.append(stop_calls)
    return app


def bind_http(
    host: str,
    port: int,
    *,
    what: str = "HTTP",
    option: str = "--port (VTS_PORT)",
    host_option: str = "--host (VTS_HOST)",
) -> socket.socket:
    """The HTTP listening socket, bound here so a failure can name the option."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        change = option if exc.errno == errno.EADDRINUSE else host_option
        raise ListenError(what, host, port, change, exc) from None
    except (socket.gaierror, UnicodeError) as exc:
        sock.close()
        raise ListenError(what, host, port, host_option, OSError(str(exc))) from None
    sock.set_inheritable(True)
    return sock


def describe_database(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite at {parsed.database or ':memory:'}"
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    return f"PostgreSQL at {where}"


def startup_lines(app: FastAPI, settings: Settings) -> list[str]:
    """What ``serve`` says once it listens, in plain words."""
    lines = [
        f"HTTP API on http://{settings.host}:{settings.port} "
        "(documentation at /docs, web console at /console/, metrics at /metrics)",
        f"Database: {describe_database(app.state.store.url)}",
    ]
    engine = getattr(app.state, "calls", None)
    if engine is not None:
        transport = engine.b2bua.transport
        listening = "UDP and TCP" + (", TLS" if settings.sip_tls_port else "")
        trunks = engine.b2bua.trunks.trunks
        if len(trunks) == 1:
            t = trunks[0]
            out = f"the trunk at {t.host}:{t.port} ({t.transport.upper()})"
        else:
            out = "trunks " + ", ".join(
                f"{t.name} at {t.host}:{t.port} ({t.transport.upper()})" for t in trunks
            )
        lines.append(
            f"SIP edge on {transport.host}:{transport.port} ({listening}); "
            f"calls go out through {out}"
        )
        if engine.ports is not None:
            lo, hi = settings.rtp_port_range()
            lines.append(f"RTP relay on {settings.rtp_address}, ports {lo}-{hi}")
    else:
        lines.append("SIP edge off (--no-sip): HTTP API only")
    if settings.worker_enabled:
        where = (
            "any address, private ones included (--allow-private-callbacks)"
            if settings.allow_private_callbacks
            else "public addresses only (--allow-private-callbacks for a receiver on "
            "this machine or your network)"
        )
        lines.append(f"Event delivery on: callbacks to {where}")
    lines.append("Ready. Ctrl-C (or SIGTERM) stops it; the data stays where it is.")
    return lines


def make_server(config: Any) -> Any:
    """uvicorn's server, serving inside the app's lifespan that :func:`run` enters.

    uvicorn re-raises SIGINT/SIGTERM after it stops serving, which would kill the
    process before the lifespan's shutdown (SIP hang-ups, the worker's last writes) ran;
    this one only lets the signal ask the server to stop.
    """
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            sigs = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server(config)


def run(settings: Settings, *, log_level: str = "info") -> None:
    """``vts-masking serve``: bind, start everything, serve until SIGINT/SIGTERM.

    Raises :class:`ListenError` when the HTTP or the SIP port cannot be had.
    """
    from .api.server import uvicorn_config

    sock = bind_http(settings.host, settings.port)
    try:
        app = build_app(settings)
        # Everything loaded so far lives for the whole process: keep the collector from
        # re-scanning it, and collect less often (long GC pauses show as SIP latency).
        collector.settle()
        # uvicorn with the service's HTTP limits (header deadline, connection cap)
        config = uvicorn_config(
            app,
            settings,
            lifespan="off",  # run() enters the lifespan itself, to see its errors
            log_config=None,  # logs.setup() already routed uvicorn's loggers
            log_level=log_level.lower(),
            access_log=False,  # api/access.py writes the access log
            server_header=False,
        )
        server = make_server(config)

        async def main() -> None:
            async with app.router.lifespan_context(app):
                for line in startup_lines(app, settings):
                    log.info(line)
                await server.serve(sockets=[sock])

        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(main())
    finally:
        sock.close()
