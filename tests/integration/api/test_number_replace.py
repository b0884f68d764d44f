"""Taking a number out of service with ``replace=true``: its live sessions move to other
numbers of their pool by the allocation rule, each customer is told
(``SessionVirtualNumberReplaced``), and a pool that cannot take them all changes nothing
(docs/reference.md#numbers)."""

from __future__ import annotations

import httpx

from tests.conftest import Tenant, us
from vts_masking.domain.billing import RateTable
from vts_masking.store.calllog import CallLog

POOL_EXHAUSTED = "Number pool exhausted or not available."


def remove(t: Tenant, n: int, **params: str) -> httpx.Response:
    return t.http.delete(t.base + f"Number/{t.vn(n)}", params=params)


def session_of(t: Tenant, uuid: str) -> dict:
    return t.http.get(t.base + f"Masking/Session/{uuid}/").json()["response"]


def events_of(t: Tenant, uuid: str) -> list[dict]:
    r = t.http.get(t.base + f"Masking/Session/{uuid}/Event/")
    return r.json()["response"]["objects"]


def test_replace_moves_each_live_session_to_another_number_and_removes_it(
    tenant: Tenant,
) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    tenant.add_numbers(tenant.vn(1))
    r = remove(tenant, 0, replace="true")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "removed"
    assert session_of(tenant, s["session_uuid"])["virtual_number"] == tenant.vn(1)
    assert tenant.http.get(tenant.base + f"Number/{tenant.vn(0)}/").status_code == 404


def test_the_customer_is_sent_virtual_number_replaced_with_both_numbers(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    tenant.add_numbers(tenant.vn(1))
    remove(tenant, 0, replace="true")
    events = events_of(tenant, s["session_uuid"])
    assert [e["event_name"] for e in events] == ["SessionCreated", "SessionVirtualNumberReplaced"]
    params = events[1]["params"]
    assert params["VirtualNumber"] == tenant.vn(1)
    assert params["PreviousVirtualNumber"] == tenant.vn(0)
    assert params["SequenceNumber"] == "2"


def test_moved_sessions_keep_the_allocation_rule(tenant: Tenant) -> None:
    # us(1) holds sessions on numbers 0 and 1; moving the one on 0 must skip number 1.
    tenant.add_numbers(tenant.vn(0))
    on_zero = tenant.session(first_party=us(1), second_party=us(2))
    assert remove(tenant, 0, drain="true").json()["state"] == "draining"
    tenant.add_numbers(tenant.vn(1))
    tenant.session(first_party=us(1), second_party=us(3))
    tenant.add_numbers(tenant.vn(2))
    assert remove(tenant, 0, replace="true").status_code == 200
    assert session_of(tenant, on_zero["session_uuid"])["virtual_number"] == tenant.vn(2)


def test_a_subaccounts_session_moves_within_the_subaccounts_pool(tenant: Tenant) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "city"}).json()
    tenant.add_numbers(tenant.vn(0), subaccount=sub["auth_id"])
    s = tenant.session(first_party=us(1), second_party=us(2), subaccount=sub["auth_id"])
    tenant.add_numbers(tenant.vn(1))
    tenant.add_numbers(tenant.vn(2), subaccount=sub["auth_id"])
    assert remove(tenant, 0, replace="true").status_code == 200
    assert session_of(tenant, s["session_uuid"])["virtual_number"] == tenant.vn(2)


def test_a_pool_that_cannot_take_every_session_changes_nothing(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    first = tenant.session(first_party=us(1), second_party=us(2))
    second = tenant.session(first_party=us(3), second_party=us(4))
    assert remove(tenant, 0, drain="true").json()["state"] == "draining"
    tenant.add_numbers(tenant.vn(1))
    # number 1 can take one of the two sessions only if us(1) is not live there
    tenant.session(first_party=us(1), second_party=us(5))
    tenant.session(first_party=us(3), second_party=us(6))
    r = remove(tenant, 0, replace="true")
    assert r.status_code == 400 and r.json()["error"] == POOL_EXHAUSTED
    for s in (first, second):
        assert session_of(tenant, s["session_uuid"])["virtual_number"] == tenant.vn(0)
        assert [e["event_name"] for e in events_of(tenant, s["session_uuid"])] == [
            "SessionCreated"
        ]
    got = tenant.http.get(tenant.base + f"Number/{tenant.vn(0)}/")
    assert got.status_code == 200 and got.json()["state"] == "draining"


def test_calls_to_the_new_number_reach_the_moved_session(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    tenant.add_numbers(tenant.vn(1))
    remove(tenant, 0, replace="true")
    log = CallLog(tenant.live.store.db, RateTable())
    route = log.route(tenant.vn(1), us(1))
    assert route.kind == "bridge" and route.session_uuid == s["session_uuid"]
    assert route.target == us(2)
    assert log.route(tenant.vn(0), us(1)).kind == "reject"


def test_without_drain_or_replace_a_number_with_live_sessions_is_refused(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    tenant.session(first_party=us(1), second_party=us(2))
    r = remove(tenant, 0)
    assert r.status_code == 400
    assert "replace=true" in r.json()["error"]
