"""The operator's commands for events: ``events list``, ``events retry`` and ``worker``.

``events_app`` is mounted as ``vts-masking events``; ``worker_command`` is ``vts-masking
worker``, the delivery worker alone (any number of them may run against one PostgreSQL).
The option types come from ``vts_masking.cli_options``, shared with ``vts_masking.cli``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..cli_options import (
    DEFAULT_DATA_DIR,
    DatabaseUrl,
    DataDir,
    JsonOut,
    Limit,
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    fail,
    open_store,
    print_table,
)

if TYPE_CHECKING:
    from ..store import Store

events_app = typer.Typer(
    help="Event deliveries (the outbox).", no_args_is_help=True, rich_markup_mode=None
)


@events_app.command("list")
def events_list(
    session: Annotated[
        str | None, typer.Option("--session", help="Only this session's events (UUID).")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only events given up.")] = False,
    limit: Limit = 100,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """List events with their delivery status, newest first."""
    from ..domain.views import event_view
    from ..store.deliveries import OutboxRepo

    store = open_store(database_url, data_dir)
    try:
        if session is not None and store.operator.session_owner(session) is None:
            fail(f"no session {session}")  # as `calls list` says, not an empty table
        rows = OutboxRepo(store.db).list(session_uuid=session, failed=failed, limit=limit)
    finally:
        store.close()
    data = [event_view(r) for r in rows]
    if as_json:
        typer.echo(json.dumps(data))
        return
    print_table(
        ["id", "session", "seq", "event", "status", "attempts", "last", "next attempt"],
        [
            [
                e["id"],
                e["session_uuid"],
                e["sequence_number"],
                e["event_name"],
                e["status"],
                e["attempts"],
                e["last_error"] or (str(e["last_status"]) if e["last_status"] else ""),
                e["next_attempt_time"] if e["status"] == "pending" else "",
            ]
            for e in data
        ],
    )


@events_app.command("retry")
def events_retry(
    event_id: Annotated[int, typer.Argument(metavar="ID", help="The event's id (events list).")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Make a failed (or waiting) event due now; a running worker sends it shortly."""
    from ..domain.views import event_view
    from ..store.deliveries import OutboxRepo

    store = open_store(database_url, data_dir)
    try:
        repo = OutboxRepo(store.db)
        row = repo.get(event_id)
        if row is None:
            fail(f"No event {event_id}")
        if not repo.retry(event_id):
            fail(f"Event {event_id} is {row.status}; only failed or pending ones are retried")
        view = event_view(repo.get(event_id))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(view))
    else:
        typer.echo(f"Event {event_id} is due again (attempts so far: {view['attempts']}).")


def worker_command(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    allow_private_callbacks: Annotated[
        bool,
        typer.Option(
            "--allow-private-callbacks",
            envvar="VTS_ALLOW_PRIVATE_CALLBACKS",
            help="Deliver callbacks to loopback, private and link-local addresses too "
            "(refused by default, so a callback_url cannot reach your internal network).",
        ),
    ] = False,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port",
            envvar="VTS_EVENTS_METRICS_PORT",
            help="Serve /metrics on this port (0: no metrics server).",
        ),
    ] = 0,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address of the /metrics server.")
    ] = "127.0.0.1",
    log_level: LogLevelOption = LogLevel.info,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Run the event delivery worker alone (no HTTP API), until SIGTERM or Ctrl-C.

    Any number of workers may run against one PostgreSQL."""
    import asyncio
    import contextlib
    import logging
    import signal

    from .. import logs
    from .worker import WorkerConfig, run_worker

    logs.setup(log_level.value, log_format.value)  # type: ignore[arg-type]
    config = WorkerConfig.from_env()
    store = open_store(database_url, data_dir)
    sock = None
    if metrics_port:
        from ..service import ListenError, bind_http

        try:
            sock = bind_http(
                metrics_host,
                metrics_port,
                what="Metrics",
                option="--metrics-port (VTS_EVENTS_METRICS_PORT)",
                host_option="--metrics-host",
            )
        except ListenError as exc:
            store.close()
            fail(str(exc))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [
            asyncio.create_task(
                run_worker(store, allow_private=allow_private_callbacks, stop=stop, config=config)
            )
        ]
        server = None
        if sock is not None:
            server = _metrics_server(store, log_level.value)
            tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
        try:
            await stop.wait()
        finally:
            if server is not None:
                server.should_exit = True
            for task in tasks:
                with contextlib.suppress(Exception):
                    await task

    logging.getLogger("vts_masking.events").info(
        "event worker delivering the outbox of %s%s",
        _describe(store.url),
        f"; metrics on http://{metrics_host}:{metrics_port}/metrics" if sock else "",
    )
    try:
        asyncio.run(main())
    finally:
        store.close()


def _describe(url: str) -> str:
    from ..service import describe_database

    return describe_database(url)


def _metrics_server(store: Store, log_level: str) -> Any:
    import contextlib

    import uvicorn
    from fastapi import FastAPI

    from .api import router

    app = FastAPI(title="VTS event worker")
    app.state.store = store
    app.include_router(router)
    config = uvicorn.Config(
        app, log_level=log_level.lower(), log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    # The worker owns the signals (see main); uvicorn must not replace its handlers.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    return server


# ``python -m vts_masking.events`` runs these too (see __main__.py), for deployments and
# benchmarks that start the worker without the main command line.
standalone = typer.Typer(help="VTS event delivery.", no_args_is_help=True, rich_markup_mode=None)
standalone.add_typer(events_app, name="events")
standalone.command("worker")(worker_command)
