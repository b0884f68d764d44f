"""A claim's cost does not grow with the backlog: each candidate's order check ("is an
earlier event of this session still open?") is one probe of the partial index of open
events, and candidates are walked on ix_outbox_due — also when PostgreSQL's statistics
were taken before the backlog built up (docs/events.md#delivery)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from vts_masking.store import Account, Store
from vts_masking.store.deliveries import OutboxRepo
from vts_masking.store.models import outbox

from .conftest import emit, new_session


def _plan(store: Store) -> str:
    repo = OutboxRepo(store.db)
    now = store.clock.now()
    cand = repo._cand
    stmt = repo._claim_stmt(
        sa.and_(cand.c.status == "pending", cand.c.next_attempt_at <= now),
        cand.c.next_attempt_at,
        10,
        now + timedelta(seconds=60),
    )
    sql = str(stmt.compile(store.engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if not store.db.postgres else "EXPLAIN "
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + sql).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_the_order_check_probes_open_events_of_the_session_only(
    store: Store, account: Account
) -> None:
    finished = [
        {
            "account_id": account.id,
            "session_id": None,
            "seq": 1,
            "event_name": "SessionCreated",
            "url": "https://e.com/cb",
            "method": "POST",
            "params": "{}",
            "status": "delivered",
            "attempts": 1,
            "next_attempt_at": store.clock.now(),
            "created_time": store.clock.now(),
        }
        for _ in range(20_000)
    ]
    with store.engine.begin() as conn:
        conn.execute(outbox.insert(), finished)
        conn.exec_driver_sql("ANALYZE")  # statistics from before the backlog
    for _ in range(20):  # then a backlog builds up: 20 sessions, 50 open events each
        emit(store, new_session(store, account, callback_url="https://e.com/cb"), *["X"] * 49)
    plan = _plan(store)
    assert "ix_outbox_open_session" in plan, plan
    assert "ix_outbox_due" in plan, plan
    assert "Join Filter" not in plan, plan  # not every open event for every candidate
