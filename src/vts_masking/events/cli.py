"""The operator's commands for events: ``events list``, ``events retry`` and ``worker``.

``events_app`` is mounted as ``vts-masking events``; ``worker_command`` is ``vts-masking
worker``, the delivery worker alone (any number of them may run against one PostgreSQL).
The option types come from ``vts_masking.cli_options``, shared with ``vts_masking.cli``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..cli_options import DatabaseUrl, DataDir, JsonOut
from ..config import Settings
from ..domain.views import event_view
from ..store import Store
from .outbox_repo import OutboxRepo

events_app = typer.Typer(help="Event deliveries (the outbox).", no_args_is_help=True)
console = Console()


def _store(database_url: str | None, data_dir: Path, pool_size: int = 2) -> Store:
    settings = Settings(database_url=database_url, data_dir=data_dir)
    store = Store(settings.resolved_database_url(), pool_size=pool_size)
    store.migrate()
    return store


@events_app.command("list")
def events_list(
    session: Annotated[
        str | None, typer.Option("--session", help="Only this session's events (UUID).")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only events given up.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 100,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path("vts-data"),
    as_json: JsonOut = False,
) -> None:
    """List events with their delivery status, newest first."""
    store = _store(database_url, data_dir)
    try:
        rows = OutboxRepo(store.db).list(session_uuid=session, failed=failed, limit=limit)
    finally:
        store.close()
    data = [event_view(r) for r in rows]
    if as_json:
        typer.echo(json.dumps(data))
        return
    table = Table("id", "session", "seq", "event", "status", "attempts", "last", "next attempt")
    for e in data:
        last = e["last_error"] or (str(e["last_status"]) if e["last_status"] else "")
        table.add_row(
            str(e["id"]),
            e["session_uuid"] or "",
            str(e["sequence_number"]),
            e["event_name"],
            e["status"],
            str(e["attempts"]),
            last,
            e["next_attempt_time"] if e["status"] == "pending" else "",
        )
    console.print(table)


@events_app.command("retry")
def events_retry(
    event_id: Annotated[int, typer.Argument(metavar="ID", help="The event's id (events list).")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path("vts-data"),
    as_json: JsonOut = False,
) -> None:
    """Make a failed (or waiting) event due now; a running worker sends it shortly."""
    store = _store(database_url, data_dir)
    try:
        repo = OutboxRepo(store.db)
        row = repo.get(event_id)
        if row is None:
            console.print(f"[red]No event {event_id}[/]")
            raise typer.Exit(2)
        if not repo.retry(event_id):
            console.print(f"[red]Event {event_id} is {row.status}; only failed or pending[/]")
            raise typer.Exit(2)
        view = event_view(repo.get(event_id))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(view))
    else:
        console.print(f"Event {event_id} is due again (attempts so far: {view['attempts']}).")


def worker_command(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path("vts-data"),
    allow_private_callbacks: Annotated[
        bool,
        typer.Option(
            "--allow-private-callbacks",
            envvar="VTS_ALLOW_PRIVATE_CALLBACKS",
            help="Let callbacks reach loopback, link-local and private addresses.",
        ),
    ] = False,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port", envvar="VTS_EVENTS_METRICS_PORT", help="Serve /metrics (0: off)."
        ),
    ] = 0,
    metrics_host: Annotated[str, typer.Option("--metrics-host")] = "127.0.0.1",
    log_level: Annotated[str, typer.Option(envvar="VTS_LOG_LEVEL")] = "info",
) -> None:
    """Run the event delivery worker alone (no HTTP API), until SIGTERM or Ctrl-C."""
    from .worker import WorkerConfig, run_worker

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = WorkerConfig.from_env()
    store = _store(database_url, data_dir, pool_size=4)

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
        if metrics_port:
            server = _metrics_server(store, metrics_host, metrics_port, log_level)
            tasks.append(asyncio.create_task(server.serve()))
        try:
            await stop.wait()
        finally:
            if server is not None:
                server.should_exit = True
            for task in tasks:
                with contextlib.suppress(Exception):
                    await task

    console.print("[bold]VTS event worker[/] delivering the outbox", highlight=False)
    try:
        asyncio.run(main())
    finally:
        store.close()


def _metrics_server(store: Store, host: str, port: int, log_level: str) -> Any:
    import uvicorn
    from fastapi import FastAPI

    from .api import router

    app = FastAPI(title="VTS event worker")
    app.state.store = store
    app.include_router(router)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower())
    server = uvicorn.Server(config)
    # The worker owns the signals (see main); uvicorn must not replace its handlers.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


# ``python -m vts_masking.events`` runs these too (see __main__.py), for deployments and
# benchmarks that start the worker without the main command line.
standalone = typer.Typer(help="VTS event delivery.", no_args_is_help=True)
standalone.add_typer(events_app, name="events")
standalone.command("worker")(worker_command)
