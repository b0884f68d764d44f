"""Rate limiting over real HTTP: 429 in the API's error shape, with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Tenant, make_tenant
from tests.support.live import LiveService


@pytest.fixture
def limited(tmp_path) -> Iterator[Tenant]:
    with LiveService(
        f"sqlite:///{tmp_path / 'vts.sqlite3'}", tmp_path, rate_limit=0.5, rate_limit_burst=3
    ) as live:
        t = make_tenant(live)
        yield t
        t.http.close()


def test_requests_past_the_burst_get_429_with_retry_after(limited: Tenant) -> None:
    answers = [limited.http.get(limited.base + "Masking/Session/") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"].startswith("Too many requests.")
    assert refused.json()["api_id"]
    assert int(refused.headers["retry-after"]) >= 1


def test_wrong_credentials_do_not_spend_the_accounts_budget(limited: Tenant) -> None:
    """Knowing an Auth ID is not enough to rate-limit its owner out of the API."""
    import httpx

    with httpx.Client(base_url=limited.live.url, auth=(limited.auth_id, "wrong")) as attacker:
        refused = [attacker.get(limited.base + "Masking/Session/") for _ in range(10)]
    assert {r.status_code for r in refused} == {401}
    assert limited.http.get(limited.base + "Masking/Session/").status_code == 200
