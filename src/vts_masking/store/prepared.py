"""Hot statements compiled once per dialect and run on the connection's DBAPI cursor.

SQLAlchemy's per-execute work around a statement — cache key, execution context, events,
parameter processing, result set-up — costs several times what the database takes to
run a small one: about 20 µs a statement for the thirty statements of a call's records
(``store/calllog.py``, issue 14), about 50 µs for each of a session create's five
(``store/sessions.py``, issue 15). A :class:`Prepared` statement keeps what SQLAlchemy
compiled for the dialect — the SQL text, the order of its parameters, the values the
statement carries itself (a literal compared to, a ``LIMIT``), the bind processors of its
types — and hands it to the driver's cursor inside the connection's current transaction,
on SQLite (qmark, positional) and PostgreSQL (psycopg: pyformat, by name) alike. So that
callers cannot tell it from ``Connection.execute``:

* values are stored exactly as ``conn.execute`` stores them (a ``datetime`` becomes
  SQLite's text, a ``Decimal`` what the column's type makes of it);
* rows come back as :class:`Record` through the types' *result* processors, picked for the
  column types the driver reports (SQLite's text is a ``datetime`` again, money a
  ``Decimal``), and answer ``row.column`` and ``row._mapping`` as a ``Row`` does;
* a driver error is raised as SQLAlchemy raises it (``IntegrityError``, ``DataError``,
  ``OperationalError`` … with ``.orig``), on both dialects, so the allocation retry loop
  tells a lost race from a bug and the API tells an unavailable database from a bug; a
  lost connection invalidates the connection, as SQLAlchemy does.

What does not qualify (refused with ``ValueError`` when first compiled, so a test meets it):
expanding ``IN`` parameters (one bound parameter per value instead), INSERTs leaving out a
column with a Python-side default, bind names the dialect would have to escape. An INSERT
without ``.returning()`` is compiled ``inline`` (no implicit ``RETURNING`` of its primary
key on PostgreSQL, which ``run``/``run_many`` would only throw away); one whose id is
wanted says ``.returning(table.c.id)`` and is run with :meth:`Prepared.scalar`. One
difference from a ``Row`` remains: a :class:`Record` is a mapping, so it is read by name
(``row.id``, ``row["id"]``), not by position.

Every statement of both former modules (``store/direct.py``, which ran the call records
on both dialects with raw rows and raw driver errors, and the SQLite-only version of this
one) runs here on both dialects: none needed ``conn.execute`` on PostgreSQL once errors
are translated and rows processed (tests/integration/store/test_prepared.py covers each
property on both stores). What stays on ``conn.execute`` does so by kind: a statement
built per call (the compile would be per call too), one with an expanding ``IN``, and a
rare one not worth it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Insert

Processor = Callable[[Any], Any]


class Record(dict[str, Any]):
    """A row read through :class:`Prepared`: a dict that also answers ``row.column`` and
    ``row._mapping``, as SQLAlchemy's ``Row`` does."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return self


def _sqlite_datetime_processor(slow: Processor) -> Processor:
    """SQLite's ``DATETIME`` bind processor in its default storage format, by
    ``datetime.isoformat`` (one C call) instead of SQLAlchemy's ``%``-format of seven
    fields: the same text, ``2026-12-06 21:57:14.000000``; a date, a subclass or anything
    else goes to SQLAlchemy's own processor (``slow``). A call's records bind about thirty
    of these."""

    def process(value: Any) -> Any:
        if type(value) is datetime:
            if value.tzinfo is not None:  # SQLAlchemy writes the fields, ignoring the zone
                value = value.replace(tzinfo=None)
            return value.isoformat(" ", "microseconds")
        return slow(value)

    return process


def _bind_processor(dialect: Dialect, bind: Any, proc: Processor | None) -> Processor | None:
    if proc is None or dialect.name != "sqlite":
        return proc
    impl = bind.type.dialect_impl(dialect)
    default = sqlite.DATETIME._storage_format
    if type(impl) is sqlite.DATETIME and impl._storage_format == default:
        return _sqlite_datetime_processor(proc)
    return proc


