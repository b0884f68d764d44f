"""README.md's "Operating it" block is the command line's one-page reference: it names
every command the CLI has, and every option of each (the database options and ``--json``
are said once, below the block), and nothing the CLI does not have. Read from the CLI
itself, so a command added without its line fails here."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from vts_masking.cli import app
from vts_masking.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SAID_ONCE = {"--help", "--json", "--database-url", "--data-dir"}


def cli_commands() -> dict[str, set[str]]:
    """'numbers add' → its long options, for every leaf command of ``vts-masking``."""
    found: dict[str, set[str]] = {}

    def walk(cmd: Any, path: list[str]) -> None:
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(None):
                walk(cmd.get_command(None, name), [*path, name])
            return
        found[" ".join(path)] = {
            o
            for p in cmd.params
            if p.param_type_name == "option"
            for o in (*p.opts, *p.secondary_opts)
            if o.startswith("--")
        }

    walk(typer.main.get_command(app), [])
    return found


def readme_commands() -> dict[str, set[str]]:
    """The same, as README.md's block says it (two commands may share a line)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Operating it", 1)[1].split("```", 2)[1]
    said: dict[str, set[str]] = {}
    for segment in re.split(r"(?=vts-masking )", block):
        if not segment.startswith("vts-masking "):
            continue
        words = segment.split()[1:]
        path = []
        for word in words:
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            path.append(word)
        said[" ".join(path)] = set(re.findall(r"--[a-z][a-z-]*", segment))
    return said


def test_readme_names_every_command_of_the_cli_and_no_other() -> None:
    assert sorted(readme_commands()) == sorted(cli_commands())


def test_readme_names_every_option_of_each_command_and_no_other() -> None:
    cli = cli_commands()
    for command, options in readme_commands().items():
        assert options - cli.get(command, set()) == set(), f"{command}: not in the CLI"
        assert cli.get(command, set()) - SAID_ONCE - options == set(), f"{command}: not said"


def readme_blocks() -> list[str]:
    """README's shell blocks before the tour: install-and-run, then the tests."""
    head = (ROOT / "README.md").read_text().split("## A short tour", 1)[0]
    return re.findall(r"```sh\n(.*?)```", head, re.S)


def test_readme_install_line_states_the_defaults_serve_runs_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("VTS_")]:
        monkeypatch.delenv(name)
    defaults = Settings()
    said = (
        f"SQLite in `./{defaults.data_dir}/`, HTTP on {defaults.host}:{defaults.port}, "
        f"SIP on {defaults.sip_listen}"
    )
    text = (ROOT / "README.md").read_text()
    assert said in " ".join(text.split())
    assert readme_blocks()[0].strip() == "pip install -e . && vts-masking serve"


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    command = readme_blocks()[1].strip()
    assert command == "make test"
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in steps
