"""Expiry that never drifts (issue 2 §5), with a clock the test moves."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.conftest import Tenant, make_tenant, us
from tests.support.live import LiveService
from vts_masking.clock import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def timed(db_url: str, tmp_path, clock: FrozenClock) -> Iterator[Tenant]:
    with LiveService(db_url, tmp_path, clock=clock) as live:
        t = make_tenant(live)
        t.add_numbers(t.vn(0))
        yield t
        t.http.close()


def _get(t: Tenant, uuid: str) -> dict:
    return t.http.get(t.base + f"Masking/Session/{uuid}").json()["response"]


def _events(t: Tenant, uuid: str) -> list[str]:
    r = t.http.get(t.base + f"Masking/Session/{uuid}/Event")
    return [e["event_name"] for e in r.json()["response"]["objects"]]


def test_session_reads_expired_the_moment_expiry_passes(timed: Tenant, clock: FrozenClock) -> None:
    s = timed.session(first_party=us(1), second_party=us(2), session_expiry=60)
    clock.advance(59)
    assert _get(timed, s["session_uuid"])["status"] == "active"
    clock.advance(1)
    assert _get(timed, s["session_uuid"])["status"] == "expired"


def test_expired_but_unswept_bindings_do_not_block_allocation(
    timed: Tenant, clock: FrozenClock
) -> None:
    timed.session(first_party=us(1), second_party=us(2), session_expiry=60)
    assert timed.create(first_party=us(1), second_party=us(3)).status_code == 400
    clock.advance(61)
    assert timed.create(first_party=us(1), second_party=us(3)).status_code == 201


def test_list_filters_by_effective_status_before_the_sweep(
    timed: Tenant, clock: FrozenClock
) -> None:
    timed.session(first_party=us(1), second_party=us(2), session_expiry=60)
    timed.session(first_party=us(3), second_party=us(4), session_expiry=600)
    clock.advance(120)
    listing = timed.http.get(timed.base + "Masking/Session/", params={"status": "expired"}).json()
    assert listing["response"]["meta"]["total_count"] == 1
    active = timed.http.get(timed.base + "Masking/Session/", params={"status": "active"}).json()
    assert active["response"]["objects"][0]["first_party"] == us(3)


def test_sweeper_marks_expired_and_writes_session_timeout_once(
    timed: Tenant, clock: FrozenClock
) -> None:
    s = timed.session(
        first_party=us(1), second_party=us(2), session_expiry=60, callback_url="https://e.com/cb"
    )
    store = timed.live.store
    assert store.sessions.sweep() == 0
    clock.advance(61)
    assert store.sessions.sweep() == 1
    assert store.sessions.sweep() == 0
    assert _events(timed, s["session_uuid"]) == ["SessionCreated", "SessionTimeout"]


def test_concurrent_sweepers_expire_each_session_once(timed: Tenant, clock: FrozenClock) -> None:
    timed.add_numbers(*(timed.vn(i) for i in range(1, 5)))
    uuids = [
        timed.session(first_party=us(10 + i), second_party=us(50 + i), session_expiry=60)[
            "session_uuid"
        ]
        for i in range(20)
    ]
    clock.advance(61)
    counts: list[int] = []
    failures: list[BaseException] = []
    store = timed.live.store

    def sweep() -> None:
        try:
            counts.append(store.sessions.sweep(batch=7))
            while (n := store.sessions.sweep(batch=7)) > 0:
                counts.append(n)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    assert sum(counts) == 20
    for uuid in uuids:
        assert _events(timed, uuid).count("SessionTimeout") == 1


def test_cooloff_ends_after_its_period(timed: Tenant, clock: FrozenClock) -> None:
    s = timed.session(first_party=us(1), second_party=us(2), virtual_number_cooloff_period=300)
    timed.http.delete(timed.base + f"Masking/Session/{s['session_uuid']}")
    assert timed.create(first_party=us(2), second_party=us(9)).status_code == 400
    clock.advance(299)
    assert timed.create(first_party=us(2), second_party=us(9)).status_code == 400
    clock.advance(2)
    assert timed.create(first_party=us(2), second_party=us(9)).status_code == 201


def test_cooloff_after_natural_expiry(timed: Tenant, clock: FrozenClock) -> None:
    timed.session(
        first_party=us(1), second_party=us(2), session_expiry=60, virtual_number_cooloff_period=100
    )
    clock.advance(61)
    timed.live.store.sessions.sweep()
    assert timed.create(first_party=us(1), second_party=us(9)).status_code == 400
    clock.advance(100)
    assert timed.create(first_party=us(1), second_party=us(9)).status_code == 201


def test_update_of_expired_by_time_session_is_refused(timed: Tenant, clock: FrozenClock) -> None:
    s = timed.session(first_party=us(1), second_party=us(2), session_expiry=60)
    clock.advance(61)
    r = timed.http.post(timed.base + f"Masking/Session/{s['session_uuid']}", json={"record": True})
    assert r.status_code == 400 and r.json()["error"] == "Session already expired."


def test_sweeper_removes_a_drained_number_after_its_last_session(
    timed: Tenant, clock: FrozenClock
) -> None:
    timed.session(first_party=us(1), second_party=us(2), session_expiry=60)
    r = timed.http.delete(timed.base + f"Number/{timed.vn(0)}", params={"drain": True})
    assert r.json()["state"] == "draining"
    clock.advance(61)
    timed.live.store.sessions.sweep()
    assert timed.http.get(timed.base + f"Number/{timed.vn(0)}").status_code == 404


def test_idempotency_keys_older_than_a_day_are_swept(timed: Tenant, clock: FrozenClock) -> None:
    timed.add_numbers(timed.vn(1))
    body = {"first_party": us(1), "second_party": us(2)}
    headers = {"Idempotency-Key": "day-old"}
    first = timed.http.post(timed.base + "Masking/Session/", json=body, headers=headers)
    store = timed.live.store
    clock.advance(23 * 3600)
    assert store.idempotency.sweep() == 0
    clock.advance(2 * 3600)
    assert store.idempotency.sweep() == 1
    # the key is free again: the same request now makes a new session
    again = timed.http.post(timed.base + "Masking/Session/", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json()["session_uuid"] != first.json()["session_uuid"]


def test_an_update_repeated_under_its_key_does_not_move_the_expiry_again(
    timed: Tenant, clock: FrozenClock
) -> None:
    s = timed.session(first_party=us(1), second_party=us(2), session_expiry=60)
    url = timed.base + f"Masking/Session/{s['session_uuid']}/"
    headers = {"Idempotency-Key": "extend"}
    first = timed.http.post(url, json={"session_expiry": 600}, headers=headers)
    clock.advance(30)
    again = timed.http.post(url, json={"session_expiry": 600}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert _get(timed, s["session_uuid"])["expiry_time"] == first.json()["expiry_time"]
