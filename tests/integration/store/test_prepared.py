"""``store.prepared``: statements compiled once and run on the driver's cursor store and
read exactly what ``conn.execute`` would, and fail as it would, on SQLite (qmark) and
PostgreSQL (psycopg, pyformat) alike (issues 14 and 15)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from tests.conftest import us
from vts_masking.domain import session_params
from vts_masking.domain.billing import RateTable
from vts_masking.store import Store
from vts_masking.store.calllog import _ROUTE_CANDIDATES, ROUTE_CANDIDATES, CallLog, CallRef
from vts_masking.store.models import bindings, calls, interactions, sessions
from vts_masking.store.prepared import Prepared, Record, _sqlite_datetime_processor
from vts_masking.store.sessions import INSERT_BINDING, SESSION_BY_UUID

AT = datetime(2026, 12, 3, 7, 0, 0, 123456)


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


def session_id(store: Store, uuid: str) -> int:
    with store.db.read() as conn:
        return conn.execute(select(sessions.c.id).where(sessions.c.uuid == uuid)).scalar_one()


def a_binding(store: Store) -> dict[str, Any]:
    """The parameters of a binding row that exists (inserting them again is refused)."""
    a_session(store)
    with store.db.read() as conn:
        row = conn.execute(select(bindings)).first()
    assert row is not None
    return {
        "number_id": row.number_id,
        "key": row.key,
        "session_id": row.session_id,
        "blocked_until": row.blocked_until,
    }


# -- reads -----------------------------------------------------------------------------


def test_a_read_gives_the_values_and_types_sqlalchemy_reads(store: Store) -> None:
    uuid = a_session(store)
    with store.db.read() as conn:
        ours = SESSION_BY_UUID.first(conn, {"uuid": uuid})
        theirs = conn.execute(select(sessions).where(sessions.c.uuid == uuid)).one()
    assert isinstance(ours, Record)
    assert dict(ours._mapping) == dict(theirs._mapping)
    assert {k: type(v) for k, v in ours._mapping.items()} == {
        k: type(v) for k, v in theirs._mapping.items()
    }
    assert isinstance(ours.created_time, datetime) and isinstance(ours.amount, Decimal)


def test_a_read_of_nothing_is_none(store: Store) -> None:
    with store.db.read() as conn:
        assert SESSION_BY_UUID.first(conn, {"uuid": "no-such-session"}) is None


def test_all_reads_every_row_of_a_union_as_sqlalchemy_does(store: Store) -> None:
    uuid = a_session(store)
    with store.db.read() as conn:
        number = conn.execute(
            select(sessions.c.virtual_number).where(sessions.c.uuid == uuid)
        ).scalar_one()
        params = {"number": number, "caller": "+14155550101", "now": datetime.now()}
        ours = _ROUTE_CANDIDATES.all(conn, params)
        theirs = conn.execute(ROUTE_CANDIDATES, params).all()
    assert sorted(r.via for r in ours) == ["+14155550101", "latest"]
    assert sorted(map(dict, ours), key=lambda r: r["via"]) == sorted(
        (dict(r._mapping) for r in theirs), key=lambda r: r["via"]
    )


def test_all_of_no_rows_is_an_empty_list(store: Store) -> None:
    params = {"number": "+10000000000", "caller": None, "now": datetime.now()}
    with store.db.read() as conn:
        assert _ROUTE_CANDIDATES.all(conn, params) == []


def test_a_literal_the_statement_carries_is_bound_from_the_statement(store: Store) -> None:
    uuid = a_session(store)
    # "active" is the statement's own value, :uuid the caller's
    live = Prepared(
        select(sessions.c.uuid).where(
            sessions.c.uuid == bindparam("uuid"), sessions.c.status == "active"
        )
    )
    with store.db.read() as conn:
        assert live.scalar(conn, {"uuid": uuid}) == uuid


# -- writes ----------------------------------------------------------------------------


def test_a_write_stores_what_conn_execute_stores(store: Store) -> None:
    """Same bind processors: the stored text of a datetime and a Decimal is identical to
    what a write through SQLAlchemy leaves (compared on the raw column, not the type)."""
    sid = session_id(store, a_session(store))
    stmt = (
        update(sessions)
        .where(sessions.c.id == bindparam("p_id"))
        .values(last_interaction_time=bindparam("p_at"), total_call_amount=bindparam("p_amount"))
    )
    raw = text("SELECT CAST(last_interaction_time AS TEXT), CAST(total_call_amount AS TEXT) "
               "FROM sessions WHERE id = :id")
    values = {"p_id": sid, "p_at": AT, "p_amount": Decimal("1.23450")}
    with store.db.write() as conn:
        conn.execute(stmt, values)
    with store.db.read() as conn:
        theirs = tuple(conn.execute(raw, {"id": sid}).one())
    with store.db.write() as conn:
        conn.execute(stmt, {**values, "p_at": AT - timedelta(days=1), "p_amount": Decimal(0)})
    with store.db.write() as conn:
        assert Prepared(stmt).run(conn, values) == 1  # rows touched
    with store.db.read() as conn:
        ours = tuple(conn.execute(raw, {"id": sid}).one())
    assert ours == theirs


@pytest.mark.parametrize(
    "value",
    [
        AT,
        AT.replace(microsecond=0),  # isoformat would drop ".000000" without a timespec
        datetime(5, 1, 2, 3, 4, 5, 6),  # a year padded to four digits
        AT.replace(tzinfo=timezone(timedelta(hours=5))),  # the fields, the zone ignored
        date(2026, 12, 6),  # not a datetime: SQLAlchemy's own processor
    ],
    ids=["micro", "whole-second", "year-5", "aware", "date"],
)
def test_sqlite_datetime_text_is_sqlalchemys_for_every_kind_of_value(value: object) -> None:
    """The fast SQLite DATETIME processor gives the text SQLAlchemy's gives."""
    dialect = sqlite_dialect.dialect()
    slow = sqlite_dialect.DATETIME().bind_processor(dialect)
    assert _sqlite_datetime_processor(slow)(value) == slow(value)


