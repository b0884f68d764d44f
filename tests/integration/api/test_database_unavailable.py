"""A database that cannot serve now (locked past the busy timeout, out of connections,
restarting) is a ``503`` with ``Retry-After`` in the API's error shape, not a 500: the
request did nothing and may be sent again (docs/reference.md#answers-and-errors)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from starlette.requests import Request

from vts_masking.api.app import create_app
from vts_masking.config import Settings
from vts_masking.store import Store, db


def locked_error(tmp_path: Path) -> OperationalError:
    """A real "database is locked" from SQLAlchemy: another connection holds the lock."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
    except OperationalError as exc:
        return exc
    finally:
        holder.close()
        engine.dispose()
    raise AssertionError("the write went through a held lock")


def statement_error(tmp_path: Path) -> OperationalError:
    engine = create_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))
    except OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("a missing table was read")


def test_a_lock_held_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    assert db.unavailable(locked_error(tmp_path))


def test_a_wrong_statement_is_a_bug_not_unavailability(tmp_path: Path) -> None:
    assert not db.unavailable(statement_error(tmp_path))


def test_a_refused_postgresql_connection_is_unavailable() -> None:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    with pytest.raises(OperationalError) as caught:
        engine.connect()
    assert db.unavailable(caught.value)


def answer(tmp_path: Path, exc: Exception) -> tuple[int, dict[str, str], dict]:
    store = Store(f"sqlite:///{tmp_path / 'vts.sqlite3'}")
    store.migrate()
    app = create_app(Settings(data_dir=tmp_path), store=store, background=False)
    handler = app.exception_handlers[Exception]
    scope = {"type": "http", "method": "POST", "path": "/v1/x/", "headers": [], "app": app}
    response = asyncio.run(handler(Request(scope), exc))
    store.close()
    return response.status_code, dict(response.headers), json.loads(response.body)


def test_the_api_answers_503_with_retry_after_when_the_database_is_unavailable(
    tmp_path: Path,
) -> None:
    status, headers, body = answer(tmp_path, locked_error(tmp_path))
    assert status == 503 and headers["retry-after"] == "1"
    assert body["error"] == "Service temporarily unavailable. Try again." and body["api_id"]


def test_any_other_failure_stays_a_500_without_a_trace(tmp_path: Path) -> None:
    status, _, body = answer(tmp_path, statement_error(tmp_path))
    assert status == 500 and body["error"] == "Internal server error."
