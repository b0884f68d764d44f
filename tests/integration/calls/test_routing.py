"""The routing decision (docs/calls.md#routing-a-call-to-a-virtual-number) straight from the store, on SQLite and PostgreSQL.

Sessions are made through the real API; :meth:`CallLog.route` is asked what a call to
the virtual number from a given caller becomes. The SIPp tests prove the same decisions
on the wire; these pin down every branch, including the ones a phone rarely reaches.
"""

from __future__ import annotations

import pytest

from tests.conftest import Tenant, us
from vts_masking.domain.billing import RateTable
from vts_masking.store.calllog import CallLog

STRANGER = "+13125550199"


@pytest.fixture
def log(tenant: Tenant) -> CallLog:
    return CallLog(tenant.live.store.db, RateTable())


def test_the_first_party_is_bridged_to_the_second(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    route = log.route(s["virtual_number"], us(1))
    assert (route.kind, route.caller_role, route.target) == ("bridge", "first", us(2))
    assert route.session_uuid == s["session_uuid"]


def test_the_second_party_is_bridged_to_the_first(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    route = log.route(s["virtual_number"], us(2))
    assert (route.kind, route.caller_role, route.target) == ("bridge", "second", us(1))


def test_a_party_reaches_its_own_session_among_several_on_the_number(
    tenant: Tenant, log: CallLog
) -> None:
    tenant.add_numbers(tenant.vn(0))
    one = tenant.session(first_party=us(1), second_party=us(2))
    two = tenant.session(first_party=us(3), second_party=us(4))
    assert one["virtual_number"] == two["virtual_number"]
    assert log.route(one["virtual_number"], us(2)).session_uuid == one["session_uuid"]
    assert log.route(one["virtual_number"], us(3)).session_uuid == two["session_uuid"]


def test_a_stranger_on_a_plain_session_is_forbidden(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    route = log.route(s["virtual_number"], STRANGER)
    assert (route.kind, route.status) == ("reject", 403)


def test_a_stranger_on_a_pin_session_is_asked_for_the_pin(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(
        first_party=us(1),
        second_party=us(2),
        is_pin_authentication_required=True,
        first_party_pin="1234",
        second_party_pin="5678",
        pin_prompt_play="https://example.com/pin.mp3",
    )
    route = log.route(s["virtual_number"], STRANGER)
    assert route.kind == "pin" and route.session_uuid == s["session_uuid"]


def test_a_stranger_hears_the_unknown_caller_prompt(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(
        first_party=us(1), second_party=us(2), unknown_caller_play="https://example.com/u.mp3"
    )
    route = log.route(s["virtual_number"], STRANGER)
    assert route.kind == "unknown_caller_play"


def test_a_stranger_reaches_the_registered_party_of_a_single_party_session(
    tenant: Tenant, log: CallLog
) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), create_session_with_single_party=True)
    route = log.route(s["virtual_number"], STRANGER)
    assert (route.kind, route.target, route.caller_role) == ("bridge", us(1), "second")


def test_a_caller_id_that_is_no_number_never_matches_a_binding(
    tenant: Tenant, log: CallLog
) -> None:
    # "*" is the single-party session's own binding key: a From user of "*" is a stranger
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    assert log.route(s["virtual_number"], "*").status == 403
    assert log.route(s["virtual_number"], "anonymous").status == 403


def test_the_registered_party_calls_the_last_stranger_back(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), create_session_with_single_party=True)
    log.route(s["virtual_number"], STRANGER)
    route = log.route(s["virtual_number"], us(1))
    assert (route.kind, route.caller_role, route.target) == ("bridge", "first", STRANGER)


def test_an_anonymous_caller_gets_through_but_is_not_called_back(
    tenant: Tenant, log: CallLog
) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), create_session_with_single_party=True)
    assert log.route(s["virtual_number"], "anonymous").target == us(1)
    assert log.route(s["virtual_number"], "*").target == us(1)
    assert log.route(s["virtual_number"], us(1)).status == 480  # nobody to call back


