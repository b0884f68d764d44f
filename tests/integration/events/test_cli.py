"""``events list`` / ``events retry`` against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import update
from typer.testing import CliRunner

from tests.integration.events.conftest import emit, new_session, rows
from vts_masking.events.cli import standalone
from vts_masking.store import Account, Store
from vts_masking.store.models import outbox

runner = CliRunner()


def cli(db_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(standalone, [*args, "--database-url", db_url])
    return result.exit_code, result.output


def test_list_shows_events_newest_first_and_filters(
    db_url: str, store: Store, account: Account
) -> None:
    a = new_session(store, account, callback_url="http://example.com/a")
    b = new_session(store, account, callback_url="http://example.com/b")
    emit(store, a, "SessionTimeout")
    with store.db.write() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.session_id == b.id)
            .values(status="failed", attempts=31, last_status=503, last_error="HTTP 503")
        )
    code, out = cli(db_url, "events", "list", "--json")
    assert code == 0, out
    listed = json.loads(out)
    assert [e["id"] for e in listed] == sorted((r.id for r in rows(store)), reverse=True)
    code, out = cli(db_url, "events", "list", "--session", a.uuid, "--json")
    assert [(e["event_name"], e["sequence_number"]) for e in json.loads(out)] == [
        ("SessionTimeout", 2),
        ("SessionCreated", 1),
    ]
    code, out = cli(db_url, "events", "list", "--failed", "--json")
    [failed] = json.loads(out)
    assert failed["session_uuid"] == b.uuid and failed["attempts"] == 31
    assert failed["last_error"] == "HTTP 503"
    code, out = cli(db_url, "events", "list")
    assert code == 0 and "events" not in out and "Sess" in out  # a Rich table


def test_retry_makes_a_failed_event_due_and_refuses_a_delivered_one(
    db_url: str, store: Store, account: Account
) -> None:
    s = new_session(store, account, callback_url="http://example.com/a")
    emit(store, s, "SessionTimeout")
    first, second = rows(store)
    with store.db.write() as conn:
        conn.execute(update(outbox).where(outbox.c.id == first.id).values(status="failed"))
        conn.execute(update(outbox).where(outbox.c.id == second.id).values(status="delivered"))
    code, out = cli(db_url, "events", "retry", str(first.id), "--json")
    assert code == 0, out
    assert json.loads(out)["status"] == "pending"
    assert rows(store)[0].status == "pending"
    code, out = cli(db_url, "events", "retry", str(second.id))
    assert code == 2 and "delivered" in out
    code, out = cli(db_url, "events", "retry", "999999")
    assert code == 2 and "No event" in out


def test_list_of_an_unknown_session_is_an_error_not_an_empty_table(
    db_url: str, store: Store
) -> None:
    code, out = cli(db_url, "events", "list", "--session", "no-such-session")
    assert code == 2 and "no session no-such-session" in out


def test_list_refuses_a_limit_below_one_on_either_store(db_url: str, store: Store) -> None:
    # LIMIT -1 meant "no limit" on SQLite and a traceback on PostgreSQL
    for bad in ("0", "-1"):
        code, out = cli(db_url, "events", "list", "--limit", bad)
        assert code == 2 and "--limit" in out and "Traceback" not in out, out
