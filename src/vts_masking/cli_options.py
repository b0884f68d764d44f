"""Option types shared by every ``vts-masking`` command (same names, same ``VTS_*``
environment variables everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="VTS_DATABASE_URL",
        help="SQLAlchemy URL (default SQLite in the data dir).",
    ),
]
DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir", envvar="VTS_DATA_DIR", help="Folder for SQLite, recordings, caches."
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
