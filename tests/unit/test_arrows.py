"""The architecture's arrows (docs/architecture.md#arrows), held to the imports.

Every module of ``src/vts_masking`` is parsed with ``ast``; each import of the project
(module level or inside a function, absolute or relative) is an arrow from the
importer's room to the imported one. A room may import only what the table allows, so
a new crossing fails here rather than waiting for a reviewer to notice it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import vts_masking

ROOT = Path(vts_masking.__file__).parent
LEAVES = {"metrics", "badinput", "clock", "logs"}

ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "store": {"domain", "clock"},
    "sip": {"domain"} | LEAVES,
    "media": {"domain", "sip", "guarded_http"} | LEAVES,
    "calls": {"sip", "media", "store", "domain", "config", "guarded_http"} | LEAVES,
    "api": {"store", "domain", "config", "guarded_http", "__version__"} | LEAVES,
    # events' own command line starts the service's worker (``vts-masking worker``)
    "events": {"store", "domain", "config", "guarded_http", "cli_options", "service"} | LEAVES,
    # the console reuses the API's rules (parsing, the numbers router's public helpers)
    "console": {"store", "domain", "config", "api", "cli_options"} | LEAVES,
    "guarded_http": {"domain"},
    **{leaf: LEAVES for leaf in LEAVES},
}


def arrows() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        package = ["vts_masking", *parts[:-1]]  # what a relative import starts from
        room = parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[list[str]] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    if node.module:
                        names.append(base + node.module.split("."))
                    else:
                        names.extend([*base, a.name] for a in node.names)
                elif node.module and node.module.split(".")[0] == "vts_masking":
                    names.append(node.module.split("."))
            elif isinstance(node, ast.Import):
                names.extend(
                    a.name.split(".") for a in node.names if a.name.startswith("vts_masking.")
                )
            for name in names:
                if len(name) > 1 and name[1] != room:
                    found[room].add(name[1])
    return found


def test_each_room_imports_only_what_the_arrows_allow() -> None:
    crossings = {
        (room, target)
        for room, targets in arrows().items()
        if room in ALLOWED
        for target in targets - ALLOWED[room]
    }
    assert crossings == set()


def test_the_reader_sees_relative_absolute_and_late_imports() -> None:
    # one of each kind, known to be in the code: a check that sees no arrow holds nothing
    found = arrows()
    assert "store" in found["api"]  # "from ..store import ..." in api/
    assert "sip" in found["calls"]  # "from ..sip.message import ..." in calls/
    assert "calls" in found["service"]  # imported inside build_app()


def test_the_domain_imports_nothing_of_the_project() -> None:
    assert arrows().get("domain", set()) == set()
