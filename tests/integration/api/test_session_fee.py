"""A session's own charge (``amount``, ``VTS_SESSION_FEE``): billed once at create, part
of ``total_session_amount``, none by default (docs/reference.md#the-session-object)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import Tenant, make_tenant, us
from tests.support.live import LiveService


@pytest.fixture(scope="module")
def priced(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    with LiveService(
        module_db_url, tmp_path_factory.mktemp("data"), session_fee=Decimal("0.005")
    ) as live:
        t = make_tenant(live)
        yield t
        t.http.close()


def test_a_session_carries_the_configured_fee_as_its_amount(priced: Tenant) -> None:
    priced.add_numbers(priced.vn(0))
    s = priced.session(first_party=us(1), second_party=us(2))
    assert s["amount"] == "0.00500"
    got = priced.http.get(priced.base + f"Masking/Session/{s['session_uuid']}/")
    body = got.json()["response"]
    assert body["amount"] == "0.00500"
    assert body["total_session_amount"] == "0.00500"  # no call yet


def test_without_a_fee_a_session_costs_nothing_by_itself(tenant: Tenant) -> None:
    tenant.add_numbers(tenant.vn(0))
    s = tenant.session(first_party=us(1), second_party=us(2))
    assert s["amount"] == "0.00000" and s["total_session_amount"] == "0.00000"


def test_a_negative_fee_is_refused_at_start(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from vts_masking.config import Settings

    with pytest.raises(ValidationError, match="session_fee"):
        Settings(session_fee=Decimal("-1"))
