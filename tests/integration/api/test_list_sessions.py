"""Listing sessions: filters, ordering and pagination (docs/reference.md#list)."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant, us


@pytest.fixture
def three(tenant: Tenant) -> tuple[Tenant, list[dict]]:
    tenant.add_numbers(tenant.vn(0), tenant.vn(1))
    made = [
        tenant.session(first_party=us(1), second_party=us(2), session_expiry=100),
        tenant.session(first_party=us(3), second_party=us(4), session_expiry=200),
        tenant.session(first_party=us(1), second_party=us(5), session_expiry=300),
    ]
    return tenant, made


def _list(t: Tenant, **params: object) -> dict:
    r = t.http.get(t.base + "Masking/Session/", params=params)
    assert r.status_code == 200, r.text
    return r.json()["response"]


def test_newest_first_with_resource_uri(three) -> None:
    t, made = three
    objects = _list(t)["objects"]
    assert [o["session_uuid"] for o in objects] == [m["session_uuid"] for m in reversed(made)]
    assert objects[0]["resource_uri"].endswith(f"/Masking/Session/{made[2]['session_uuid']}/")


def test_filter_by_party_in_any_number_format(three) -> None:
    t, _ = three
    assert _list(t, first_party="1 (415) 555-0001")["meta"]["total_count"] == 2
    assert _list(t, second_party=us(4))["meta"]["total_count"] == 1


def test_filter_by_virtual_number(three) -> None:
    t, made = three
    vn = made[0]["virtual_number"]
    expected = sum(1 for m in made if m["virtual_number"] == vn)
    assert _list(t, virtual_number=vn)["meta"]["total_count"] == expected


def test_filter_by_duration_comparisons(three) -> None:
    t, _ = three
    assert _list(t, duration__gt=100)["meta"]["total_count"] == 2
    assert _list(t, duration__lte=200)["meta"]["total_count"] == 2
    assert _list(t, duration=300)["meta"]["total_count"] == 1


def test_filter_by_time_comparisons(three) -> None:
    t, made = three
    assert _list(t, created_time__gte=made[0]["created_time"])["meta"]["total_count"] == 3
    assert _list(t, created_time__lt="2000-01-01 00:00")["meta"]["total_count"] == 0
    assert _list(t, expiry_time__gt=made[0]["expiry_time"])["meta"]["total_count"] >= 1


def test_pagination_meta_links(three) -> None:
    t, _ = three
    page = _list(t, limit=2, status="all")
    assert page["meta"]["limit"] == 2 and page["meta"]["total_count"] == 3
    assert page["meta"]["previous"] is None
    assert "offset=2" in page["meta"]["next"] and "status=all" in page["meta"]["next"]
    second = t.http.get(page["meta"]["next"]).json()["response"]
    assert len(second["objects"]) == 1 and second["meta"]["next"] is None


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": 21}, "Invalid parameter. limit is outside the allowed range."),
        ({"limit": 0}, "Invalid parameter. limit is outside the allowed range."),
        ({"offset": -1}, "Invalid parameter. offset is outside the allowed range."),
        (
            {"status": "done"},
            "Invalid parameter. status allowed values are active or in-progress or expired or all.",
        ),
        (
            {"created_time__gt": "yesterday"},
            "Invalid parameter. created_time__gt must be a time written YYYY-MM-DD HH:MM[:SS[.ffffff]].",
        ),
        ({"duration__lt": "long"}, "Invalid parameter. duration__lt must be an integer."),
    ],
)
def test_bad_filter_is_400(tenant: Tenant, params: dict, error: str) -> None:
    r = tenant.http.get(tenant.base + "Masking/Session/", params=params)
    assert r.status_code == 400
    assert r.json()["error"] == error
