"""Retention (issue 15): finished events and old call records are pruned by age, in
batches, never a pending event; the API answers for what was pruned. Both stores, with a
clock the test moves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL, Tenant, drop_pg_schema, make_tenant, pg_schema_url, us
from tests.support.live import LiveService
from vts_masking.api.app import sweeper
from vts_masking.clock import FrozenClock
from vts_masking.domain.billing import RateTable
from vts_masking.domain.delivery import Decision
from vts_masking.store import Store
from vts_masking.store.calllog import CallLog, CallRef, RecordingLog, RecordingRef
from vts_masking.store.deliveries import AttemptLog, OutboxRepo, Outcome
from vts_masking.store.models import calls, delivery_attempts, interactions, outbox, sessions
from vts_masking.store.retention import EVENTS_LOCK, LOCK_KEY_SQL, RetentionPolicy

DAY = 86400.0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def t(db_url: str, tmp_path, clock: FrozenClock) -> Iterator[Tenant]:
    with LiveService(db_url, tmp_path, clock=clock) as live:
        tenant = make_tenant(live)
        tenant.add_numbers(*(tenant.vn(i) for i in range(8)))
        yield tenant
        tenant.http.close()


def _session(t: Tenant, n: int, **params: Any) -> dict:
    return t.session(
        first_party=us(100 + n),
        second_party=us(200 + n),
        callback_url="https://e.com/cb",
        **params,
    )


def _deliver_all(store: Store) -> int:
    """Claim every due event and record it delivered (with its attempt logged), as the
    worker does after a 200."""
    repo = OutboxRepo(store.db)
    done = 0
    while claimed := repo.claim(100, 60.0):
        now = store.clock.now()
        done += repo.record(
            Outcome(
                c.id,
                c.lease_until,
                Decision("delivered"),
                200,
                None,
                AttemptLog(c.account_id, c.attempts, now, 5, "ok"),
            )
            for c in claimed
        )
    return done


def _count(store: Store, table: sa.Table, *where: Any) -> int:
    with store.db.read() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()
        )


def _statuses(store: Store) -> dict[str, int]:
    with store.db.read() as conn:
        return dict(
            conn.execute(
                sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
            ).all()
        )


def _record_call(store: Store, session_uuid: str, *, record: bool = False) -> str:
    """A whole answered call on the session, written the way the call engine writes it;
    returns the inbound leg's uuid."""
    log = CallLog(store.db, RateTable())
    row = log.session_for_call(session_uuid)
    ref = CallRef(row.id, row.uuid, row.account_id, row.virtual_number)
    now = store.clock.now()
    log.call_started(ref, now)
    a = log.leg_initiated(ref, "a", "first", "inbound", row.first_party, row.virtual_number, now)
    log.leg_answered(ref, "a", "inbound", row.first_party, row.virtual_number, now)
    log.leg_initiated(ref, "b", "second", "outbound", row.virtual_number, row.second_party, now)
    log.leg_answered(ref, "b", "outbound", row.virtual_number, row.second_party, now)
    rec = RecordingRef("0000aaaa-0000-4000-8000-" + row.uuid[-12:], "wav", "/nowhere.wav", now)
    if record:
        RecordingLog(store.db).recording_started(ref, rec, "a")
    store.clock.advance(30)  # type: ignore[attr-defined]  (a FrozenClock)
    end = store.clock.now()
    for leg, frm, to in (
        ("a", row.first_party, row.virtual_number),
        ("b", row.virtual_number, row.second_party),
    ):
        log.leg_finished(
            ref,
            leg,
            answered_at=now,
            sip_status=200,
            cause="NORMAL_CLEARING",
            cause_code=4000,
            from_number=frm,
            to_number=to,
            at=end,
        )
    if record:
        RecordingLog(store.db).recording_finished(
            ref, rec, "a", end, duration=30.0, size=1, failed=False
        )
    log.call_ended(ref, end, both_answered=True)
    return a


def _end(t: Tenant, uuid: str) -> None:
    assert t.http.delete(t.base + f"Masking/Session/{uuid}").status_code in (200, 204)


# -- events -------------------------------------------------------------------------


def test_delivered_events_older_than_retention_are_pruned_with_their_attempts(
    t: Tenant, clock: FrozenClock
) -> None:
    store = t.live.store
    _session(t, 1)
    assert _deliver_all(store) == 1
    clock.advance(31 * DAY)
    assert store.retention.prune_events(30, 1000) == 1
    assert _count(store, outbox) == 0
    assert _count(store, delivery_attempts) == 0


