"""The console's store operations (store/stats.py) on both stores, with data written by
the very operations the API, the call engine and the delivery worker use; the clock is
frozen so "today" and "the last 24 hours" are exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import us
from tests.integration.events.receiver import Receiver
from vts_masking.clock import FrozenClock
from vts_masking.domain.billing import RateTable
from vts_masking.domain.delivery import RetryPolicy
from vts_masking.domain.session_params import parse_create
from vts_masking.events.worker import DeliveryWorker, WorkerConfig
from vts_masking.store import Account, Principal, Store
from vts_masking.store.calllog import CallLog, CallRef
from vts_masking.store.stats import percentile

NOW = datetime(2026, 3, 10, 15, 30, 0)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def store(db_url: str, clock: FrozenClock) -> Iterator[Store]:
    s = Store(db_url, clock, pool_size=5)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def main(store: Store) -> Account:
    return store.accounts.create("stats-main")


@pytest.fixture
def sub(store: Store, main: Account) -> Account:
    return store.accounts.create("stats-sub", parent=main)


def me(account: Account, main: Account | None = None) -> Principal:
    if main is None:
        return Principal(account, account, None)
    return Principal(account, main, account)


def new_session(store: Store, who: Principal, n: int, **params: Any) -> dict[str, Any]:
    raw = {"first_party": us(100 + 2 * n), "second_party": us(101 + 2 * n), **params}
    _, body = store.sessions.create(who, parse_create(raw), render=lambda view: view)
    return body


def call(
    store: Store,
    session: dict[str, Any],
    at: datetime,
    *,
    answered: bool = True,
    ends: bool = True,
) -> None:
    """One call as the engine writes it: an inbound first leg, an outbound second leg
    that rings and is answered (then both hang up after 90 s) or is busy."""
    log = CallLog(store.db, RateTable())
    row = log.session_for_call(session["session_uuid"])
    ref = CallRef(row.id, row.uuid, row.account_id, row.virtual_number)
    a, b, vn = session["first_party"], session["second_party"], session["virtual_number"]
    log.call_started(ref, at)
    log.leg_initiated(ref, "in", "first", "inbound", a, vn, at)
    log.leg_answered(ref, "in", "inbound", a, vn, at)
    log.leg_initiated(ref, "out", "second", "outbound", vn, b, at)
    log.leg_ringing(ref, "out", vn, b, at + timedelta(seconds=1))
    if answered:
        log.leg_answered(ref, "out", "outbound", vn, b, at + timedelta(seconds=3))
    if not ends:
        return
    end = at + timedelta(seconds=93)
    if answered:
        for leg, (f, t) in (("out", (vn, b)), ("in", (a, vn))):
            log.leg_finished(
                ref,
                leg,
                answered_at=at + timedelta(seconds=3),
                sip_status=None,
                cause="NORMAL_CLEARING",
                cause_code=16,
                from_number=f,
                to_number=t,
                at=end,
            )
    else:
        log.leg_finished(
            ref,
            "out",
            answered_at=None,
            sip_status=486,
            cause="USER_BUSY",
            cause_code=17,
            from_number=vn,
            to_number=b,
            at=at + timedelta(seconds=4),
        )
        log.leg_finished(
            ref,
            "in",
            answered_at=at,
            sip_status=None,
            cause="NORMAL_CLEARING",
            cause_code=16,
            from_number=a,
            to_number=vn,
            at=at + timedelta(seconds=4),
        )
    log.call_ended(ref, end, both_answered=answered)


def test_the_dashboard_counts_live_and_todays_sessions(store: Store, main: Account) -> None:
    store.numbers.add(main, [f"+1220500{n:04d}" for n in range(3)])
    new_session(store, me(main), 0, session_expiry=60)
    new_session(store, me(main), 1)
    board = store.stats.dashboard(me(main))
    assert (board.sessions_active, board.sessions_today) == (2, 2)
    store.clock.advance(120)  # the first one's expiry passed (not yet swept)
    assert store.stats.dashboard(me(main)).sessions_active == 1


def test_calls_are_counted_per_hour_with_answer_rate_and_hangup_causes(
    store: Store, main: Account
) -> None:
    store.numbers.add(main, ["+12205010000", "+12205010001"])
    s = new_session(store, me(main), 0)
    call(store, s, NOW - timedelta(hours=2, minutes=10))
    call(store, s, NOW - timedelta(hours=2, minutes=5), answered=False)
    call(store, s, NOW - timedelta(minutes=20))
    call(store, s, NOW - timedelta(hours=30))  # outside the last 24 hours
    board = store.stats.dashboard(me(main))
    hours = dict(board.calls_per_hour)
    assert len(board.calls_per_hour) == 24
    assert hours[datetime(2026, 3, 10, 13, 0)] == 2
    assert hours[datetime(2026, 3, 10, 15, 0)] == 1
    assert sum(hours.values()) == 3
    assert (board.legs_dialled, board.legs_answered) == (3, 2)
    assert board.answer_rate == pytest.approx(2 / 3)
    assert dict(board.hangup_causes) == {"NORMAL_CLEARING": 5, "USER_BUSY": 1}


def test_a_call_without_an_end_is_in_progress(store: Store, main: Account) -> None:
    store.numbers.add(main, ["+12205020000"])
    s = new_session(store, me(main), 0)
    call(store, s, NOW - timedelta(minutes=1), ends=False)
    assert store.stats.dashboard(me(main)).calls_in_progress == 1
    legs = store.stats.calls_in_progress(me(main))
    assert {leg["party"] for leg in legs} == {"first", "second"}
    assert {leg["session_uuid"] for leg in legs} == {s["session_uuid"]}
    store.clock.advance(5 * 3600)  # longer than any call may last: a crash's leftover
    assert store.stats.calls_in_progress(me(main)) == []


def test_pool_use_is_per_pool_and_a_subaccount_sees_only_its_own(
    store: Store, main: Account, sub: Account
) -> None:
    store.numbers.add(main, ["+12205030000", "+12205030001"])
    store.numbers.add(main, ["+12205030002"], pool=sub)
    store.numbers.remove(main, None, "+12205030001", drain=True)  # no session: removed
    new_session(store, me(main), 0)
    new_session(store, me(sub, main), 1)
    pools = {p.auth_id: p for p in store.stats.dashboard(me(main)).pools}
    assert (pools[main.auth_id].in_service, pools[main.auth_id].in_use) == (1, 1)
    assert (pools[sub.auth_id].in_service, pools[sub.auth_id].in_use) == (1, 1)
    assert pools[sub.auth_id].live_sessions == 1 and not pools[sub.auth_id].is_main
    mine = store.stats.dashboard(me(sub, main))
    assert [p.auth_id for p in mine.pools] == [sub.auth_id]
    assert mine.sessions_active == 1


def test_the_operator_sees_every_account(store: Store, main: Account) -> None:
    other = store.accounts.create("stats-other")
    store.numbers.add(main, ["+12205040000"])
    store.numbers.add(other, ["+12205040001"])
    new_session(store, me(main), 0)
    new_session(store, me(other), 1)
    board = store.stats.dashboard(None)
    assert board.sessions_active == 2
    assert {p.auth_id for p in board.pools} == {main.auth_id, other.auth_id}


def test_a_number_lists_its_live_sessions_for_its_tenant_only(
    store: Store, main: Account, sub: Account
) -> None:
    store.numbers.add(main, ["+12205050000"])
    a = new_session(store, me(main), 0)
    b = new_session(store, me(main), 1, session_expiry=60)
    store.clock.advance(61)
    number = store.numbers.get(main, None, "+12205050000")
    live = store.stats.number_sessions(me(main), number["id"])
    assert [s["session_uuid"] for s in live] == [a["session_uuid"]]
    assert b["session_uuid"] not in {s["session_uuid"] for s in live}
    assert store.stats.number_sessions(me(sub, main), number["id"]) == []


@pytest.mark.asyncio
async def test_each_delivery_attempt_is_kept_with_the_receivers_answer(
    store: Store, main: Account, sub: Account
) -> None:
    store.numbers.add(main, ["+12205060000"])
    store.numbers.add(main, ["+12205060001"], pool=sub)
    refused: set[str] = set()
    with Receiver(
        respond=lambda r: 502 if r.params.get("SessionUUID") in refused else 200,
        body=b"busy, come back later",
    ) as rx:
        s = new_session(store, me(main), 0, callback_url=rx.url + "/cb")
        refused.add(s["session_uuid"])
        theirs = new_session(store, me(sub, main), 1, callback_url=rx.url + "/cb")
        worker = DeliveryWorker(
            store.db, allow_private=True, config=WorkerConfig(policy=RetryPolicy(give_up_after=0))
        )
        assert await worker.run_once() == 2
        await worker.aclose()
    total, failed = store.stats.deliveries(me(main), ("failed",), 10, 0)
    assert total == 1 and failed[0]["session_uuid"] == s["session_uuid"]
    assert failed[0]["answer"] == "busy, come back later"
    [attempts] = store.stats.session_attempts(me(main), s["session_uuid"]).values()
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in attempts] == [
        (1, 502, "failed")
    ]
    assert attempts[0]["latency_ms"] >= 0 and attempts[0]["attempted_time"] == NOW
    board = store.stats.dashboard(me(main))
    assert (board.events_failed, board.events_pending) == (1, 0)
    assert board.p95_latency_ms is not None  # from the delivered attempt
    # the main account sees its subaccount's delivery; the subaccount only its own
    assert store.stats.deliveries(me(main), ("delivered",), 10, 0)[0] == 1
    sub_total, sub_rows = store.stats.deliveries(me(sub, main), ("failed", "delivered"), 10, 0)
    assert sub_total == 1 and sub_rows[0]["session_uuid"] == theirs["session_uuid"]
    assert store.stats.session_attempts(me(sub, main), s["session_uuid"]) == {}
    assert store.stats.event(me(sub, main), failed[0]["id"]) is None


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([7], 0.95) == 7
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile([5, 1, 3], 0.5) == 3
