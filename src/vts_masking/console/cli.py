"""``vts-masking console``: the console's operators (they sign in to see every account).

``operator-add`` prints the new operator's login and token once (only a hash is kept);
``operator-list`` shows them; ``operator-disable`` / ``operator-enable`` switch one off
(which also signs its browsers out) or on again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..cli_options import DEFAULT_DATA_DIR, DatabaseUrl, DataDir, JsonOut, open_store

console_app = typer.Typer(
    help="The web console (/console): its operators.", no_args_is_help=True, rich_markup_mode=None
)


def _store(database_url: str | None, data_dir: Path, *, create: bool = False):  # type: ignore[no-untyped-def]
    # The database lookup every command shares: the one serve uses, and an error rather
    # than a new empty database where there is none (operator-add, a first command of a
    # new installation, may make it, as account create does).
    return open_store(database_url, data_dir, create=create)


@console_app.command("operator-add")
def operator_add(
    name: Annotated[str, typer.Option("--name", help="Who the operator is (shown in pages).")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Create a console operator and print its login and token (shown once)."""
    if not name.strip():
        typer.echo("The name must not be empty.", err=True)
        raise typer.Exit(2)
    store = _store(database_url, data_dir, create=True)
    try:
        operator, token = store.console.create_operator(name.strip())
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"login": operator.login, "token": token, "name": operator.name}))
        return
    typer.echo(f"Operator {operator.name}: sign in at /console/ with")
    typer.echo(f"  Auth ID    {operator.login}")
    typer.echo(f"  Auth Token {token}")
    typer.echo("The token is not kept: store it now.")


@console_app.command("operator-list")
def operator_list(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """List the console's operators."""
    store = _store(database_url, data_dir)
    try:
        rows = store.console.operators()
    finally:
        store.close()
    data = [{"login": o.login, "name": o.name, "enabled": o.enabled} for o in rows]
    if as_json:
        typer.echo(json.dumps(data))
        return
    for o in data:
        typer.echo(f"{o['login']}  {'enabled ' if o['enabled'] else 'disabled'}  {o['name']}")


def _switch(login: str, enabled: bool, database_url: str | None, data_dir: Path) -> None:
    store = _store(database_url, data_dir)
    try:
        found = store.console.set_operator_enabled(login, enabled)
    finally:
        store.close()
    if not found:
        typer.echo(f"No operator {login}", err=True)
        raise typer.Exit(2)
    typer.echo(f"Operator {login} {'enabled' if enabled else 'disabled'}.")


@console_app.command("operator-disable")
def operator_disable(
    login: Annotated[str, typer.Argument(metavar="LOGIN", help="The operator's OP… login.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Switch an operator off (its signed-in browsers are signed out)."""
    _switch(login, False, database_url, data_dir)


@console_app.command("operator-enable")
def operator_enable(
    login: Annotated[str, typer.Argument(metavar="LOGIN", help="The operator's OP… login.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Switch an operator on again."""
    _switch(login, True, database_url, data_dir)
