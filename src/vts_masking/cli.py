"""``vts-masking``: the operator's command line (serve, demo, accounts, numbers, sessions,
calls, events, worker).

Only typer is imported up front, so ``--help`` answers at once; each command imports the
store, the settings or the service when it runs. Every command that reads or writes the
database finds it the same way ``serve`` does (``--data-dir`` / ``VTS_DATA_DIR``,
default ``./vts-data``, or ``--database-url``) and refuses to run when there is none,
rather than start an empty one (see ``cli_options.open_store``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_options import (
    DEFAULT_DATA_DIR,
    AccountId,
    DatabaseUrl,
    DataDir,
    JsonOut,
    Limit,
    LogFormat,
    LogFormatOption,
    LogLevel,
    LogLevelOption,
    emit_json,
    fail,
    main_account,
    open_store,
    print_table,
)
from .console.cli import console_app
from .events.cli import events_app, worker_command
from .trunks_cli import trunks_app

# rich_markup_mode=None: click's plain help (flags shown as flags, no type column), and
# no Rich import on --help.
app = typer.Typer(
    help="VTS Number Masking: the operator's command line.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
account_app = typer.Typer(help="Main accounts.", no_args_is_help=True, rich_markup_mode=None)
numbers_app = typer.Typer(
    help="The virtual number pool.", no_args_is_help=True, rich_markup_mode=None
)
sessions_app = typer.Typer(help="Masking sessions.", no_args_is_help=True, rich_markup_mode=None)
calls_app = typer.Typer(help="Call legs.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(account_app, name="account")
app.add_typer(numbers_app, name="numbers")
app.add_typer(sessions_app, name="sessions")
app.add_typer(calls_app, name="calls")
app.add_typer(events_app, name="events")
app.add_typer(trunks_app, name="trunks")
app.add_typer(console_app, name="console")


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host", envvar="VTS_HOST", metavar="HOST", help="Address the HTTP API listens on."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="VTS_PORT", metavar="PORT", help="Port of the HTTP API.")
    ] = 8080,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    sip_listen: Annotated[
        str,
        typer.Option(
            "--sip-listen",
            metavar="HOST:PORT",
            envvar="VTS_SIP_LISTEN",
            help="host:port the SIP edge listens on (UDP and TCP): where your trunk sends "
            "calls for the virtual numbers.",
        ),
    ] = "127.0.0.1:5060",
    sip_trunk: Annotated[
        str,
        typer.Option(
            "--sip-trunk",
            metavar="HOST:PORT",
            envvar="VTS_SIP_TRUNK",
            help="host:port of your SIP trunk: where the masked outbound legs are sent.",
        ),
    ] = "127.0.0.1:5080",
    no_sip: Annotated[
        bool,
        typer.Option(
            "--no-sip", envvar="VTS_NO_SIP", help="Serve the HTTP API only (no SIP edge)."
        ),
    ] = False,
    allow_private_callbacks: Annotated[
        bool,
        typer.Option(
            "--allow-private-callbacks",
            envvar="VTS_ALLOW_PRIVATE_CALLBACKS",
            help="Deliver callbacks to loopback, private and link-local addresses too. "
            "Off by default, so a customer's callback_url cannot reach your internal "
            "network; turn it on for a receiver on this machine or your LAN.",
        ),
    ] = False,
    sweep_interval: Annotated[
        float,
        typer.Option(
            "--sweep-interval",
            metavar="SECONDS",
            envvar="VTS_SWEEP_INTERVAL",
            min=0.05,
            help="Seconds between passes that expire sessions whose time is up (and send "
            "their SessionTimeout event). Expiry is exact in the API either way.",
        ),
    ] = 1.0,
    event_retention_days: Annotated[
        float,
        typer.Option(
            "--event-retention-days",
            metavar="DAYS",
            envvar="VTS_EVENT_RETENTION_DAYS",
            min=0,
            help="Days a finished event (delivered, failed or skipped) and its delivery "
            "attempts are kept after its last attempt; 0 keeps them forever. Pending "
            "events are never pruned.",
        ),
    ] = 30.0,
    call_retention_days: Annotated[
        float,
        typer.Option(
            "--call-retention-days",
            metavar="DAYS",
            envvar="VTS_CALL_RETENTION_DAYS",
            min=0,
            help="Days an ended session is kept with its calls, interactions and events; "
            "then the API answers 404 for it. 0 keeps them forever. A session with a "
            "recording not yet deleted is kept.",
        ),
    ] = 90.0,
    log_level: LogLevelOption = LogLevel.info,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Run the HTTP API, the SIP edge and the event worker in one process."""
    from . import logs
    from .config import Settings
    from .service import ListenError, run

    logs.setup(log_level.value, log_format.value)  # type: ignore[arg-type]
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
        event_retention_days=event_retention_days,
        call_retention_days=call_retention_days,
    )
    try:
        run(settings, log_level=log_level.value)
    except ListenError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