def single_party_with_pin(tenant: Tenant, **extra: object) -> dict:
    tenant.add_numbers(tenant.vn(0))
    return tenant.session(
        first_party=us(1),
        create_session_with_single_party=True,
        is_pin_authentication_required=True,
        first_party_pin="1234",
        pin_prompt_play="https://example.com/pin.mp3",
        **extra,
    )


def test_a_single_party_session_with_only_its_own_pin_connects_a_stranger(
    tenant: Tenant, log: CallLog
) -> None:
    s = single_party_with_pin(tenant)
    assert log.route(s["virtual_number"], STRANGER).kind == "pin"
    route = log.session_by_pin(s["virtual_number"], "1234", STRANGER)
    assert route is not None and route.session_uuid == s["session_uuid"]
    assert (route.kind, route.target, route.caller_role) == ("bridge", us(1), "second")


def test_either_pin_of_a_single_party_session_reaches_the_registered_party(
    tenant: Tenant, log: CallLog
) -> None:
    s = single_party_with_pin(tenant, second_party_pin="5678")
    for pin in ("1234", "5678"):
        route = log.session_by_pin(s["virtual_number"], pin, STRANGER)
        assert route is not None and route.target == us(1)


def test_the_registered_party_calls_back_the_stranger_who_keyed_the_pin(
    tenant: Tenant, log: CallLog
) -> None:
    s = single_party_with_pin(tenant)
    assert log.route(s["virtual_number"], us(1)).status == 480  # nobody yet
    log.session_by_pin(s["virtual_number"], "1234", STRANGER)
    route = log.route(s["virtual_number"], us(1))
    assert (route.kind, route.caller_role, route.target) == ("bridge", "first", STRANGER)


def test_a_registered_party_forced_to_key_the_pin_calls_the_last_stranger_back(
    tenant: Tenant, log: CallLog
) -> None:
    s = single_party_with_pin(tenant, force_pin_authentication=True)
    assert log.session_by_pin(s["virtual_number"], "1234", us(1)) is None  # nobody yet
    log.session_by_pin(s["virtual_number"], "1234", STRANGER)
    assert log.route(s["virtual_number"], us(1)).kind == "pin"
    route = log.session_by_pin(s["virtual_number"], "1234", us(1))
    assert route is not None and (route.caller_role, route.target) == ("first", STRANGER)


def test_a_wrong_pin_names_no_session(tenant: Tenant, log: CallLog) -> None:
    s = single_party_with_pin(tenant)
    assert log.session_by_pin(s["virtual_number"], "9999", STRANGER) is None


def test_an_unknown_number_is_not_found(tenant: Tenant, log: CallLog) -> None:
    route = log.route("+12209999999", us(1))
    assert (route.kind, route.status) == ("reject", 404)


def test_a_number_without_a_live_session_is_unavailable(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    assert log.route(tenant.vn(0), us(1)).status == 480


def test_a_deleted_session_no_longer_routes(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    tenant.http.delete(f"{tenant.base}Masking/Session/{s['session_uuid']}/")
    assert log.route(s["virtual_number"], us(1)).status == 480


def test_a_number_without_a_session_runs_its_application(tenant: Tenant, log: CallLog) -> None:
    r = tenant.http.post(
        tenant.base + "Number/",
        json={"numbers": tenant.vn(0), "answer_url": "https://example.com/app"},
    )
    assert r.status_code == 201
    route = log.route(tenant.vn(0), STRANGER)
    assert (route.kind, route.answer_url) == ("application", "https://example.com/app")


def test_a_removed_number_is_not_found(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    tenant.http.delete(f"{tenant.base}Number/{tenant.vn(0)}/")
    assert log.route(tenant.vn(0), us(1)).status == 404


def test_a_draining_number_still_routes_its_sessions(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    r = tenant.http.delete(f"{tenant.base}Number/{tenant.vn(0)}/", params={"drain": "true"})
    assert r.json()["state"] == "draining"
    assert log.route(s["virtual_number"], us(1)).kind == "bridge"


def test_after_an_anonymous_caller_nobody_is_called_back(tenant: Tenant, log: CallLog) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), create_session_with_single_party=True)
    log.route(s["virtual_number"], STRANGER)
    log.route(s["virtual_number"], "anonymous")
    assert log.route(s["virtual_number"], us(1)).status == 480
