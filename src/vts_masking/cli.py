"""``vts-masking``: the operator's command line (serve, accounts, numbers, events)."""

from __future__ import annotations

import gc
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .cli_options import DatabaseUrl, DataDir, JsonOut
from .config import Settings
from .console.cli import console_app
from .events.cli import events_app, worker_command
from .store import Store
from .trunks_cli import trunks_app

app = typer.Typer(help="VTS Number Masking: the operator's command line.", no_args_is_help=True)
account_app = typer.Typer(help="Main accounts.", no_args_is_help=True)
numbers_app = typer.Typer(help="The virtual number pool.", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(numbers_app, name="numbers")
app.add_typer(events_app, name="events")
app.add_typer(trunks_app, name="trunks")
app.command("worker")(worker_command)
app.add_typer(console_app, name="console")
console = Console()


def _store(database_url: str | None, data_dir: Path) -> Store:
    settings = Settings(database_url=database_url, data_dir=data_dir)
    store = Store(settings.resolved_database_url(), pool_size=2)
    store.migrate()
    return store


def _emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str))
    elif table is not None:
        console.print(table)
    else:
        console.print(data)


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="VTS_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="VTS_PORT")] = 8080,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path("vts-data"),
    sip_listen: Annotated[
        str, typer.Option(envvar="VTS_SIP_LISTEN", help="SIP host:port (UDP and TCP).")
    ] = "127.0.0.1:5060",
    sip_trunk: Annotated[
        str,
        typer.Option(envvar="VTS_SIP_TRUNK", help="Operator trunk host:port for outbound legs."),
    ] = "127.0.0.1:5080",
    no_sip: Annotated[
        bool, typer.Option("--no-sip", envvar="VTS_NO_SIP", help="HTTP API only.")
    ] = False,
    allow_private_callbacks: Annotated[
        bool, typer.Option(envvar="VTS_ALLOW_PRIVATE_CALLBACKS")
    ] = False,
    sweep_interval: Annotated[float, typer.Option(envvar="VTS_SWEEP_INTERVAL")] = 1.0,
    log_level: Annotated[str, typer.Option(envvar="VTS_LOG_LEVEL")] = "info",
) -> None:
    """Run the HTTP API (and the SIP edge and event worker) in one process."""
    import uvicorn

    from .api.server import uvicorn_config
    from .service import build_app

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings(
        host=host,
        port=port,
        database_url=database_url,
        data_dir=data_dir,
        sip_listen=sip_listen,
        sip_trunk=sip_trunk,
        sip_enabled=not no_sip,
        allow_private_callbacks=allow_private_callbacks,
        sweep_interval=sweep_interval,
    )
    console.print(
        f"[bold]VTS Number Masking[/] on http://{host}:{port}  (docs: /docs)", highlight=False
    )
    app_ = build_app(settings)
    # Everything loaded so far lives for the whole process: keep the collector from
    # re-scanning it on every full collection (long GC pauses show as SIP latency).
    gc.collect()
    gc.freeze()
    # uvicorn with the service's HTTP limits (header deadline, connection cap: api/server.py)
    config = uvicorn_config(app_, settings, log_level=log_level.lower(), access_log=False)
    uvicorn.Server(config).run()


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Option("--name", help="Account name.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path("vts-data"),
    as_json: JsonOut = False,
) -> None:
    """Create a main account and print its credentials (shown once)."""
    store = _store(database_url, data_dir)
    account = store.accounts.create(name)
    data = {"auth_id": account.auth_id, "auth_token": account.auth_token}
    table = Table("auth_id", "auth_token", title=f"Account {name}")
    table.add_row(account.auth_id, account.auth_token)
    _emit(data, as_json, table)


@account_app.command("list")
def account_list(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path("vts-data"),
    as_json: JsonOut = False,
) -> None:
    """List main accounts."""
    from sqlalchemy import select

    from .store.models import accounts

    store = _store(database_url, data_dir)
    with store.db.read() as conn:
        rows = conn.execute(select(accounts).where(accounts.c.parent_id.is_(None))).all()
    data = [{"auth_id": r.auth_id, "name": r.name, "enabled": r.enabled} for r in rows]
    table = Table("auth_id", "name", "enabled")
    for r in data:
        table.add_row(r["auth_id"], r["name"], str(r["enabled"]))
    _emit(data, as_json, table)


@numbers_app.command("add")
def numbers_add(
    numbers: Annotated[list[str], typer.Argument(help="Numbers in international form.")],
    account: Annotated[str, typer.Option("--account", help="Main account auth_id.")],
    subaccount: Annotated[str | None, typer.Option("--subaccount")] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path("vts-data"),
    as_json: JsonOut = False,
) -> None:
    """Add virtual numbers to an account's pool."""
    from .domain.errors import ApiError

    store = _store(database_url, data_dir)
    main = store.accounts.by_auth_id(account)
    if main is None or not main.is_main:
        console.print(f"[red]No main account {account}[/]")
        raise typer.Exit(2)
    pool = None
    if subaccount:
        pool = store.accounts.by_auth_id(subaccount)
        if pool is None or pool.parent_id != main.id:
            console.print(f"[red]No subaccount {subaccount} under {account}[/]")
            raise typer.Exit(2)
    try:
        added = store.numbers.add(main, numbers, pool=pool)
    except ApiError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(2) from None
    _emit({"added": added}, as_json) if as_json else console.print(f"Added {len(added)} number(s).")


@numbers_app.command("list")
def numbers_list(
    account: Annotated[str | None, typer.Option("--account")] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path("vts-data"),
    as_json: JsonOut = False,
) -> None:
    """List the pool (every account, or one)."""
    from sqlalchemy import select

    from .store.models import accounts, numbers

    store = _store(database_url, data_dir)
    query = select(numbers, accounts.c.auth_id).join(accounts, accounts.c.id == numbers.c.pool_id)
    query = query.where(numbers.c.state != "removed")
    if account:
        owner = store.accounts.by_auth_id(account)
        query = query.where(numbers.c.account_id == (owner.main_id if owner else -1))
    with store.db.read() as conn:
        rows = conn.execute(query.order_by(numbers.c.number)).all()
    data = [
        {"number": r.number, "country": r.country, "pool": r.auth_id, "state": r.state}
        for r in rows
    ]
    table = Table("number", "country", "pool", "state")
    for r in data:
        table.add_row(r["number"], r["country"], r["pool"], r["state"])
    _emit(data, as_json, table)


if __name__ == "__main__":
    app()
