"""Idempotent create: a retried request returns the first answer (issue 2 §6)."""

from __future__ import annotations

import concurrent.futures

import httpx

from tests.conftest import Tenant, us


def _create(t: Tenant, key: str, **params: object):
    return t.http.post(t.base + "Masking/Session/", json=params, headers={"Idempotency-Key": key})


def _count(t: Tenant) -> int:
    return t.http.get(t.base + "Masking/Session/").json()["response"]["meta"]["total_count"]


def test_repeat_with_the_same_key_returns_the_same_session(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0), tenant.vn(1))
    first = _create(tenant, "k-1", first_party=us(1), second_party=us(2))
    again = _create(tenant, "k-1", first_party=us(1), second_party=us(2))
    assert first.status_code == again.status_code == 201
    assert again.json()["session_uuid"] == first.json()["session_uuid"]
    assert _count(tenant) == 1


def test_same_key_with_a_different_body_is_409(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0), tenant.vn(1))
    _create(tenant, "k-2", first_party=us(1), second_party=us(2))
    r = _create(tenant, "k-2", first_party=us(1), second_party=us(3))
    assert r.status_code == 409
    assert "Idempotency-Key" in r.json()["error"]
    assert _count(tenant) == 1


def test_concurrent_repeats_create_one_session(tenant: Tenant) -> None:
    tenant.add_numbers(*(tenant.vn(i) for i in range(5)))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: _create(tenant, "k-3", first_party=us(1), second_party=us(2)), range(8)
            )
        )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["session_uuid"] for a in answers}) == 1
    assert _count(tenant) == 1


