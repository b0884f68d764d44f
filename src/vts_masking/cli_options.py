"""What every ``vts-masking`` command shares: the option types (same names, same ``VTS_*``
environment variables everywhere), where the database is, and how errors and tables are
printed.

Imports here stay light (typer and the standard library): ``--help`` and the commands
that need no database must start fast, so the store, Rich and the settings model are
imported inside the functions that use them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from .store import Account, Store

DEFAULT_DATA_DIR = Path("vts-data")
SQLITE_FILE = "vts.sqlite3"

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="VTS_DATABASE_URL",
        metavar="URL",
        help="SQLAlchemy URL of the database, e.g. postgresql://user@host/db "
        "(default: SQLite in the data dir).",
        show_default=False,
    ),
]
DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="VTS_DATA_DIR",
        metavar="DIR",
        help="Folder for the SQLite database, recordings and caches; relative to the "
        "current folder. Every command resolves it the same way.",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AccountId = Annotated[
    str | None,
    typer.Option(
        "--account", help="Only this main account (its auth_id, MA…).", show_default=False
    ),
]
Limit = Annotated[
    int, typer.Option("--limit", metavar="N", min=1, help="At most this many, newest first.")
]


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


LogLevelOption = Annotated[
    LogLevel,
    typer.Option(
        "--log-level",
        envvar="VTS_LOG_LEVEL",
        case_sensitive=False,
        help="Least severe log lines written: info adds one line per HTTP request, per "
        "call and per failed callback; warning keeps problems only.",
    ),
]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        envvar="VTS_LOG_FORMAT",
        help="text: one readable line each; json: one JSON object per line, for log collectors.",
    ),
]

#: exit status of every refusal the CLI explains (bad input, unknown account, no
#: database, a port in use); 1 is left for crashes, as Python uses it.
REFUSED = 2


def fail(message: str) -> NoReturn:
    """Print ``message`` on stderr and exit with :data:`REFUSED`."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(REFUSED)


def note(message: str) -> None:
    """A remark for the person at the terminal (stderr, so ``--json`` output stays clean)."""
    typer.echo(message, err=True)


def database_location(database_url: str | None, data_dir: Path) -> tuple[str, Path | None]:
    """The database URL every command uses, and the SQLite file it names (None for
    PostgreSQL or an in-memory database). ``serve`` resolves it the same way."""
    if database_url:
        if database_url.startswith("sqlite"):
            name = database_url.split("///", 1)[1] if "///" in database_url else ""
            name = name.split("?", 1)[0]
            return database_url, Path(name).resolve() if name and name != ":memory:" else None
        return database_url, None
    path = (data_dir / SQLITE_FILE).resolve()
    return f"sqlite:///{path}", path


def open_store(database_url: str | None, data_dir: Path, *, create: bool = False) -> Store:
    """The store, migrated to the newest schema.

    A SQLite file that does not exist is an error unless ``create`` (``serve`` and
    ``account create``, the first command of a new installation): a command run from the
    wrong folder must say so, not quietly start an empty database there.
    """
    url, path = database_location(database_url, data_dir)
    if path is not None and not path.exists():
        if not create:
            fail(
                f"no database at {path}.\n"
                "  `vts-masking serve` (or `vts-masking account create`) makes it on first "
                "use. From another folder, pass --data-dir (or set VTS_DATA_DIR) to the "
                "folder serve uses, or --database-url."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        note(f"New database at {path}")
    from .store import Store

    try:
        store = Store(url, pool_size=2)
        store.migrate()
    except Exception as exc:  # a bad URL or an unreachable server: say which
        fail(f"cannot open the database {_safe_url(url)}: {_first_line(exc)}")
    return store


def main_account(store: Store, auth_id: str) -> Account:
    """The main account ``auth_id`` names, or a refusal naming it."""
    account = store.accounts.by_auth_id(auth_id)
    if account is None:
        fail(f"no account {auth_id} (`vts-masking account list` shows them)")
    if not account.is_main:
        fail(f"{auth_id} is a subaccount; give its main account")
    return account


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, default=str))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A table as wide as its content needs: identifiers (UUIDs, auth_ids) are never cut
    or wrapped, whatever the terminal's width (a narrow terminal wraps whole lines)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title or None, title_justify="left")
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ignore"
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    measure = Console(width=10_000).measure(table)
    console = Console(width=max(measure.maximum, 20), soft_wrap=True)
    console.print(table)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _safe_url(url: str) -> str:
    """The URL without its password, for error messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(the given URL)"
