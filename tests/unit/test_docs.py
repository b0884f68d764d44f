"""README.md and docs/ stand alone: no link leaves the repository, and every file they
link to or name exists."""

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
