"""``vts-masking`` against real databases (SQLite and PostgreSQL): what each command
prints, what it refuses, and that it never makes a database it was not asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vts_masking.cli import app
from vts_masking.store import Store

runner = CliRunner()


def cli(db_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database-url", db_url])
    return result.exit_code, result.output


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url, pool_size=2)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def auth_id(db_url: str, store: Store) -> str:
    code, out = cli(db_url, "account", "create", "--name", "Acme", "--json")
    assert code == 0, out
    return json.loads(out.splitlines()[-1])["auth_id"]


def test_help_imports_neither_the_store_nor_rich() -> None:
    probe = (
        "import sys\nfrom vts_masking.cli import app\n"
        "try:\n    app(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('sqlalchemy', 'rich', 'pydantic_settings', 'fastapi')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_every_option_of_every_command_has_a_help_text_and_booleans_are_bare_flags() -> None:
    import typer  # typer carries its own click: walk its commands by their attributes

    def commands(group: Any) -> Iterator[Any]:
        for command in group.commands.values():
            if hasattr(command, "commands"):
                yield from commands(command)
            else:
                yield command

    for command in commands(typer.main.get_command(app)):
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{command.name} {param.opts}"
                if param.is_flag:
                    assert not param.secondary_opts, f"{command.name} {param.opts}"
    out = runner.invoke(app, ["serve", "--help"], terminal_width=200).output
    assert "<bool>" not in out and "--allow-private-callbacks " in out


def test_a_command_run_where_there_is_no_database_says_so_and_makes_none(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["account", "list", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no database at" in result.output and "--data-dir" in result.output
    assert not (tmp_path / "nowhere").exists()


def test_account_create_makes_the_database_of_a_new_installation(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["account", "create", "--name", "First", "--json", "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "vts.sqlite3").is_file()
    listed = runner.invoke(app, ["account", "list", "--json", "--data-dir", str(tmp_path / "d")])
    assert [a["name"] for a in json.loads(listed.stdout)] == ["First"]


def test_an_empty_account_name_is_refused(db_url: str, store: Store) -> None:
    code, out = cli(db_url, "account", "create", "--name", "  ")
    assert code == 2 and "must not be empty" in out
    assert store.operator.main_accounts() == []


def test_adding_numbers_counts_new_and_present_ones_and_duplicates_once(
    db_url: str, auth_id: str
) -> None:
    code, out = cli(db_url, "numbers", "add", "--account", auth_id, "+12205550020", "+12205550020")
    assert (code, out.strip()) == (0, "added 1, already present 0")
    code, out = cli(db_url, "numbers", "add", "--account", auth_id, "+12205550020", "12205550021")
    assert (code, out.strip()) == (0, "added 1, already present 1")
    code, out = cli(db_url, "numbers", "list", "--json")
    assert [n["number"] for n in json.loads(out)] == ["+12205550020", "+12205550021"]


@pytest.mark.parametrize(
    "command",
    [
        ["numbers", "list", "--account", "MANOSUCHACCOUNT00000"],
        ["numbers", "add", "--account", "MANOSUCHACCOUNT00000", "+12205550030"],
        ["numbers", "remove", "--account", "MANOSUCHACCOUNT00000", "+12205550030"],
        ["sessions", "list", "--account", "MANOSUCHACCOUNT00000"],
        ["calls", "list", "--account", "MANOSUCHACCOUNT00000"],
        ["account", "disable", "MANOSUCHACCOUNT00000"],
    ],
)
def test_every_command_refuses_an_unknown_account(
    db_url: str, store: Store, command: list[str]
) -> None:
    code, out = cli(db_url, *command)
    assert code == 2 and "no account MANOSUCHACCOUNT00000" in out


def test_numbers_remove_takes_a_number_out_of_the_pool(db_url: str, auth_id: str) -> None:
    cli(db_url, "numbers", "add", "--account", auth_id, "+12205550040", "+12205550041")
    code, out = cli(db_url, "numbers", "remove", "--account", auth_id, "+12205550040")
    assert (code, out.strip()) == (0, "+12205550040: removed")
    code, out = cli(db_url, "numbers", "list", "--json")
    assert [n["number"] for n in json.loads(out)] == ["+12205550041"]


def test_a_disabled_account_no_longer_authenticates(
    db_url: str, store: Store, auth_id: str
) -> None:
    token = store.accounts.by_auth_id(auth_id).auth_token  # type: ignore[union-attr]
    code, out = cli(db_url, "account", "disable", auth_id)
    assert code == 0 and "disabled" in out
    fresh = Store(db_url, pool_size=1)  # a service started now: nothing cached
    try:
        assert fresh.accounts.authenticate(auth_id, token) is None
    finally:
        fresh.close()
    code, out = cli(db_url, "account", "list", "--json")
    assert json.loads(out)[0]["enabled"] is False


def _session(store: Store, auth_id: str) -> str:
    from vts_masking.domain import session_params

    main = store.accounts.by_auth_id(auth_id)
    assert main is not None
    store.numbers.add(main, ["+12205550050"])
    who = store.accounts.principal(main, auth_id, writing=True)
    params = session_params.parse_create(
        {"first_party": "+14155552345", "second_party": "+12165554567"}
    )
    _, body = store.sessions.create(who, params, lambda view: {"session": view}, None)
    return body["session"]["session_uuid"]


def test_sessions_list_and_show_print_the_whole_uuid(
    db_url: str, store: Store, auth_id: str
) -> None:
    uuid = _session(store, auth_id)
    result = runner.invoke(app, ["sessions", "list", "--database-url", db_url], terminal_width=60)
    assert result.exit_code == 0 and uuid in result.output
    code, out = cli(db_url, "sessions", "list", "--live", "--json")
    assert [(s["session_uuid"], s["status"]) for s in json.loads(out)] == [(uuid, "active")]
    code, out = cli(db_url, "sessions", "show", uuid, "--json")
    assert code == 0 and json.loads(out)["virtual_number"] == "+12205550050"
    code, out = cli(db_url, "sessions", "show", "00000000-0000-0000-0000-000000000000")
    assert code == 2 and "no session" in out


def test_calls_list_refuses_an_unknown_session_and_lists_none_for_a_new_one(
    db_url: str, store: Store, auth_id: str
) -> None:
    uuid = _session(store, auth_id)
    code, out = cli(db_url, "calls", "list", "--session", uuid, "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out = cli(db_url, "calls", "list", "--session", "nope")
    assert code == 2 and "no session nope" in out
