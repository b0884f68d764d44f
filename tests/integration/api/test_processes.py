"""The service as operators run it: restarts and several processes on one database."""

from __future__ import annotations

import concurrent.futures
import os
from collections import Counter

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL, drop_pg_schema, pg_schema_url, us
from tests.support.live import ServiceProcess
from vts_masking.store import Store
from vts_masking.store.models import bindings, outbox, sessions


def _tenant(url: str):
    store = Store(url, pool_size=1)
    store.migrate()
    account = store.accounts.create("proc")
    return store, account


def test_restart_keeps_every_session_binding_and_event(db_url: str, tmp_path) -> None:
    store, account = _tenant(db_url)
    auth = (account.auth_id, account.auth_token)
    base = f"/v1/Account/{account.auth_id}/"
    with ServiceProcess(db_url, tmp_path) as svc:
        httpx.post(
            svc.url + base + "Number/", json={"numbers": "+12205550101,+12205550102"}, auth=auth
        )
        made = [
            httpx.post(
                svc.url + base + "Masking/Session/",
                json={
                    "first_party": us(i % 2),
                    "second_party": us(100 + i),
                    "callback_url": "https://e.com/c",
                },
                auth=auth,
            ).json()["session_uuid"]
            for i in range(4)
        ]
    with store.db.read() as conn:
        before = (
            conn.execute(sa.select(sa.func.count()).select_from(sessions)).scalar(),
            conn.execute(sa.select(sa.func.count()).select_from(bindings)).scalar(),
            conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar(),
        )
    assert before == (4, 8, 4)
    with ServiceProcess(db_url, tmp_path) as svc:
        for uuid in made:
            r = httpx.get(svc.url + base + f"Masking/Session/{uuid}/", auth=auth)
            assert r.json()["response"]["status"] == "active"
        # The bindings still hold: us(0) is on both numbers already.
        again = httpx.post(
            svc.url + base + "Masking/Session/",
            json={"first_party": us(0), "second_party": us(7)},
            auth=auth,
        )
        assert again.json()["error"] == "Number pool exhausted or not available."
    with store.db.read() as conn:
        after = (
            conn.execute(sa.select(sa.func.count()).select_from(sessions)).scalar(),
            conn.execute(sa.select(sa.func.count()).select_from(bindings)).scalar(),
            conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar(),
        )
    assert after == before
    store.close()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="VTS_TEST_DATABASE_URL is not set (PostgreSQL tests)")
def test_concurrent_creates_across_processes_never_share_a_party_on_a_number(tmp_path) -> None:
    """200 concurrent creates sharing one party, two service processes, 2K-1 numbers."""
    url, schema = pg_schema_url(PG_URL)
    try:
        store, account = _tenant(url)
        k = 60  # pool of 2K-1 = 119 numbers for 200 creates: 81 must be refused
        main = store.accounts.by_auth_id(account.auth_id)
        store.numbers.add(main, [f"+1220300{i:04d}" for i in range(2 * k - 1)])
        auth = (account.auth_id, account.auth_token)
        base = f"/v1/Account/{account.auth_id}/Masking/Session/"
        with ServiceProcess(url, tmp_path / "a") as one, ServiceProcess(url, tmp_path / "b") as two:
            clients = [httpx.Client(base_url=s.url, auth=auth, timeout=60) for s in (one, two)]

            def create(i: int) -> httpx.Response:
                return clients[i % 2].post(
                    base, json={"first_party": us(1), "second_party": us(1000 + i)}
                )

            workers = min(32, (os.cpu_count() or 2) * 8)
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                answers = list(pool.map(create, range(200)))
            for c in clients:
                c.close()
        ok = [a for a in answers if a.status_code == 201]
        failed = [a for a in answers if a.status_code != 201]
        # The shared party can hold at most one session per number.
        assert len(ok) == 2 * k - 1
        assert {a.json()["error"] for a in failed} == {"Number pool exhausted or not available."}
        assert {a.status_code for a in failed} == {400}
        numbers = Counter(a.json()["virtual_number"] for a in ok)
        assert max(numbers.values()) == 1
        with store.db.read() as conn:
            dupes = conn.execute(
                sa.select(bindings.c.number_id, bindings.c.key, sa.func.count())
                .group_by(bindings.c.number_id, bindings.c.key)
                .having(sa.func.count() > 1)
            ).all()
            live = conn.execute(sa.select(sa.func.count()).select_from(sessions)).scalar()
        assert dupes == []
        assert live == len(ok)
        store.close()
    finally:
        drop_pg_schema(PG_URL, schema)
