"""README.md and docs/ stand alone, and what points at them points at something.

* A link of README.md or of a page under docs/ either leaves for the web (``https:``,
  ``mailto:``) or leads to a file of this repository — never outside it, never to an
  ignored or missing file — and, when it names a heading (``api.md#limits``,
  ``#allocation``), to a heading that page has.
* A repository path a page names as code (``src/vts_masking/api/``) exists.
* A page of docs/ that the code names (``docs/calls.md#pin-entry`` in a docstring or a
  comment of src/, tests/, bench/, deploy/ or the build files) exists, with that heading.

Headings are matched by the anchors GitHub makes of them.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
NAMED = re.compile(r"`((?:src|tests|docs|deploy|bench|\.ci)/[\w./-]+)`")
# [text](target) and ![alt](target "title"); the text may hold code and brackets' pairs
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
# a page of docs/ as the code names it, with the heading it points at
DOC_NAMED = re.compile(r"\bdocs/([\w./-]+?\.md)(?:#([\w-]+))?")
SOURCES = ("src", "tests", "bench", "deploy", ".ci")
BUILD_FILES = ("Makefile", "Dockerfile", "pyproject.toml")
SOURCE_SUFFIXES = {".py", ".cfg", ".toml", ".yaml", ".yml", ".md", ".service", ".example", ""}


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (links and headings in code are code)."""
    kept: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        kept.append("" if fenced else line)
    return "\n".join(kept)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (a link's text, code without backticks),
    lower case, without punctuation, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown page (repeated headings get ``-1``, ``-2``…)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose(page.read_text()).splitlines():
        match = HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


@cache
def repository_files() -> frozenset[Path] | None:
    """Files a fresh clone has or could have (tracked, or new and not ignored); None
    outside a git checkout, where every existing file counts."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return frozenset((ROOT / line).resolve() for line in listed.splitlines() if line)


def in_repository(path: Path) -> bool:
    files = repository_files()
    if files is None:
        return path.is_file()
    return path in files and path.is_file()


def link_targets(doc: Path) -> list[str]:
    text = prose(doc.read_text())
    return [*LINK.findall(text), *REFERENCE.findall(text)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_document_points_only_inside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    assert "../shared" not in text and "shared/spec" not in text
    for target in link_targets(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # http(s), mailto
        path_part, _, fragment = target.partition("#")
        page = (doc.parent / path_part).resolve() if path_part else doc
        assert page.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert in_repository(page), f"{doc.name} links to {target}: not a file of the repository"
        if fragment and page.suffix == ".md":
            assert fragment in anchors(page), f"{doc.name} links to {target}: no such heading"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_document_names_only_paths_that_exist(doc: Path) -> None:
    for path in NAMED.findall(doc.read_text()):
        if "*" in path or "{" in path:
            continue
        assert (ROOT / path.rstrip(".")).exists(), f"{doc.name} names missing {path}"


def source_files() -> list[Path]:
    here = Path(__file__).resolve()
    found = [ROOT / name for name in BUILD_FILES if (ROOT / name).is_file()]
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            skipped = "node_modules" in path.parts or "__pycache__" in path.parts
            wanted = path.suffix in SOURCE_SUFFIXES and not skipped and path.resolve() != here
            if wanted and path.is_file():
                found.append(path)
    return found


def test_the_code_names_only_doc_pages_and_headings_that_exist() -> None:
    missing: list[str] = []
    for path in source_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for page, fragment in DOC_NAMED.findall(text):
            target = ROOT / "docs" / page
            where = str(path.relative_to(ROOT))
            if not target.is_file():
                missing.append(f"{where}: docs/{page}")
            elif fragment and fragment not in anchors(target):
                missing.append(f"{where}: docs/{page}#{fragment}")
    assert not missing, "the code points at doc pages or headings that do not exist:\n" + "\n".join(
        missing
    )


def test_a_heading_anchor_is_made_as_github_makes_it() -> None:
    # the anchors the pages link to are computed, so the rule itself is pinned here
    assert slug("The number's own application") == "the-numbers-own-application"
    assert slug("Outside `/v1/`") == "outside-v1"
    assert slug("Interactions, Call records and money") == "interactions-call-records-and-money"
    assert slug("Digest authentication (RFC 3261 §22, RFC 8760)") == (
        "digest-authentication-rfc-3261-22-rfc-8760"
    )
