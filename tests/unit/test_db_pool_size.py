"""VTS_DB_POOL_SIZE sizes the connection pool of the service's store: several nodes on
one PostgreSQL must stay under its max_connections (docs/operations.md, Several nodes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vts_masking.api.app import create_app
from vts_masking.config import Settings


def test_db_pool_size_from_the_environment_sizes_the_service_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VTS_DB_POOL_SIZE", "3")
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'vts.sqlite3'}"))
    try:
        pool = app.state.store.engine.pool
        assert pool.size() == 3 and pool._max_overflow == 3
    finally:
        app.state.store.close()