@app.command()
def demo(
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep the demo's data folder afterwards (path printed)."),
    ] = False,
) -> None:
    """Start the service on a temporary store, make a masked call between two phones it
    plays itself, and show what each party saw. Needs nothing but this package."""
    from .demo import run_demo

    raise typer.Exit(run_demo(keep=keep))


# -- accounts ---------------------------------------------------------------------------


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Option("--name", help="The account's name (not empty).")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Create a main account and print its credentials (the token is shown once).

    The first command of a new installation: it makes the database if there is none.
    """
    name = name.strip()
    if not name:
        fail("the account name must not be empty (--name)")
    if len(name) > 255:
        fail("the account name is longer than 255 characters")
    from .domain.errors import ApiError

    store = open_store(database_url, data_dir, create=True)
    try:
        account = store.accounts.create(name)
    except ApiError as exc:  # the API's rule for names (no control characters)
        fail(exc.message)
    finally:
        store.close()
    if as_json:
        emit_json({"auth_id": account.auth_id, "auth_token": account.auth_token, "name": name})
        return
    print_table(
        ["auth_id", "auth_token"], [[account.auth_id, account.auth_token]], f"Account {name}"
    )


@account_app.command("list")
def account_list(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """List main accounts, oldest first."""
    from .domain.views import fmt_time

    store = open_store(database_url, data_dir)
    try:
        rows = store.operator.main_accounts()
    finally:
        store.close()
    data = [
        {
            "auth_id": r.auth_id,
            "name": r.name,
            "enabled": r.enabled,
            "created": fmt_time(r.created_time),
        }
        for r in rows
    ]
    if as_json:
        emit_json(data)
        return
    print_table(
        ["auth_id", "name", "enabled", "created"],
        [[d["auth_id"], d["name"], "yes" if d["enabled"] else "no", d["created"]] for d in data],
    )


def _set_enabled(auth_id: str, enabled: bool, database_url: str | None, data_dir: Path) -> None:
    store = open_store(database_url, data_dir)
    try:
        account = store.accounts.by_auth_id(auth_id)
        if account is None:
            fail(f"no account {auth_id} (`vts-masking account list` shows them)")
        store.operator.set_enabled(account, enabled)
    finally:
        store.close()
    word = "enabled" if enabled else "disabled"
    typer.echo(
        f"Account {auth_id} {word}. Running services see it within 5 seconds "
        "(they cache accounts that long)."
    )


@account_app.command("disable")
def account_disable(
    auth_id: Annotated[str, typer.Argument(metavar="AUTH_ID", help="The account (MA… or SA…).")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Refuse every request of an account (401) until it is enabled again; a main
    account's subaccounts are refused with it. Its data is kept."""
    _set_enabled(auth_id, False, database_url, data_dir)


