"""Delivering events to a real receiver on loopback: method, parameters, signature, order,
back-off, giving up, leases. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from tests.integration.events.conftest import drain, emit, new_session, repo, rows
from tests.integration.events.receiver import Receiver
from vts_masking.clock import FrozenClock
from vts_masking.domain.delivery import RetryPolicy
from vts_masking.events.metrics import Counters
from vts_masking.events.worker import DeliveryWorker, WorkerConfig
from vts_masking.store import Account, Store

FAST = WorkerConfig(lease=30.0, deadline=5.0, read_timeout=5.0, connect_timeout=2.0)


def worker(store: Store, **kw: object) -> DeliveryWorker:
    kw.setdefault("allow_private", True)
    kw.setdefault("config", FAST)
    return DeliveryWorker(store.db, **kw)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_post_event_arrives_as_signed_form_with_its_parameters(
    store: Store, account: Account
) -> None:
    with Receiver() as rx:
        session = new_session(store, account, callback_url=rx.url + "/hook", callback_method="POST")
        w = worker(store)
        await drain(w)
        await w.aclose()
    [got] = rx.got()
    [row] = rows(store)
    assert got.method == "POST"
    assert got.url == rx.url + "/hook"
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    assert got.params == json.loads(row.params)
    assert got.params["EventName"] == "SessionCreated"
    assert got.params["SessionUUID"] == session.uuid
    assert got.params["SequenceNumber"] == "1"
    assert got.signature_valid(account.auth_token)
    assert not got.signature_valid("some-other-token")
    assert row.status == "delivered" and row.attempts == 1 and row.last_status == 200


@pytest.mark.asyncio
async def test_get_event_carries_parameters_in_the_signed_query_string(
    store: Store, account: Account
) -> None:
    with Receiver() as rx:
        session = new_session(
            store, account, callback_url=rx.url + "/cb?tenant=a%20b", callback_method="GET"
        )
        emit(store, session, "SessionFirstPartyAnswer")
        w = worker(store)
        await drain(w)
        await w.aclose()
    got = rx.got()
    assert [r.params["EventName"] for r in got] == ["SessionCreated", "SessionFirstPartyAnswer"]
    for r, row in zip(got, rows(store), strict=True):
        assert r.method == "GET" and r.body == b""
        assert r.params == {"tenant": "a b", **json.loads(row.params)}
        assert r.url.startswith(rx.url + "/cb?tenant=a%20b&")
        assert r.signature_valid(account.auth_token)


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_callback_url_without_a_path_is_signed_as_sent_with_its_slash(
    store: Store, account: Account, method: str
) -> None:
    """``http://host:port`` goes out as ``… / HTTP/1.1``: the receiver rebuilds the URL
    with the slash, so that is the URL signed (httpx's str() leaves the path empty)."""
    with Receiver() as rx:
        new_session(store, account, callback_url=rx.url, callback_method=method)
        w = worker(store)
        await drain(w)
        await w.aclose()
    [got] = rx.got()
    assert got.url.split("?")[0] == rx.url + "/"
    assert got.signature_valid(account.auth_token)


@pytest.mark.asyncio
async def test_every_event_type_arrives_with_its_parameters_and_a_valid_signature(
    store: Store, account: Account
) -> None:
    from vts_masking.domain.events import RECORDING_EVENTS, SESSION_EVENTS

    with Receiver() as rx, Receiver() as rec_rx:
        session = new_session(
            store,
            account,
            callback_url=rx.url + "/events",
            callback_method="POST",
            recording_callback_url=rec_rx.url + "/rec",
            recording_callback_method="GET",
        )
        emit(store, session, *SESSION_EVENTS[1:], Duration=62, BilledDuration=120, Amount="0.02")
        emit(store, session, *RECORDING_EVENTS, RecordingUUID="r-1", RecordingFormat=".mp3")
        w = worker(store, config=WorkerConfig(lease=30.0, deadline=5.0, batch_size=7))
        await drain(w, rounds=200)
        await w.aclose()
    sent = {r.params["SequenceNumber"]: r for r in rx.got() + rec_rx.got()}
    assert len(sent) == len(rx.got() + rec_rx.got())  # each event once
    for row in rows(store):
        got = sent[str(row.seq)]
        assert row.status == "delivered"
        assert got.params.items() >= json.loads(row.params).items()
        assert got.params["EventName"] == row.event_name
        assert got.method == ("GET" if row.event_name in RECORDING_EVENTS else "POST")
        assert got.signature_valid(account.auth_token)
    assert {r.params["EventName"] for r in rx.got()} == set(SESSION_EVENTS)
    assert {r.params["EventName"] for r in rec_rx.got()} == set(RECORDING_EVENTS)
    assert rx.got()[-1].params["Amount"] == "0.02"
    assert rec_rx.got()[0].params["RecordingFormat"] == ".mp3"


@pytest.mark.asyncio
async def test_sequence_numbers_arrive_in_order_one_event_of_a_session_at_a_time(
    store: Store, account: Account, clock: FrozenClock
) -> None:
    fails_left = {"2": 1, "4": 2}

    def respond(r):  # seq 2 fails once, seq 4 twice
        left = fails_left.get(r.params["SequenceNumber"], 0)
        if left:
            fails_left[r.params["SequenceNumber"]] = left - 1
            return 503
        return 200

    with Receiver(respond=respond) as rx:
        session = new_session(store, account, callback_url=rx.url)
        emit(store, session, *["SessionFirstPartyInitiated"] * 5)
        w = worker(store)
        for _ in range(30):
            n = await w.run_once()
            # Never two events of one session in a claim.
            assert n <= 1
            clock.advance(3600)
        await w.aclose()
    seqs = [r.seq for r in rx.got()]
    assert seqs == [1, 2, 2, 3, 4, 4, 4, 5, 6]
    assert all(r.status == "delivered" for r in rows(store))


@pytest.mark.asyncio
async def test_receiver_failing_twice_gets_the_event_exactly_when_the_backoff_says(
    store: Store, account: Account, clock: FrozenClock
) -> None:
    answers = iter([500, 500, 200])
    policy = RetryPolicy(base=5.0, cap=3600.0, min_delay=1.0)
    config = WorkerConfig(lease=30.0, deadline=5.0, policy=policy)
    with Receiver(respond=lambda r: next(answers)) as rx:
        new_session(store, account, callback_url=rx.url)
        created = clock.now()
        w = worker(store, config=config, rng=random.Random(7))
        expected = random.Random(7)  # the same draws the worker will make

        assert await w.run_once() == 1  # attempt 1: 500
        first_retry = created + timedelta(seconds=policy.delay(1, expected))
        [row] = rows(store)
        assert (row.status, row.attempts, row.last_status) == ("pending", 1, 500)
        assert row.next_attempt_at == first_retry

        clock.set(first_retry - timedelta(microseconds=1))
        assert await w.run_once() == 0  # not due a microsecond early
        clock.set(first_retry)
        assert await w.run_once() == 1  # attempt 2: 500
        second_retry = first_retry + timedelta(seconds=policy.delay(2, expected))
        assert rows(store)[0].next_attempt_at == second_retry

        clock.set(second_retry - timedelta(microseconds=1))
        assert await w.run_once() == 0
        clock.set(second_retry)
        assert await w.run_once() == 1  # attempt 3: 200
        await w.aclose()
    assert [r.status for r in rx.got()] == [500, 500, 200]
    [row] = rows(store)
    assert (row.status, row.attempts, row.last_status, row.last_error) == (
        "delivered",
        3,
        200,
        None,
    )
    assert row.delivered_time == second_retry


@pytest.mark.asyncio
async def test_event_is_retried_for_24_hours_then_failed_and_kept(
    store: Store, account: Account, clock: FrozenClock
) -> None:
    counters = Counters()
    with Receiver(respond=lambda r: 500) as rx:
        session = new_session(store, account, callback_url=rx.url)
        emit(store, session, "SessionTimeout")
        created = clock.now()
        w = worker(store, counters=counters)
        for _ in range(500):
            await w.run_once()
            first = rows(store)[0]
            if first.status != "pending":
                break
            clock.set(first.next_attempt_at)
        await drain(w)  # the session's next event, released by the give-up
        await w.aclose()
    first, second = rows(store)
    assert first.status == "failed" and first.last_status == 500
    assert clock.now() - created >= timedelta(hours=24)
    # It was still being tried shortly before the 24 hours were up.
    assert first.attempts >= 20
    # The next event of the session was held back all along, then went out (and failed too).
    attempts_of = {}
    for r in rx.got():
        attempts_of.setdefault(r.seq, 0)
        attempts_of[r.seq] += 1
    assert list(attempts_of) == [1, 2]
    assert counters.snapshot()["failed"] == 1 + (second.status == "failed")
    assert counters.snapshot()["retried"] == first.attempts - 1 + (second.attempts - 1)


@pytest.mark.asyncio
async def test_failed_event_releases_the_next_event_of_its_session(
    store: Store, account: Account, clock: FrozenClock
) -> None:
    config = WorkerConfig(lease=30.0, deadline=5.0, policy=RetryPolicy(give_up_after=60.0))
    with Receiver(respond=lambda r: 500 if r.seq == 1 else 200) as rx:
        session = new_session(store, account, callback_url=rx.url)
        emit(store, session, "SessionTimeout")
        w = worker(store, config=config)
        await w.run_once()
        clock.advance(61)
        await w.run_once()  # seq 1 given up
        await w.run_once()  # seq 2 now free
        await w.aclose()
    assert [r.seq for r in rx.got()] == [1, 1, 2]
    assert [r.status for r in rows(store)] == ["failed", "delivered"]


@pytest.mark.asyncio
async def test_redirects_are_not_followed_and_count_as_failures(
    store: Store, account: Account
) -> None:
    with Receiver(respond=lambda r: 302) as rx:
        new_session(store, account, callback_url=rx.url)
        w = worker(store)
        await w.run_once()
        await w.aclose()
    assert len(rx.got()) == 1
    [row] = rows(store)
    assert (row.status, row.last_status, row.last_error) == ("pending", 302, "HTTP 302")


@pytest.mark.asyncio
async def test_a_receiver_that_does_not_answer_in_time_is_retried(
    store: Store, account: Account
) -> None:
    config = WorkerConfig(lease=30.0, deadline=5.0, read_timeout=0.2)
    with Receiver(hold=1.0) as rx:
        new_session(store, account, callback_url=rx.url)
        w = worker(store, config=config)
        await w.run_once()
        await w.aclose()
    [row] = rows(store)
    assert (row.status, row.last_status, row.last_error) == ("pending", None, "timeout")


@pytest.mark.asyncio
async def test_a_large_response_body_is_not_read_to_the_end(store: Store, account: Account) -> None:
    config = WorkerConfig(lease=30.0, deadline=5.0, max_body=1024)
    with Receiver(body=b"x" * 5_000_000) as rx:
        new_session(store, account, callback_url=rx.url)
        w = worker(store, config=config)
        await w.run_once()
        await w.aclose()
    assert rows(store)[0].status == "delivered"


@pytest.mark.asyncio
async def test_unreachable_receiver_is_a_retry_with_the_error_kept(
    store: Store, account: Account
) -> None:
    with Receiver() as rx:
        url = rx.url
    new_session(store, account, callback_url=url)  # nothing listens there any more
    w = worker(store)
    await w.run_once()
    await w.aclose()
    [row] = rows(store)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_status is None and "Connect" in row.last_error


@pytest.mark.asyncio
async def test_an_event_whose_lease_ran_out_is_delivered_by_another_worker(
    store: Store, account: Account, clock: FrozenClock
) -> None:
    with Receiver() as rx:
        new_session(store, account, callback_url=rx.url)
        [dead] = repo(store).claim(10, lease=30.0)  # a worker that then died
        w = worker(store)
        assert await w.run_once() == 0  # still leased
        clock.advance(31)
        assert await w.run_once() == 1
        await w.aclose()
    [row] = rows(store)
    assert row.status == "delivered" and row.attempts == 2
    # The dead worker waking up late cannot overwrite the outcome: its lease is gone.
    from vts_masking.domain.delivery import Decision
    from vts_masking.store.deliveries import Outcome

    kept = repo(store).record([Outcome(dead.id, dead.lease_until, Decision("failed"), 500, "x")])
    assert kept == 0 and rows(store)[0].status == "delivered"
    assert len(rx.got()) == 1


def test_events_without_a_url_are_skipped_and_never_claimed(store: Store, account: Account) -> None:
    new_session(store, account)
    assert rows(store)[0].status == "skipped"
    assert repo(store).claim(10, lease=30.0) == []
