"""The worked trunk examples of deploy/README.md are valid trunks files (the docs do not
drift from the parser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vts_masking.sip.trunks import load_trunks

README = Path(__file__).resolve().parents[3] / "deploy" / "README.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)


def test_readme_has_an_example_per_kind_of_trunk() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("block", BLOCKS)
def test_readme_example_is_a_valid_trunks_file(tmp_path: Path, block: str) -> None:
    path = tmp_path / "trunks.toml"
    path.write_text(block)
    env = {name: "secret" for name in re.findall(r'_env = "([A-Z_]+)"', block)}
    table = load_trunks(path, env=env, resolve=False)
    assert table.trunks