@account_app.command("enable")
def account_enable(
    auth_id: Annotated[str, typer.Argument(metavar="AUTH_ID", help="The account (MA… or SA…).")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Let a disabled account in again."""
    _set_enabled(auth_id, True, database_url, data_dir)


# -- numbers ----------------------------------------------------------------------------


@numbers_app.command("add")
def numbers_add(
    numbers: Annotated[
        list[str],
        typer.Argument(metavar="NUMBER...", help="Numbers in international form (+1…)."),
    ],
    account: Annotated[str, typer.Option("--account", help="The main account (auth_id).")],
    subaccount: Annotated[
        str | None,
        typer.Option(
            "--subaccount", help="Put them in this subaccount's pool.", show_default=False
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Add virtual numbers to an account's pool (numbers already there stay as they are
    and are counted apart)."""
    from .domain.errors import ApiError

    store = open_store(database_url, data_dir)
    try:
        main = main_account(store, account)
        pool = None
        if subaccount:
            pool = store.accounts.by_auth_id(subaccount)
            if pool is None or pool.parent_id != main.id:
                fail(f"no subaccount {subaccount} under {account}")
        try:
            report = store.numbers.add_report(main, numbers, pool=pool)
        except ApiError as exc:
            fail(exc.message)
    finally:
        store.close()
    if as_json:
        emit_json({"added": report.new, "already_present": report.present})
        return
    typer.echo(f"added {len(report.new)}, already present {len(report.present)}")


@numbers_app.command("list")
def numbers_list(
    account: AccountId = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """List the pool (every account's, or one's)."""
    store = open_store(database_url, data_dir)
    try:
        owner = main_account(store, account).id if account else None
        rows = store.operator.numbers(owner)
    finally:
        store.close()
    data = [
        {"number": r.number, "country": r.country, "pool": r.pool, "state": r.state} for r in rows
    ]
    if as_json:
        emit_json(data)
        return
    print_table(["number", "country", "pool", "state"], [list(d.values()) for d in data])


@numbers_app.command("remove")
def numbers_remove(
    numbers: Annotated[list[str], typer.Argument(metavar="NUMBER...", help="Numbers to remove.")],
    account: Annotated[str, typer.Option("--account", help="The main account (auth_id).")],
    drain: Annotated[
        bool,
        typer.Option(
            "--drain",
            help="A number with live sessions takes no new ones and goes when its last "
            "session ends (without it, such a number is refused).",
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Move a number's live sessions to other numbers of their pool now "
            "(each customer is sent SessionVirtualNumberReplaced), then remove it.",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Take virtual numbers out of an account's pool."""
    from .domain.errors import ApiError

    store = open_store(database_url, data_dir)
    outcome: dict[str, str] = {}
    try:
        main = main_account(store, account)
        for number in dict.fromkeys(numbers):
            try:
                outcome[number] = store.numbers.remove(
                    main, None, number, drain=drain, replace=replace
                )
            except ApiError as exc:
                outcome[number] = f"refused: {exc.message}"
    finally:
        store.close()
    if as_json:
        emit_json(outcome)
    else:
        for number, state in outcome.items():
            typer.echo(f"{number}: {state}")
    if any(state.startswith("refused") for state in outcome.values()):
        raise typer.Exit(2)


# -- sessions and calls -------------------------------------------------------------------


@sessions_app.command("list")
def sessions_list(
    account: AccountId = None,
    live: Annotated[
        bool, typer.Option("--live", help="Only sessions not yet expired (or with a call up).")
    ] = False,
    limit: Limit = 50,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """List masking sessions, newest first (every account's, or one's)."""
    from .domain.views import fmt_time

    store = open_store(database_url, data_dir)
    try:
        owner = main_account(store, account).id if account else None
        rows = store.operator.sessions(owner, live_only=live, limit=limit)
    finally:
        store.close()
    data = [
        {
            "session_uuid": r["uuid"],
            "account": r["account"],
            "status": r["status"],
            "virtual_number": r["virtual_number"],
            "first_party": r["first_party"],
            "second_party": r["second_party"],
            "calls": r["total_call_count"],
            "created_time": fmt_time(r["created_time"]),
            "expiry_time": fmt_time(r["expiry_time"]),
        }
        for r in rows
    ]
    if as_json:
        emit_json(data)
        return
    print_table(
        ["session_uuid", "account", "status", "virtual", "first", "second", "calls", "expires"],
        [
            [
                d["session_uuid"],
                d["account"],
                d["status"],
                d["virtual_number"],
                d["first_party"],
                d["second_party"],
                d["calls"],
                d["expiry_time"],
            ]
            for d in data
        ],
    )


@sessions_app.command("show")
def sessions_show(
    session_uuid: Annotated[str, typer.Argument(metavar="SESSION_UUID", help="The session.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Show one session as the API returns it (parameters, totals, interactions)."""
    store = open_store(database_url, data_dir)
    try:
        owner = store.operator.session_owner(session_uuid)
        if owner is None:
            fail(f"no session {session_uuid}")
        caller = store.accounts.by_auth_id(owner)
        assert caller is not None
        view = store.sessions.get(
            store.accounts.principal(caller, owner, writing=False), session_uuid
        )
    finally:
        store.close()
    if as_json:
        emit_json(view)
        return
    rows = [[k, _cell(v)] for k, v in view.items() if k != "interaction"]
    print_table(["field", "value"], rows, f"Session {session_uuid}")
    for i, interaction in enumerate(view.get("interaction") or [], 1):
        print_table(
            ["field", "value"], [[k, _cell(v)] for k, v in interaction.items()], f"Call {i}"
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@calls_app.command("list")
def calls_list(
    account: AccountId = None,
    session: Annotated[
        str | None,
        typer.Option("--session", help="Only this session's calls (UUID).", show_default=False),
    ] = None,
    limit: Limit = 50,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """List call legs, newest first: who called whom, how long, how it ended."""
    from .domain.views import fmt_money, fmt_time

    store = open_store(database_url, data_dir)
    try:
        owner = main_account(store, account).id if account else None
        if session is not None and store.operator.session_owner(session) is None:
            fail(f"no session {session}")
        rows = store.operator.calls(owner, session, limit=limit)
    finally:
        store.close()
    data = [
        {
            "call_uuid": r.uuid,
            "session_uuid": r.session_uuid,
            "party": r.party,
            "direction": r.direction,
            "from_number": r.from_number,
            "to_number": r.to_number,
            "call_status": r.status,
            "initiation_time": fmt_time(r.initiation_time),
            "call_duration": r.duration,
            "bill_duration": r.billed_duration,
            "total_amount": fmt_money(r.amount),
            "hangup_cause_name": r.hangup_cause,
        }
        for r in rows
    ]
    if as_json:
        emit_json(data)
        return
    print_table(
        ["call_uuid", "session", "dir", "from", "to", "status", "started", "secs", "cause"],
        [
            [
                d["call_uuid"],
                d["session_uuid"],
                d["direction"],
                d["from_number"],
                d["to_number"],
                d["call_status"],
                d["initiation_time"],
                d["call_duration"],
                d["hangup_cause_name"],
            ]
            for d in data
        ],
    )


app.command("worker")(worker_command)  # listed after serve, which most people want

if __name__ == "__main__":
    app()