def test_an_insert_returning_its_id_gives_the_new_rows_id(store: Store) -> None:
    sid = session_id(store, a_session(store))
    insert = Prepared(
        interactions.insert().returning(interactions.c.id),
        ["session_id", "start_time", "duration", "call_billed_duration",
         "total_call_amount", "total_call_count"],
    )
    row = {
        "session_id": sid, "start_time": AT, "duration": 0, "call_billed_duration": 0,
        "total_call_amount": Decimal(0), "total_call_count": 0,
    }
    with store.db.write() as conn:
        first, second = insert.scalar(conn, row), insert.scalar(conn, row)
    with store.db.read() as conn:
        ids = conn.execute(
            select(interactions.c.id).where(interactions.c.session_id == sid)
        ).scalars().all()
    assert second == first + 1 and {first, second} <= set(ids)


def test_run_many_inserts_every_row(store: Store) -> None:
    existing = a_binding(store)
    rows = [
        {**existing, "key": f"+1415555{n:04d}", "blocked_until": AT + timedelta(minutes=n)}
        for n in range(3)
    ]
    with store.db.write() as conn:
        INSERT_BINDING.run_many(conn, rows)
    with store.db.read() as conn:
        stored = conn.execute(
            select(bindings.c.key, bindings.c.blocked_until)
            .where(bindings.c.key.in_([r["key"] for r in rows]))
            .order_by(bindings.c.key)
        ).all()
    assert [tuple(r) for r in stored] == [(r["key"], r["blocked_until"]) for r in rows]


def test_a_write_joins_the_callers_transaction(store: Store) -> None:
    existing = a_binding(store)
    fresh = {**existing, "key": "+14155559999"}
    with pytest.raises(RuntimeError), store.db.write() as conn:
        INSERT_BINDING.run_many(conn, [fresh])
        raise RuntimeError("roll back")
    with store.db.read() as conn:
        assert conn.execute(select(bindings).where(bindings.c.key == fresh["key"])).first() is None


# -- errors ----------------------------------------------------------------------------


def test_an_insert_refused_by_a_constraint_raises_integrity_error(store: Store) -> None:
    duplicate = a_binding(store)
    with pytest.raises(IntegrityError) as caught, store.db.write() as conn:
        INSERT_BINDING.run_many(conn, [duplicate])
    assert "bindings" in str(caught.value.orig) or "uq_bindings" in str(caught.value.orig)


def test_a_single_insert_refused_by_a_constraint_raises_integrity_error(store: Store) -> None:
    duplicate = a_binding(store)
    with pytest.raises(IntegrityError), store.db.write() as conn:
        INSERT_BINDING.run(conn, duplicate)


