"""The retention settings reach the sweeper's policy: from VTS_* variables, with the
documented defaults, and refused when negative."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from vts_masking.config import Settings
from vts_masking.store.retention import RetentionPolicy


@pytest.fixture(autouse=True)
def no_vts_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("VTS_")]:
        monkeypatch.delenv(name)


def test_defaults_keep_events_30_days_and_call_records_90() -> None:
    assert Settings().retention_policy() == RetentionPolicy(30.0, 90.0, 1000)


def test_environment_variables_set_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VTS_EVENT_RETENTION_DAYS", "7")
    monkeypatch.setenv("VTS_CALL_RETENTION_DAYS", "0")
    monkeypatch.setenv("VTS_RETENTION_BATCH", "250")
    assert Settings().retention_policy() == RetentionPolicy(7.0, 0.0, 250)


def test_zero_for_both_turns_retention_off() -> None:
    assert not Settings(event_retention_days=0, call_retention_days=0).retention_policy().enabled


def test_a_negative_retention_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(event_retention_days=-1)