class _Plan:
    """The SQL text, parameters and processors of one statement on one dialect."""

    __slots__ = ("binds", "columns", "fixed", "positional", "read", "returns_rows", "sql")

    def __init__(self, stmt: Any, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
        if getattr(compiled, "insert_prefetch", None):
            missing = [c.key for c in compiled.insert_prefetch]
            raise ValueError(f"columns with Python-side defaults must be given: {missing}")
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("expanding parameters are not supported")
        if compiled.escaped_bind_names:
            raise ValueError(f"bind names needing escapes: {dict(compiled.escaped_bind_names)}")
        self.sql: str = compiled.string
        self.positional = bool(compiled.positional)
        procs = compiled._bind_processors
        # qmark wants every occurrence in order (a name may come twice); pyformat one
        # entry per name
        names = compiled.positiontup if self.positional else list(compiled.binds)
        self.binds: list[tuple[str, Processor | None]] = [
            (n, _bind_processor(dialect, compiled.binds[n], procs.get(n))) for n in names
        ]
        self.fixed: dict[str, Any] = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required
        }
        self.columns: list[tuple[str, Any]] = [
            (rc.keyname, rc.type) for rc in compiled._result_columns
        ]
        # the statement gives rows: known from the compile, not asked of the cursor
        self.returns_rows = bool(self.columns)
        self.read: Callable[[Any], Record] | None = None

    def args(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        fixed = self.fixed
        if self.positional:
            out: list[Any] = []
            for name, proc in self.binds:
                value = params[name] if name in params else fixed[name]
                out.append(value if proc is None or value is None else proc(value))
            return out
        named: dict[str, Any] = {}
        for name, proc in self.binds:
            value = params[name] if name in params else fixed[name]
            named[name] = value if proc is None or value is None else proc(value)
        return named

    def reader(self, dialect: Dialect, cursor: Any) -> Callable[[Any], Record]:
        """The row → :class:`Record` conversion: the result processors SQLAlchemy would
        pick for the type codes the driver gives (PostgreSQL's numeric processor depends
        on the code), made on the first result and kept (a statement's text fixes its
        result types; and psycopg builds ``cursor.description`` anew at each access)."""
        read = self.read
        if read is not None:
            return read
        description = cursor.description
        codes = [d[1] for d in description]
        if len(self.columns) == len(description):
            pairs = list(self.columns)
        else:  # a construct SQLAlchemy did not describe: the driver's names, no processing
            pairs = [(d[0], None) for d in description]
        readers: list[tuple[str, Processor | None]] = [
            (key, None if type_ is None else type_._cached_result_processor(dialect, code))
            for (key, type_), code in zip(pairs, codes, strict=True)
        ]
        keys = [key for key, _ in readers]

        def read(row: Sequence[Any]) -> Record:
            return Record(
                (key, value if proc is None or value is None else proc(value))
                for (key, proc), value in zip(readers, row, strict=True)
            )

        if all(proc is None for _, proc in readers):  # plain ints and strings: no loop

            def read(row: Sequence[Any]) -> Record:
                return Record(zip(keys, row, strict=True))

        self.read = read
        return read


class Prepared:
    """A Core statement run on the DBAPI cursor (see the module's docstring).

    ``column_keys``: for an INSERT, the columns its parameters give (the INSERT is
    compiled for exactly those, as SQLAlchemy does per set of keys).
    """

    def __init__(self, stmt: Executable, column_keys: Iterable[str] | None = None) -> None:
        if isinstance(stmt, Insert) and not stmt._returning:
            stmt = stmt.inline()
        self.stmt = stmt
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            with self._lock:
                plan = self._plans.get(dialect.name)
                if plan is None:
                    plan = self._plans[dialect.name] = _Plan(
                        self.stmt, dialect, self.column_keys
                    )
        return plan

    @staticmethod
    def _cursor(conn: Connection) -> Any:
        # the statement joins the transaction SQLAlchemy began (or begins) on this
        # connection, as conn.execute would autobegin one
        if not conn.in_transaction():
            conn.begin()
        return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    @staticmethod
    def _raise(conn: Connection, plan: _Plan, cursor: Any, error: Exception) -> NoReturn:
        """The driver's error as SQLAlchemy would raise it (``IntegrityError`` with
        ``.orig``); a lost connection is invalidated, so the pool does not hand it out
        again (SQLAlchemy also marks the whole pool stale then; PostgreSQL's engine pings
        each connection it hands out, which finds the others, see store/db.py)."""
        dialect = conn.dialect
        disconnect = dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
        if disconnect:
            conn.invalidate(error)
        raise sa_exc.DBAPIError.instance(
            plan.sql,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=disconnect,
            dialect=dialect,
        ) from error

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Record | None:
        """Run once; the first row as a :class:`Record`, or None."""
        plan = self._plan(conn.dialect)
        cur = self._cursor(conn)
        try:
            cur.execute(plan.sql, plan.args(params))
            if not (plan.returns_rows or cur.description):
                return None
            row = cur.fetchone()
            return None if row is None else plan.reader(conn.dialect, cur)(row)
        except conn.dialect.loaded_dbapi.Error as error:
            self._raise(conn, plan, cur, error)
        finally:
            cur.close()

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run once; the first column of the first row (an ``INSERT … RETURNING id``'s
        id), or None, as ``Result.scalar()``."""
        row = self.first(conn, params)
        return None if row is None else next(iter(row.values()))

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Record]:
        """Run once; every row, as :class:`Record`."""
        plan = self._plan(conn.dialect)
        cur = self._cursor(conn)
        try:
            cur.execute(plan.sql, plan.args(params))
            if not (plan.returns_rows or cur.description):
                return []
            rows = cur.fetchall()
            return list(map(plan.reader(conn.dialect, cur), rows)) if rows else []
        except conn.dialect.loaded_dbapi.Error as error:
            self._raise(conn, plan, cur, error)
        finally:
            cur.close()

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run once, for its effect; the number of rows it touched."""
        plan = self._plan(conn.dialect)
        cur = self._cursor(conn)
        try:
            cur.execute(plan.sql, plan.args(params))
            return int(cur.rowcount)
        except conn.dialect.loaded_dbapi.Error as error:
            self._raise(conn, plan, cur, error)
        finally:
            cur.close()

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row of parameters (an executemany), for its effect."""
        if not rows:
            return
        plan = self._plan(conn.dialect)
        cur = self._cursor(conn)
        try:
            cur.executemany(plan.sql, [plan.args(r) for r in rows])
        except conn.dialect.loaded_dbapi.Error as error:
            self._raise(conn, plan, cur, error)
        finally:
            cur.close()
