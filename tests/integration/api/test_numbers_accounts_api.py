"""Numbers and accounts/subaccounts (docs/reference.md) over real HTTP."""

from __future__ import annotations

import httpx

from tests.conftest import Tenant, us


def test_add_and_list_numbers_with_country_and_counts(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0), "+44 20 7183 8770")
    tenant.session(first_party=us(1), second_party=us(2))
    listed = tenant.http.get(tenant.base + "Number/").json()
    by_number = {o["number"]: o for o in listed["objects"]}
    assert by_number[tenant.vn(0)]["country"] == "US"
    assert by_number[tenant.vn(0)]["active_sessions"] == 1
    assert by_number["+442071838770"]["country"] == "GB"
    assert by_number["+442071838770"]["in_service"] is True
    gb = tenant.http.get(tenant.base + "Number/", params={"country": "GB"}).json()
    assert [o["number"] for o in gb["objects"]] == ["+442071838770"]


def test_get_update_and_remove_a_number(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    path = tenant.base + f"Number/{tenant.vn(0)}/"
    assert tenant.http.get(path).json()["alias"] is None
    r = tenant.http.post(path, json={"alias": "front desk", "answer_url": "https://e.com/answer"})
    assert r.json()["alias"] == "front desk"
    assert tenant.http.delete(path).json()["state"] == "removed"
    assert tenant.http.get(path).status_code == 404


def test_invalid_number_is_refused(tenant: Tenant) -> None:
    r = tenant.http.post(tenant.base + "Number/", json={"numbers": "12"})
    assert r.status_code == 400 and "numbers" in r.json()["error"]
    missing = tenant.http.post(tenant.base + "Number/", json={})
    assert missing.json()["error"] == "Mandatory parameter missing. numbers must be present."


def test_a_number_of_another_account_cannot_be_added(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    r = other_tenant.http.post(other_tenant.base + "Number/", json={"numbers": tenant.vn(0)})
    assert r.status_code == 400
    assert other_tenant.http.get(other_tenant.base + f"Number/{tenant.vn(0)}").status_code == 404


def test_number_list_paginates(tenant: Tenant) -> None:
    tenant.add_numbers(*(tenant.vn(i) for i in range(5)))
    page = tenant.http.get(tenant.base + "Number/", params={"limit": 2, "offset": 2}).json()
    assert len(page["objects"]) == 2
    assert page["meta"]["total_count"] == 5
    assert "offset=4" in page["meta"]["next"] and "offset=0" in page["meta"]["previous"]


def test_get_account(tenant: Tenant) -> None:
    r = tenant.http.get(tenant.base)
    assert r.json()["auth_id"] == tenant.auth_id
    assert r.json()["account_type"] == "main"


def test_subaccount_lifecycle(tenant: Tenant) -> None:
    created = tenant.http.post(tenant.base + "Subaccount/", json={"name": "north"})
    assert created.status_code == 201
    sub = created.json()
    assert sub["auth_id"].startswith("SA") and len(sub["auth_id"]) == 20 and sub["auth_token"]
    path = tenant.base + f"Subaccount/{sub['auth_id']}/"
    assert tenant.http.get(path).json()["name"] == "north"
    assert tenant.http.post(path, json={"enabled": "false"}).json()["enabled"] is False
    with httpx.Client(base_url=tenant.live.url, auth=(sub["auth_id"], sub["auth_token"])) as c:
        assert c.get(f"/v1/Account/{sub['auth_id']}/").status_code == 401  # disabled
    tenant.http.post(path, json={"enabled": True})
    listed = tenant.http.get(tenant.base + "Subaccount/").json()
    assert [o["auth_id"] for o in listed["objects"]] == [sub["auth_id"]]
    assert tenant.http.delete(path).status_code == 200
    assert tenant.http.get(path).status_code == 404


def test_subaccount_name_is_mandatory(tenant: Tenant) -> None:
    r = tenant.http.post(tenant.base + "Subaccount/", json={})
    assert r.status_code == 400
    assert r.json()["error"] == "Mandatory parameter missing. name must be present."


def test_subaccount_of_another_tenant_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "x"}).json()
    r = other_tenant.http.get(other_tenant.base + f"Subaccount/{sub['auth_id']}/")
    assert r.status_code == 404


def test_main_account_reads_but_cannot_write_through_a_subaccount_path(tenant: Tenant) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "x"}).json()
    base = f"/v1/Account/{sub['auth_id']}/Masking/Session/"
    assert tenant.http.get(base).status_code == 200
    r = tenant.http.post(base, json={"first_party": us(1), "second_party": us(2)})
    assert r.status_code == 403


def test_subaccounts_do_not_see_each_others_numbers(tenant: Tenant) -> None:
    a = tenant.http.post(tenant.base + "Subaccount/", json={"name": "a"}).json()
    b = tenant.http.post(tenant.base + "Subaccount/", json={"name": "b"}).json()
    tenant.add_numbers(tenant.vn(0), subaccount=a["auth_id"])
    with httpx.Client(base_url=tenant.live.url, auth=(b["auth_id"], b["auth_token"])) as c:
        listed = c.get(f"/v1/Account/{b['auth_id']}/Number/").json()
        assert listed["objects"] == []
        assert c.get(f"/v1/Account/{b['auth_id']}/Number/{tenant.vn(0)}").status_code == 404