def test_keys_are_per_account(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    other_tenant.add_numbers(other_tenant.vn(0))
    a = _create(tenant, "shared", first_party=us(1), second_party=us(2))
    b = _create(other_tenant, "shared", first_party=us(1), second_party=us(2))
    assert a.json()["session_uuid"] != b.json()["session_uuid"]


def test_a_refused_create_is_not_remembered(tenant: Tenant) -> None:
    r = _create(tenant, "k-4", first_party=us(1), second_party=us(2))
    assert r.status_code == 400  # no numbers yet
    tenant.add_numbers(tenant.vn(0))
    assert _create(tenant, "k-4", first_party=us(1), second_party=us(2)).status_code == 201


class _Originations:
    """Stands in for the SIP edge: records which sessions it was asked to call."""

    def __init__(self) -> None:
        self.sessions: list[str] = []

    async def initiate_session_call(self, session_uuid: str) -> None:
        self.sessions.append(session_uuid)


def test_a_repeated_create_does_not_call_the_parties_again(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    calls = _Originations()
    tenant.live.app.state.calls = calls
    try:
        body = {"first_party": us(1), "second_party": us(2), "initiate_call_to_first_party": True}
        first = _create(tenant, "k-5", **body)
        again = _create(tenant, "k-5", **body)
    finally:
        tenant.live.app.state.calls = None
    assert first.json()["session_uuid"] == again.json()["session_uuid"]
    assert calls.sessions == [first.json()["session_uuid"]]


# -- beyond session create: every POST and DELETE that acts honours the key -------------


def test_a_repeated_subaccount_create_makes_one_subaccount(tenant: Tenant) -> None:
    headers = {"Idempotency-Key": "sub-1"}
    first = tenant.http.post(tenant.base + "Subaccount/", json={"name": "x"}, headers=headers)
    again = tenant.http.post(tenant.base + "Subaccount/", json={"name": "x"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = tenant.http.get(tenant.base + "Subaccount/").json()["meta"]["total_count"]
    assert listed == 1


def test_concurrent_subaccount_creates_under_one_key_make_one(tenant: Tenant) -> None:
    def create(_: int):
        return tenant.http.post(
            tenant.base + "Subaccount/", json={"name": "y"}, headers={"Idempotency-Key": "sub-2"}
        )

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(create, range(6)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["auth_id"] for a in answers}) == 1
    assert (
        tenant.http.get(tenant.base + "Subaccount/").json()["meta"]["total_count"] == 1
    )


def test_a_repeated_session_delete_gets_the_first_answer(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    uuid = tenant.session(first_party=us(1), second_party=us(2))["session_uuid"]
    url = f"{tenant.base}Masking/Session/{uuid}/"
    first = tenant.http.delete(url, headers={"Idempotency-Key": "del-1"})
    again = tenant.http.delete(url, headers={"Idempotency-Key": "del-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()


def test_a_session_delete_without_a_key_says_already_expired(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    uuid = tenant.session(first_party=us(1), second_party=us(2))["session_uuid"]
    url = f"{tenant.base}Masking/Session/{uuid}/"
    assert tenant.http.delete(url).status_code == 200
    again = tenant.http.delete(url)
    assert again.status_code == 400
    assert again.json()["error"] == "Session already expired."


def test_a_delete_key_reused_on_another_session_is_409(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0), tenant.vn(1))
    one = tenant.session(first_party=us(1), second_party=us(2))["session_uuid"]
    two = tenant.session(first_party=us(3), second_party=us(4))["session_uuid"]
    headers = {"Idempotency-Key": "del-2"}
    assert tenant.http.delete(f"{tenant.base}Masking/Session/{one}/", headers=headers).is_success
    r = tenant.http.delete(f"{tenant.base}Masking/Session/{two}/", headers=headers)
    assert r.status_code == 409
    got = tenant.http.get(f"{tenant.base}Masking/Session/{two}/").json()
    assert got["response"]["status"] == "active"


def test_a_repeated_number_remove_gets_the_first_answer(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    url = f"{tenant.base}Number/{tenant.vn(0)}/"
    first = tenant.http.delete(url, headers={"Idempotency-Key": "num-1"})
    again = tenant.http.delete(url, headers={"Idempotency-Key": "num-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["state"] == "removed"


def test_a_repeated_subaccount_delete_gets_the_first_answer(tenant: Tenant) -> None:
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "z"}).json()["auth_id"]
    url = f"{tenant.base}Subaccount/{sub}/"
    first = tenant.http.delete(url, headers={"Idempotency-Key": "sd-1"})
    again = tenant.http.delete(url, headers={"Idempotency-Key": "sd-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert tenant.http.delete(url).status_code == 404  # without the key: it is gone


def test_twins_of_a_number_add_act_once_and_the_others_wait_or_replay(tenant: Tenant) -> None:
    number = tenant.vn(7)

    def add(_: int):
        return tenant.http.post(
            tenant.base + "Number/", json={"numbers": number}, headers={"Idempotency-Key": "tw"}
        )

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(add, range(6)))
    assert {a.status_code for a in answers} <= {201, 409}
    assert [a for a in answers if a.status_code == 201]
    assert len({a.json()["api_id"] for a in answers if a.status_code == 201}) == 1
    for busy in (a for a in answers if a.status_code == 409):
        assert busy.headers["Retry-After"] == "1"
        assert "in progress" in busy.json()["error"]
    again = add(0)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


def test_concurrent_adds_of_one_new_number_without_a_key_all_succeed(tenant: Tenant) -> None:
    number = tenant.vn(8)

    def add(_: int):
        return tenant.http.post(tenant.base + "Number/", json={"numbers": number})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(add, range(4)))
    assert [a.status_code for a in answers] == [201] * 4


def test_a_subaccount_has_keys_of_its_own(tenant: Tenant) -> None:
    headers = {"Idempotency-Key": "shared"}
    sub = tenant.http.post(tenant.base + "Subaccount/", json={"name": "s"}, headers=headers)
    creds = sub.json()
    with httpx.Client(
        base_url=tenant.live.url, auth=(creds["auth_id"], creds["auth_token"]), timeout=30
    ) as as_sub:
        r = as_sub.post(
            f"/v1/Account/{creds['auth_id']}/Number/",
            json={"numbers": tenant.vn(9)},
            headers=headers,
        )
    assert r.status_code == 201, r.text
    assert "Idempotent-Replayed" not in r.headers


def test_a_key_longer_than_255_characters_is_refused(tenant: Tenant) -> None:
    r = tenant.http.post(
        tenant.base + "Subaccount/", json={"name": "k"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert r.status_code == 400
    assert "255" in r.json()["error"]
    assert (
        tenant.http.get(tenant.base + "Subaccount/").json()["meta"]["total_count"] == 0
    )
