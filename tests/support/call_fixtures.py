"""Fixtures for tests of the call records: a ``CallLog`` on the tenant's store and the
``CallRef`` of a fresh two-party session (loaded by tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant, us
from vts_masking.domain.billing import RateTable
from vts_masking.store.calllog import CallLog, CallRef


@pytest.fixture
def log(tenant: Tenant) -> CallLog:
    return CallLog(tenant.live.store.db, RateTable())


def session_ref(tenant: Tenant, log: CallLog, n: int) -> CallRef:
    """The ``CallRef`` of a fresh session between us(2n+1) and us(2n+2) on vn(n)."""
    tenant.add_numbers(tenant.vn(n))
    s = tenant.session(first_party=us(2 * n + 1), second_party=us(2 * n + 2))
    row = log.session_for_call(s["session_uuid"])
    return CallRef(row.id, row.uuid, row.account_id, s["virtual_number"])


@pytest.fixture
def ref(tenant: Tenant, log: CallLog) -> CallRef:
    return session_ref(tenant, log, 0)
