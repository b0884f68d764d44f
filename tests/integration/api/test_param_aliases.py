"""The parameter names the official SDKs really send work like the API's own.

The Node SDK's snake-casing turns ``subAccount`` into ``sub_account``, ``geoMatch`` into
``geo_match``, ``createdTimeEquals`` into ``created_times`` and a ``created_time__lte``
written by hand into ``created_time_lte`` (``domain/param_names.py`` says why). These
are the bodies and query strings it sends, over real HTTP.
"""

from __future__ import annotations

import pytest

from tests.conftest import Tenant, us


@pytest.fixture
def with_sub(tenant: Tenant) -> tuple[Tenant, str]:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "team"}).json()
    tenant.add_numbers(tenant.vn(0))  # the main account's
    tenant.add_numbers(tenant.vn(1), subaccount=sub["auth_id"])  # the subaccount's
    return tenant, sub["auth_id"]


def test_sub_account_puts_the_session_on_the_subaccount_s_numbers(with_sub) -> None:
    t, sub = with_sub
    s = t.session(first_party=us(1), second_party=us(2), sub_account=sub)
    assert s["subaccount"] == sub
    assert s["virtual_number"] == t.vn(1)


def test_the_api_s_own_name_wins_over_an_alias(with_sub) -> None:
    t, sub = with_sub
    s = t.session(first_party=us(1), second_party=us(2), subaccount=None, sub_account=sub)
    assert s["subaccount"] == sub  # null is "not given": the alias is the value
    s = t.session(first_party=us(3), second_party=us(4), subaccount=sub, sub_account="SAnope")
    assert s["subaccount"] == sub


def test_geo_match_false_lets_another_country_s_number_serve(tenant: Tenant) -> None:
    tenant.add_numbers("+44 20 7183 8770")
    refused = tenant.create(first_party=us(1), second_party=us(2))
    assert refused.status_code == 400  # geomatch by default: no US number in the pool
    s = tenant.session(first_party=us(1), second_party=us(2), geo_match=False)
    assert s["geomatch"] is False and s["virtual_number"] == "+442071838770"


def test_created_times_is_created_time(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    found = tenant.http.get(
        tenant.base + "Masking/Session/", params={"created_times": s["created_time"]}
    ).json()["response"]
    assert [o["session_uuid"] for o in found["objects"]] == [s["session_uuid"]]
    none = tenant.http.get(
        tenant.base + "Masking/Session/", params={"created_times": "2001-01-01 00:00:00"}
    ).json()["response"]
    assert none["meta"]["total_count"] == 0


@pytest.mark.parametrize("name", ["expiry_times", "durations"])
def test_the_other_equals_filters_of_the_node_sdk(tenant: Tenant, name: str) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2), session_expiry=777)
    value = s["expiry_time"] if name == "expiry_times" else 777
    r = tenant.http.get(tenant.base + "Masking/Session/", params={name: value})
    assert r.json()["response"]["meta"]["total_count"] == 1
    r = tenant.http.get(tenant.base + "Masking/Session/", params={name: "2001-01-01 00:00"})
    assert r.status_code == (200 if name == "expiry_times" else 400)


def test_a_collapsed_double_underscore_still_compares(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    tenant.session(first_party=us(1), second_party=us(2), session_expiry=100)
    tenant.session(first_party=us(3), second_party=us(4), session_expiry=300)
    r = tenant.http.get(tenant.base + "Masking/Session/", params={"duration_gt": 200})
    assert r.json()["response"]["meta"]["total_count"] == 1
    page = tenant.http.get(
        tenant.base + "Masking/Session/", params={"duration_gt": 0, "limit": 1}
    ).json()["response"]
    assert "duration__gt=0" in page["meta"]["next"]  # the next page asks in the API's name


def test_sub_account_filters_lists(with_sub) -> None:
    t, sub = with_sub
    t.session(first_party=us(1), second_party=us(2), sub_account=sub)
    t.session(first_party=us(3), second_party=us(4))
    sessions = t.http.get(t.base + "Masking/Session/", params={"sub_account": sub}).json()
    assert sessions["response"]["meta"]["total_count"] == 1
    numbers = t.http.get(t.base + "Number/", params={"sub_account": sub}).json()
    assert [o["number"] for o in numbers["objects"]] == [t.vn(1)]


def test_the_go_sdk_s_single_party_flag(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), create_session_with_single_Party=True)
    assert s["create_session_with_single_party"] is True and s["second_party"] is None


def test_unknown_keys_are_still_ignored(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2), favourite_colour="teal")
    assert "favourite_colour" not in s
