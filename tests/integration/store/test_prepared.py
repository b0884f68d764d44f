"""``store.prepared``: statements run on SQLite's cursor store and read exactly what
SQLAlchemy would (issue 15), on both stores (PostgreSQL: ``conn.execute`` itself)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vts_masking.domain import session_params
from vts_masking.store import Store
from vts_masking.store.models import bindings, sessions
from vts_masking.store.sessions import INSERT_BINDING, SESSION_BY_UUID


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url, pool_size=4)
    s.migrate()
    yield s
    s.close()


def a_session(store: Store) -> str:
    account = store.accounts.create("prepared")
    main = store.accounts.by_auth_id(account.auth_id)
    assert main is not None
    store.numbers.add(main, ["+12202001234"])
    who = store.accounts.principal(main, main.auth_id, writing=True)
    params = session_params.parse_create(
        {"first_party": "+14155550101", "second_party": "+14155550102"}
    )
    _status, body = store.sessions.create(who, params, lambda view: view)
    return body["session_uuid"]


def test_a_prepared_read_gives_what_sqlalchemy_reads(store: Store) -> None:
    uuid = a_session(store)
    with store.db.read() as conn:
        ours = SESSION_BY_UUID.first(conn, {"uuid": uuid})
        theirs = conn.execute(select(sessions).where(sessions.c.uuid == uuid)).one()
    assert dict(ours._mapping) == dict(theirs._mapping)
    assert {k: type(v) for k, v in ours._mapping.items()} == {
        k: type(v) for k, v in theirs._mapping.items()
    }
    assert ours.created_time == theirs.created_time  # a datetime, as stored


def test_a_prepared_read_of_nothing_is_none(store: Store) -> None:
    with store.db.read() as conn:
        assert SESSION_BY_UUID.first(conn, {"uuid": "no-such-session"}) is None


def test_a_prepared_insert_refused_by_a_constraint_raises_integrity_error(
    store: Store,
) -> None:
    uuid = a_session(store)
    with store.db.read() as conn:
        row = conn.execute(select(bindings)).first()
    assert row is not None, uuid
    duplicate = {
        "number_id": row.number_id,
        "key": row.key,
        "session_id": row.session_id,
        "blocked_until": row.blocked_until,
    }
    with pytest.raises(IntegrityError) as caught, store.db.write() as conn:
        INSERT_BINDING.run_many(conn, [duplicate])
    assert "bindings" in str(caught.value.orig) or "uq_bindings" in str(caught.value.orig)