def test_young_delivered_events_are_kept(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    _session(t, 1)
    _deliver_all(store)
    clock.advance(29 * DAY)
    assert store.retention.prune_events(30, 1000) == 0
    assert _statuses(store) == {"delivered": 1}
    assert _count(store, delivery_attempts) == 1


def test_pending_and_in_flight_events_are_never_pruned(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    _session(t, 1)
    _session(t, 2)
    OutboxRepo(store.db).claim(1, 3600 * 24 * 365)  # one in flight under a long lease
    clock.advance(400 * DAY)
    assert store.retention.prune_events(30, 1000) == 0
    assert _statuses(store) == {"delivering": 1, "pending": 1}


def test_failed_and_skipped_events_are_pruned_by_age_too(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    t.session(first_party=us(1), second_party=us(2))  # no callback_url: skipped
    _session(t, 2)
    repo = OutboxRepo(store.db)
    [c] = repo.claim(10, 60.0)
    repo.record([Outcome(c.id, c.lease_until, Decision("failed"), 500, "gave up")])
    assert _statuses(store) == {"failed": 1, "skipped": 1}
    clock.advance(31 * DAY)
    assert store.retention.prune_events(30, 1000) == 2
    assert _count(store, outbox) == 0


def test_a_retried_event_is_as_young_as_its_retry(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    _session(t, 1)
    repo = OutboxRepo(store.db)
    [c] = repo.claim(10, 60.0)
    repo.record([Outcome(c.id, c.lease_until, Decision("failed"), 500, "gave up")])
    clock.advance(29 * DAY)
    assert repo.retry(c.id)  # `events retry`: due now, so its age starts again
    _deliver_all(store)
    clock.advance(2 * DAY)
    assert store.retention.prune_events(30, 1000) == 0
    assert _statuses(store) == {"delivered": 1}


def test_one_event_prune_deletes_at_most_its_batch(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    for n in range(5):
        _session(t, n)
    _deliver_all(store)
    clock.advance(31 * DAY)
    assert store.retention.prune_events(30, 2) == 2
    assert _count(store, outbox) == 3
    assert store.retention.prune_events(30, 2) == 2
    assert store.retention.prune_events(30, 2) == 1
    assert _count(store, outbox) == 0


def test_pruned_events_leave_the_session_event_log(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    s = _session(t, 1)
    _deliver_all(store)
    clock.advance(31 * DAY)
    store.retention.prune_events(30, 1000)
    r = t.http.get(t.base + f"Masking/Session/{s['session_uuid']}/Event")
    assert r.status_code == 200
    assert r.json()["response"]["objects"] == []


# -- call records ---------------------------------------------------------------------


def test_an_ended_session_past_call_retention_is_pruned_with_its_calls(
    t: Tenant, clock: FrozenClock
) -> None:
    store = t.live.store
    s = _session(t, 1)
    _record_call(store, s["session_uuid"])
    _end(t, s["session_uuid"])
    _deliver_all(store)
    clock.advance(91 * DAY)
    assert store.retention.prune_call_records(90, 1000) == 1
    assert [_count(store, x) for x in (sessions, calls, interactions, outbox)] == [0, 0, 0, 0]
    assert _count(store, delivery_attempts) == 0


def test_a_pruned_session_and_its_calls_answer_404(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    s = _session(t, 1)
    leg = _record_call(store, s["session_uuid"])
    _end(t, s["session_uuid"])
    _deliver_all(store)
    clock.advance(91 * DAY)
    assert store.retention.prune_call_records(90, 1000) == 1
    uuid = s["session_uuid"]
    r = t.http.get(t.base + f"Masking/Session/{uuid}")
    assert (r.status_code, r.json()["error"]) == (404, "Session not found.")
    assert t.http.get(t.base + f"Call/{leg}/").status_code == 404
    listed = t.http.get(t.base + "Call/").json()
    assert listed["meta"]["total_count"] == 0
    sessions_listed = t.http.get(t.base + "Masking/Session/").json()["response"]
    assert sessions_listed["meta"]["total_count"] == 0


def test_young_and_live_sessions_are_kept(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    young = _session(t, 1)
    _record_call(store, young["session_uuid"])
    _end(t, young["session_uuid"])
    _deliver_all(store)
    clock.advance(89 * DAY)
    _session(t, 2, session_expiry=2_592_000)  # active
    assert store.retention.prune_call_records(90, 1000) == 0
    clock.advance(2 * DAY)
    # The young one is 91 days old now; the active one is active (not yet expired).
    assert store.retention.prune_call_records(90, 1000) == 1
    assert _count(store, sessions) == 1


def test_an_expired_but_unswept_session_is_kept(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    s = _session(t, 1, session_expiry=60)
    clock.advance(200 * DAY)  # its expiry passed long ago, but no sweep marked it
    assert store.retention.prune_call_records(90, 1000) == 0
    assert t.http.get(t.base + f"Masking/Session/{s['session_uuid']}").status_code == 200


def test_a_session_with_a_pending_event_is_kept(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    s = _session(t, 1)
    _end(t, s["session_uuid"])  # SessionCreated is still pending: no worker ran
    clock.advance(91 * DAY)
    assert store.retention.prune_call_records(90, 1000) == 0
    assert _statuses(store) == {"pending": 1}


def test_a_session_with_a_kept_recording_is_kept_until_it_is_deleted(
    t: Tenant, clock: FrozenClock
) -> None:
    store = t.live.store
    s = _session(t, 1)
    _record_call(store, s["session_uuid"], record=True)
    _end(t, s["session_uuid"])
    _deliver_all(store)
    clock.advance(91 * DAY)
    assert store.retention.prune_call_records(90, 1000) == 0
    [rec] = t.http.get(t.base + "Recording/").json()["objects"]
    assert rec["session_uuid"] == s["session_uuid"]
    assert t.http.delete(t.base + f"Recording/{rec['recording_id']}/").status_code == 200
    assert store.retention.prune_call_records(90, 1000) == 1


def test_one_call_record_prune_deletes_at_most_its_batch(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    for n in range(3):
        _end(t, _session(t, n)["session_uuid"])
    _deliver_all(store)
    clock.advance(91 * DAY)
    assert store.retention.prune_call_records(90, 2) == 2
    assert _count(store, sessions) == 1
    assert store.retention.prune_call_records(90, 2) == 1


def test_retention_zero_keeps_everything(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    s = _session(t, 1)
    _record_call(store, s["session_uuid"])
    _end(t, s["session_uuid"])
    _deliver_all(store)
    clock.advance(10_000 * DAY)
    pruned = store.retention.prune(RetentionPolicy(event_days=0, call_days=0))
    assert (pruned.events, pruned.sessions) == (0, 0)
    assert _count(store, sessions) == 1 and _count(store, calls) == 2
    assert _statuses(store) == {"delivered": _count(store, outbox)}


def test_the_sweeper_prunes_by_the_policy_it_is_given(t: Tenant, clock: FrozenClock) -> None:
    store = t.live.store
    s = _session(t, 1)
    _end(t, s["session_uuid"])
    _deliver_all(store)
    clock.advance(91 * DAY)

    async def one_pass() -> None:
        task = asyncio.create_task(sweeper(store, 0.05, RetentionPolicy(30, 90, 10)))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if _count(store, sessions) == 0:
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(one_pass())
    assert _count(store, sessions) == 0


def _one_old_event_on_postgres(t: Tenant, clock: FrozenClock) -> Store:
    """The tenant's store holding one delivered event past a 30-day retention."""
    store = t.live.store
    if not store.db.postgres:
        pytest.skip("the advisory lock is PostgreSQL's (SQLite admits one writer anyway)")
    _session(t, 1)
    _deliver_all(store)
    clock.advance(31 * DAY)
    return store


def test_a_second_node_skips_pruning_while_one_holds_the_lock(
    t: Tenant, clock: FrozenClock
) -> None:
    store = _one_old_event_on_postgres(t, clock)
    other = Store(store.url, clock, pool_size=1)  # another node on the same database
    try:
        with other.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY_SQL})", (EVENTS_LOCK,))
            assert store.retention.prune_events(30, 1000) == 0
        assert store.retention.prune_events(30, 1000) == 1
    finally:
        other.close()


def test_a_lock_held_in_another_schema_does_not_stop_pruning(
    t: Tenant, clock: FrozenClock
) -> None:
    store = _one_old_event_on_postgres(t, clock)
    assert PG_URL is not None
    url, schema = pg_schema_url(PG_URL)
    elsewhere = Store(url, clock, pool_size=1)  # another deployment on the same server
    try:
        with elsewhere.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY_SQL})", (EVENTS_LOCK,))
            assert store.retention.prune_events(30, 1000) == 1
    finally:
        elsewhere.close()
        drop_pg_schema(PG_URL, schema)


def test_prune_deletes_find_their_rows_by_id_not_by_status(t: Tenant, clock: FrozenClock) -> None:
    """SQLite has no statistics: a delete naming ids *and* a status walked the status
    index, every delivered row of the store (1.3 s a batch among 10 million)."""
    store = t.live.store
    if store.db.postgres:
        pytest.skip("a plan of SQLite's (PostgreSQL has statistics and chooses by them)")
    # Several ids per delete: with one or two, SQLite takes the key anyway.
    for n in range(3):
        _end(t, _session(t, n)["session_uuid"])
    _deliver_all(store)
    old = clock.now()
    account_id = store.accounts.by_auth_id(t.auth_id).id
    with store.db.write() as conn:
        conn.execute(
            outbox.insert(),
            [
                {
                    "account_id": account_id,
                    "seq": 1,
                    "event_name": "SessionCreated",
                    "method": "POST",
                    "params": "{}",
                    "status": "skipped",
                    "attempts": 0,
                    "next_attempt_at": old,
                    "created_time": old,
                }
                for _ in range(20)
            ],
        )
    clock.advance(91 * DAY)
    seen: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("DELETE"):
            seen.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", keep)
    try:
        assert store.retention.prune_call_records(90, 1000) == 3
        assert store.retention.prune_events(30, 1000) == 20
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", keep)
    assert len(seen) >= 8
    with store.engine.connect() as conn:
        for statement, parameters in seen:
            plan = " ".join(
                str(r[-1])
                for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "(status=?)" not in plan, (statement, plan)
