"""README.md and docs/ stand alone: no link leaves the repository, every file they
link to or name exists, and every #anchor they link to is a heading of its page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
NAMED = re.compile(r"`((?:src|tests|docs|deploy|bench|\.ci)/[\w./-]+)`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_document_points_only_inside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    assert "../shared" not in text and "shared/spec" not in text
    for target in re.findall(r"\]\(([^)#\s]+)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
    for path in NAMED.findall(text):
        if "*" in path or "{" in path:
            continue
        assert (ROOT / path.rstrip(".")).exists(), f"{doc.name} names missing {path}"


def anchor(heading: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, a dash
    for each space."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_documents_anchors_are_headings_of_the_page_they_link_to(doc: Path) -> None:
    for target, name in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", doc.read_text()):
        page = doc.parent / target if target else doc
        if re.match(r"[a-z]+:", target) or not page.exists():
            continue  # outside links, and missing pages (the test above says so)
        headings = re.findall(r"^#+ (.*)$", page.read_text(), re.M)
        assert name in {anchor(h) for h in headings}, f"{doc.name} links to missing {target}#{name}"
