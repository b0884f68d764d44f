"""The allocation rule (docs/reference.md#allocation) as a customer sees it through the API."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from tests.conftest import Tenant, us

POOL_EXHAUSTED = "Number pool exhausted or not available."


def test_sessions_sharing_a_party_get_distinct_numbers(tenant: Tenant) -> None:
    tenant.add_numbers(*(tenant.vn(i) for i in range(3)))
    numbers = {
        tenant.session(first_party=us(1), second_party=us(10 + i))["virtual_number"]
        for i in range(3)
    }
    assert len(numbers) == 3


def test_exhausted_pool_is_refused_and_leaves_nothing(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    tenant.session(first_party=us(1), second_party=us(2))
    r = tenant.create(first_party=us(1), second_party=us(3))
    assert r.status_code == 400 and r.json()["error"] == POOL_EXHAUSTED
    listed = tenant.http.get(tenant.base + "Masking/Session/").json()["response"]
    assert listed["meta"]["total_count"] == 1


def test_unrelated_parties_share_one_number(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    for i in range(5):
        tenant.session(first_party=us(100 + i), second_party=us(200 + i))


def test_pool_of_2k_minus_1_always_suffices(tenant: Tenant) -> None:
    """Random workload where every party holds at most K sessions at once."""
    k = 3
    tenant.add_numbers(*(tenant.vn(i) for i in range(2 * k - 1)))
    rng = random.Random(7)
    people = [us(300 + i) for i in range(8)]
    held: dict[str, list[str]] = defaultdict(list)
    live: list[tuple[str, str, str]] = []
    for _ in range(60):
        if live and rng.random() < 0.35:
            uuid, a, b = live.pop(rng.randrange(len(live)))
            assert tenant.http.delete(tenant.base + f"Masking/Session/{uuid}").status_code == 200
            held[a].remove(uuid)
            held[b].remove(uuid)
            continue
        a, b = rng.sample(people, 2)
        if len(held[a]) >= k or len(held[b]) >= k:
            continue
        s = tenant.session(first_party=a, second_party=b)
        held[a].append(s["session_uuid"])
        held[b].append(s["session_uuid"])
        live.append((s["session_uuid"], a, b))


def test_geomatch_picks_a_number_of_the_first_partys_country(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0), "+442071838750")
    uk = tenant.session(first_party="+442071838751", second_party=us(1))
    assert uk["virtual_number"] == "+442071838750"
    usa = tenant.session(first_party=us(2), second_party="+442071838752")
    assert usa["virtual_number"] == tenant.vn(0)


def test_geomatch_without_a_number_of_that_country_is_exhausted(tenant: Tenant) -> None:
    tenant.add_numbers("+442071838760")
    r = tenant.create(first_party=us(1), second_party=us(2))
    assert r.status_code == 400 and r.json()["error"] == POOL_EXHAUSTED
    s = tenant.session(first_party=us(1), second_party=us(2), geomatch="false")
    assert s["virtual_number"] == "+442071838760"


def test_subaccount_sessions_use_the_subaccounts_numbers(tenant: Tenant) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "city"}).json()
    tenant.add_numbers(tenant.vn(0))
    tenant.add_numbers(tenant.vn(1), subaccount=sub["auth_id"])
    s = tenant.session(first_party=us(1), second_party=us(2), subaccount=sub["auth_id"])
    assert s["virtual_number"] == tenant.vn(1) and s["subaccount"] == sub["auth_id"]
    main = tenant.session(first_party=us(3), second_party=us(4))
    assert main["virtual_number"] == tenant.vn(0)


def test_a_subaccount_sees_only_its_own_sessions(tenant: Tenant) -> None:
    import httpx

    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "city"}).json()
    tenant.add_numbers(tenant.vn(0))
    tenant.add_numbers(tenant.vn(1), subaccount=sub["auth_id"])
    tenant.session(first_party=us(3), second_party=us(4))
    with httpx.Client(base_url=tenant.live.url, auth=(sub["auth_id"], sub["auth_token"])) as c:
        base = f"/v1/Account/{sub['auth_id']}/"
        r = c.post(base + "Masking/Session/", json={"first_party": us(1), "second_party": us(2)})
        assert r.status_code == 201 and r.json()["virtual_number"] == tenant.vn(1)
        listed = c.get(base + "Masking/Session/").json()["response"]
        assert listed["meta"]["total_count"] == 1
        assert c.get(tenant.base + "Masking/Session/").status_code == 403
    main_view = tenant.http.get(f"/v1/Account/{sub['auth_id']}/Masking/Session/").json()
    assert main_view["response"]["meta"]["total_count"] == 1
    assert (
        tenant.http.get(tenant.base + "Masking/Session/").json()["response"]["meta"]["total_count"]
        == 2
    )


def test_cooloff_keeps_the_number_from_the_same_parties(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2), virtual_number_cooloff_period=600)
    tenant.http.delete(tenant.base + f"Masking/Session/{s['session_uuid']}")
    again = tenant.create(first_party=us(1), second_party=us(5))
    assert again.status_code == 400 and again.json()["error"] == POOL_EXHAUSTED
    other = tenant.create(first_party=us(6), second_party=us(7))
    assert other.status_code == 201


def test_without_cooloff_an_ended_sessions_number_is_free_again(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    tenant.http.delete(tenant.base + f"Masking/Session/{s['session_uuid']}")
    assert tenant.create(first_party=us(1), second_party=us(2)).status_code == 201


def test_one_single_party_session_without_pin_per_number(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), create_session_with_single_party=True)
    assert s["second_party"] is None
    r = tenant.create(first_party=us(2), create_session_with_single_party="true")
    assert r.status_code == 400 and r.json()["error"] == POOL_EXHAUSTED
    assert tenant.create(first_party=us(3), second_party=us(4)).status_code == 201


def test_single_party_session_may_name_its_party_later(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), create_session_with_single_party=True)
    r = tenant.http.post(
        tenant.base + f"Masking/Session/{s['session_uuid']}", json={"second_party": us(2)}
    )
    assert r.status_code == 200 and r.json()["second_party"] == us(2)
    # Now a two-party session: the number is free for another single-party session.
    assert (
        tenant.create(first_party=us(3), create_session_with_single_party=True).status_code == 201
    )


def test_pins_are_unique_per_number(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    pin = {"is_pin_authentication_required": True, "pin_prompt_play": "https://e.com/p.mp3"}
    tenant.session(
        first_party=us(1),
        second_party=us(2),
        first_party_pin="1111",
        second_party_pin="2222",
        **pin,
    )
    r = tenant.create(
        first_party=us(3),
        second_party=us(4),
        first_party_pin="2222",
        second_party_pin="3333",
        **pin,
    )
    assert r.status_code == 400 and r.json()["error"] == POOL_EXHAUSTED
    ok = tenant.create(
        first_party=us(3),
        second_party=us(4),
        first_party_pin="4444",
        second_party_pin="3333",
        **pin,
    )
    assert ok.status_code == 201


def test_load_spreads_across_the_pool(tenant: Tenant) -> None:
    tenant.add_numbers(*(tenant.vn(i) for i in range(10)))
    used = Counter(
        tenant.session(first_party=us(400 + i), second_party=us(500 + i))["virtual_number"]
        for i in range(40)
    )
    assert len(used) >= 5  # all 40 on fewer than 5 of 10 numbers: ~1e-9 with random spread


def test_draining_number_takes_no_new_sessions(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    tenant.session(first_party=us(1), second_party=us(2))
    refused = tenant.http.delete(tenant.base + f"Number/{tenant.vn(0)}")
    assert refused.status_code == 400
    r = tenant.http.delete(tenant.base + f"Number/{tenant.vn(0)}", params={"drain": "true"})
    assert r.status_code == 200 and r.json()["state"] == "draining"
    assert tenant.create(first_party=us(3), second_party=us(4)).json()["error"] == POOL_EXHAUSTED
