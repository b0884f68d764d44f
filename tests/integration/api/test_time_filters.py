"""Time filters of every list take a value to the second as that whole second.

Times are stored with microseconds and shown to the second: a customer who copies a
session's own ``created_time`` into ``created_time__lte`` must find it, and into
``created_time__gt`` must not. The clock is frozen a quarter of a second into a second,
so a filter comparing to the shown value alone would get each of these wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.conftest import Tenant, make_tenant, us
from tests.support.calls import log_call
from tests.support.live import LiveService
from vts_masking.clock import FrozenClock

START = datetime(2026, 3, 4, 10, 20, 30, 250000)
SHOWN = "2026-03-04 10:20:30"


@pytest.fixture(scope="module")
def frozen(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    """One session created at START (expiring 600 s later), with one recorded call whose
    legs start at START too."""
    clock = FrozenClock(START)
    data = tmp_path_factory.mktemp("data")
    with LiveService(module_db_url, data, clock=clock) as live:
        t = make_tenant(live)
        t.add_numbers(t.vn(0))
        session = t.session(first_party=us(1), second_party=us(2), session_expiry=600)
        media = data / "call.wav"
        media.write_bytes(b"RIFF" + bytes(64))
        log_call(live, session, start=START, talk=30, media=media)
        yield t
        t.http.close()


SESSIONS = "Masking/Session/"


def count(t: Tenant, resource: str, **params: object) -> int:
    r = t.http.get(t.base + resource, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    page = body["response"] if resource == SESSIONS else body  # only sessions wrap
    return page["meta"]["total_count"]



@pytest.mark.parametrize(
    ("op", "found"),
    [("", 1), ("__lte", 1), ("__gte", 1), ("__gt", 0), ("__lt", 0)],
)
def test_a_session_s_own_created_time_filters_as_its_whole_second(
    frozen: Tenant, op: str, found: int
) -> None:
    shown = frozen.http.get(frozen.base + SESSIONS).json()["response"]["objects"][0]
    assert shown["created_time"] == SHOWN
    assert count(frozen, SESSIONS, **{f"created_time{op}": SHOWN}) == found


@pytest.mark.parametrize(
    ("op", "found"),
    [("", 1), ("__lte", 1), ("__gte", 1), ("__gt", 0), ("__lt", 0)],
)
def test_a_session_s_own_expiry_time_filters_as_its_whole_second(
    frozen: Tenant, op: str, found: int
) -> None:
    expiry = (START + timedelta(seconds=600)).strftime("%Y-%m-%d %H:%M:%S")
    assert count(frozen, SESSIONS, **{f"expiry_time{op}": expiry}) == found


def test_the_next_second_is_after_the_session(frozen: Tenant) -> None:
    assert count(frozen, SESSIONS, created_time__gte="2026-03-04 10:20:31") == 0
    assert count(frozen, SESSIONS, created_time__lt="2026-03-04 10:20:31") == 1


def test_a_value_with_a_fraction_is_exact(frozen: Tenant) -> None:
    assert count(frozen, SESSIONS, created_time="2026-03-04 10:20:30.250000") == 1
    assert count(frozen, SESSIONS, created_time__gt="2026-03-04 10:20:30.2") == 1
    assert count(frozen, SESSIONS, created_time__lte="2026-03-04 10:20:30.1") == 0
    assert count(frozen, SESSIONS, created_time__lt="2026-03-04 10:20:30.250000") == 0


def test_a_value_to_the_minute_filters_as_its_whole_minute(frozen: Tenant) -> None:
    assert count(frozen, SESSIONS, created_time="2026-03-04 10:20") == 1
    assert count(frozen, SESSIONS, created_time__lte="2026-03-04 10:20") == 1
    assert count(frozen, SESSIONS, created_time__gt="2026-03-04 10:20") == 0


@pytest.mark.parametrize(
    ("op", "found"),
    [("", 1), ("__lte", 1), ("__gte", 1), ("__gt", 0), ("__lt", 0)],
)
def test_a_call_leg_s_own_initiation_time_filters_as_its_whole_second(
    frozen: Tenant, op: str, found: int
) -> None:
    legs = frozen.http.get(frozen.base + "Call/").json()["objects"]
    inbound = next(leg for leg in legs if leg["call_direction"] == "inbound")
    assert inbound["initiation_time"] == SHOWN
    params = {f"initiation_time{op}": SHOWN, "call_direction": "inbound"}
    assert count(frozen, "Call/", **params) == found


def test_end_and_answer_time_filters_take_whole_seconds_too(frozen: Tenant) -> None:
    # Both legs end 33 s after START; the callee answers 3 s after it.
    end = (START + timedelta(seconds=33)).strftime("%Y-%m-%d %H:%M:%S")
    assert count(frozen, "Call/", end_time=end) == 2
    assert count(frozen, "Call/", end_time__lte=end) == 2
    assert count(frozen, "Call/", end_time__gt=end) == 0
    answer = (START + timedelta(seconds=3)).strftime("%Y-%m-%d %H:%M:%S")
    assert count(frozen, "Call/", answer_time=answer) == 1


@pytest.mark.parametrize(("op", "found"), [("", 1), ("__lte", 1), ("__gt", 0), ("__lt", 0)])
def test_a_recording_s_own_add_time_filters_as_its_whole_second(
    frozen: Tenant, op: str, found: int
) -> None:
    rec = frozen.http.get(frozen.base + "Recording/").json()["objects"][0]
    assert count(frozen, "Recording/", **{f"add_time{op}": rec["add_time"]}) == found


def test_bad_time_filters_of_calls_and_recordings_are_400(frozen: Tenant) -> None:
    for resource, name in (("Call/", "end_time__gt"), ("Recording/", "add_time__lte")):
        r = frozen.http.get(frozen.base + resource, params={name: "last week"})
        assert r.status_code == 400
        assert r.json()["error"] == (
            f"Invalid parameter. {name} must be a time written YYYY-MM-DD HH:MM[:SS[.ffffff]]."
        )
