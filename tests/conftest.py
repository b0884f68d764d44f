"""Shared fixtures: databases (SQLite and PostgreSQL) and the real service on loopback.

PostgreSQL runs when ``VTS_TEST_DATABASE_URL`` is set (``.ci/run`` sets it); each use
gets a schema of its own, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from tests.support.live import LiveService

# ``log`` and ``ref`` for the call-record tests (a module may define its own instead)
pytest_plugins = ["tests.support.call_fixtures"]

PG_URL = os.environ.get("VTS_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pg_schema_url(base: str) -> tuple[str, str]:
    """A new empty schema in the test PostgreSQL; returns (url using it, schema)."""
    schema = "t_" + secrets.token_hex(6)
    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}", schema


def drop_pg_schema(base: str, schema: str) -> None:
    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    engine.dispose()


def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        folder = tmp_path_factory.mktemp("db")
        yield f"sqlite:///{folder / 'vts.sqlite3'}"
        return
    if not PG_URL:
        pytest.skip("VTS_TEST_DATABASE_URL is not set (PostgreSQL tests)")
    url, schema = pg_schema_url(PG_URL)
    try:
        yield url
    finally:
        drop_pg_schema(PG_URL, schema)


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_url(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_url(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def service(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """The real service (HTTP on loopback) on each backend, shared by a module."""
    with LiveService(module_db_url, tmp_path_factory.mktemp("data")) as live:
        yield live


@dataclass
class Tenant:
    """A main account with its own numbers, and an HTTP client speaking as it."""

    live: LiveService
    auth_id: str
    auth_token: str
    http: httpx.Client
    block: int = 0

    def vn(self, n: int) -> str:
        """A virtual number from this tenant's own block (numbers are globally unique)."""
        return f"+1220{200 + self.block}{n:04d}"

    @property
    def base(self) -> str:
        return f"/v1/Account/{self.auth_id}/"

    def add_numbers(self, *numbers: str, subaccount: str | None = None) -> None:
        body: dict[str, object] = {"numbers": ",".join(numbers)}
        if subaccount:
            body["subaccount"] = subaccount
        r = self.http.post(self.base + "Number/", json=body)
        assert r.status_code == 201, r.text

    def create(self, **params: object) -> httpx.Response:
        return self.http.post(self.base + "Masking/Session/", json=params)

    def session(self, **params: object) -> dict:
        r = self.create(**params)
        assert r.status_code == 201, r.text
        return r.json()["session"]


_blocks = itertools.count()


def make_tenant(live: LiveService) -> Tenant:
    account = live.store.accounts.create("tenant-" + secrets.token_hex(3))
    http = httpx.Client(base_url=live.url, auth=(account.auth_id, account.auth_token), timeout=30)
    return Tenant(live, account.auth_id, account.auth_token, http, next(_blocks) % 800)


@pytest.fixture
def tenant(service: LiveService) -> Iterator[Tenant]:
    t = make_tenant(service)
    yield t
    t.http.close()


@pytest.fixture
def other_tenant(service: LiveService) -> Iterator[Tenant]:
    t = make_tenant(service)
    yield t
    t.http.close()


# Valid numbers (phonenumbers agrees) for tests: US parties and virtual numbers.
def us(n: int) -> str:
    return f"+1415555{n:04d}"