def test_a_statement_the_database_rejects_raises_sqlalchemys_error(store: Store) -> None:
    broken = Prepared(select(text("no_such_column")).select_from(sessions))
    with pytest.raises((OperationalError, ProgrammingError)), store.db.read() as conn:
        broken.first(conn, {})


def test_after_an_error_the_connection_rolls_back_and_serves_again(store: Store) -> None:
    duplicate = a_binding(store)
    with pytest.raises(IntegrityError), store.db.write() as conn:
        INSERT_BINDING.run_many(conn, [{**duplicate, "key": "+14155558888"}, duplicate])
    with store.db.write() as conn:  # a pooled connection, its failed transaction gone
        INSERT_BINDING.run(conn, {**duplicate, "key": "+14155557777"})
    with store.db.read() as conn:
        keys = set(conn.execute(select(bindings.c.key)).scalars())
    assert "+14155557777" in keys and "+14155558888" not in keys


def test_a_lost_connection_is_invalidated_and_the_pool_serves_again(store: Store) -> None:
    if not store.db.postgres:
        pytest.skip("a server connection to lose: PostgreSQL only")
    with pytest.raises(OperationalError) as caught, store.db.read() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with store.db.engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            other.commit()
        SESSION_BY_UUID.first(conn, {"uuid": "no-such-session"})
    assert caught.value.connection_invalidated
    with store.db.read() as conn:
        assert SESSION_BY_UUID.first(conn, {"uuid": "no-such-session"}) is None


# -- what does not qualify -------------------------------------------------------------


def test_a_missing_parameter_is_refused(store: Store) -> None:
    with pytest.raises(KeyError), store.db.read() as conn:
        SESSION_BY_UUID.first(conn, {})


def test_an_expanding_in_is_refused_when_compiled(store: Store) -> None:
    many = Prepared(select(sessions.c.id).where(sessions.c.uuid.in_(bindparam("uuids", expanding=True))))
    with pytest.raises(ValueError, match="expanding"), store.db.read() as conn:
        many.first(conn, {"uuids": ["a", "b"]})


def test_paramstyle_is_the_dialects_own(store: Store) -> None:
    uuid = a_session(store)
    with store.db.read() as conn:
        assert SESSION_BY_UUID.first(conn, {"uuid": uuid}) is not None
        plan = SESSION_BY_UUID._plans[conn.dialect.name]
        assert plan.positional == (conn.dialect.paramstyle == "qmark")


# -- the call records' statements (store/calllog.py) -----------------------------------




def test_a_finished_leg_reads_back_its_times_and_amounts_exactly(
    log: CallLog, ref: CallRef
) -> None:
    """Written on the driver's cursor, read through SQLAlchemy: the same datetime (to the
    microsecond) and Decimal a write through SQLAlchemy leaves."""
    log.call_started(ref, AT)
    log.leg_initiated(ref, "b", "second", "outbound", ref.virtual_number, us(2), AT)
    answered = AT + timedelta(seconds=1)
    ended = answered + timedelta(seconds=61)
    log.leg_answered(ref, "b", "outbound", ref.virtual_number, us(2), answered)
    log.leg_finished(
        ref,
        "b",
        answered_at=answered,
        sip_status=200,
        cause="NORMAL_CLEARING",
        cause_code=16,
        from_number=ref.virtual_number,
        to_number=us(2),
        at=ended,
    )
    log.call_ended(ref, ended, both_answered=False)
    with log.db.read() as conn:
        (row,) = conn.execute(select(calls).where(calls.c.session_id == ref.session_id)).all()
        inter = conn.execute(
            select(interactions).where(interactions.c.id == ref.interaction_id)
        ).one()
        session = conn.execute(select(sessions).where(sessions.c.id == ref.session_id)).one()
    billed, amount = RateTable().amount(us(2), 61)
    assert (row.status, row.answer_time, row.end_time) == ("completed", answered, ended)
    assert (row.duration, row.billed_duration, row.amount) == (61, billed, amount)
    assert isinstance(row.amount, Decimal) and amount > 0
    assert (inter.end_time, inter.total_call_amount, inter.total_call_count) == (ended, amount, 1)
    assert (session.total_call_amount, session.active_calls) == (amount, 0)
    assert session.last_interaction_time == ended
