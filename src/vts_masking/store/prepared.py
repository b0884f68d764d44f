"""Statements of the API's hot paths, compiled once and run on SQLite's own cursor.

Measured on a session create (issue 15): SQLAlchemy's execution path around each
statement — execution context, events, cache-key lookup, result wrapping — cost several
times what SQLite took to run it (some 50 µs a statement, five statements a create). A
:class:`Prepared` statement is compiled once for SQLite and then bound and run on the
DBAPI cursor directly, with the *same* type processors SQLAlchemy would apply (times as
its text format, money as it stores it) and rows read back through its result
processors, so what is stored and what is read are exactly what ``conn.execute`` would
store and read. On any other dialect (PostgreSQL) it is ``conn.execute`` unchanged.

Only statements without expanding ``IN`` parameters and, for inserts, with every column
that has a Python-side default given (checked when compiled), qualify.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable


class Record(dict[str, Any]):
    """A row read through :class:`Prepared` on SQLite: a dict that also answers
    ``row.column`` and ``row._mapping``, as SQLAlchemy's ``Row`` does."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return self


class _Plan:
    """The SQL text, bind order and processors of one statement on SQLite."""

    __slots__ = ("binds", "columns", "fixed", "sql")

    def __init__(self, stmt: Any, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
        if not compiled.positional:
            raise ValueError("a positional paramstyle is expected (pysqlite: qmark)")
        if getattr(compiled, "insert_prefetch", None):
            missing = [c.key for c in compiled.insert_prefetch]
            raise ValueError(f"columns with Python-side defaults must be given: {missing}")
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("expanding parameters are not supported")
        self.sql: str = compiled.string
        procs = compiled._bind_processors
        self.binds: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, procs.get(name)) for name in compiled.positiontup
        ]
        # values the statement carries itself (a literal compared to, a LIMIT)
        self.fixed: dict[str, Any] = {
            name: bind.effective_value
            for name, bind in ((compiled.bind_names[b], b) for b in compiled.binds.values())
            if not bind.required
        }
        self.columns: list[tuple[str, Callable[[Any], Any] | None]] = [
            (rc.keyname, rc.type._cached_result_processor(dialect, None))
            for rc in compiled._result_columns
        ]

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for name, proc in self.binds:
            value = params[name] if name in params else self.fixed[name]
            out.append(value if proc is None or value is None else proc(value))
        return out

    def record(self, row: Sequence[Any]) -> Record:
        return Record(
            (name, value if proc is None or value is None else proc(value))
            for (name, proc), value in zip(self.columns, row, strict=True)
        )


class Prepared:
    """A Core statement run cheaply on SQLite (see the module's docstring).

    ``column_keys``: for an INSERT, the columns its parameters give (the INSERT is
    compiled for exactly those).
    """

    def __init__(self, stmt: Executable, column_keys: Iterable[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._plan: _Plan | None = None

    def _sqlite(self, conn: Connection) -> _Plan | None:
        if conn.dialect.name != "sqlite":
            return None
        if self._plan is None:
            self._plan = _Plan(self.stmt, conn.dialect, self.column_keys)
        return self._plan

    @staticmethod
    def _raise(conn: Connection, plan: _Plan, error: Exception) -> NoReturn:
        """The driver's error as SQLAlchemy would raise it (``IntegrityError`` with
        ``.orig``), so callers that tell a lost race from a bug keep working."""
        base = conn.dialect.loaded_dbapi.Error
        raise sa_exc.DBAPIError.instance(plan.sql, None, error, base) from error

    @staticmethod
    def _cursor(conn: Connection) -> Any:
        # the statement joins the transaction SQLAlchemy began on this connection
        if not conn.in_transaction():
            conn.begin()
        return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row (a :class:`Record` on SQLite, a ``Row`` elsewhere), or None."""
        plan = self._sqlite(conn)
        if plan is None:
            return conn.execute(self.stmt, dict(params)).first()
        cur = self._cursor(conn)
        try:
            row = cur.execute(plan.sql, plan.values(params)).fetchone()
        except conn.dialect.loaded_dbapi.Error as error:
            self._raise(conn, plan, error)
        finally:
            cur.close()
        return None if row is None else plan.record(row)

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int | None:
        """Execute once; returns the inserted row's primary key (INSERTs), else None."""
        plan = self._sqlite(conn)
        if plan is None:
            result = conn.execute(self.stmt, dict(params))
            return result.inserted_primary_key[0] if result.is_insert else None
        cur = self._cursor(conn)
        try:
            cur.execute(plan.sql, plan.values(params))
            return cur.lastrowid
        except conn.dialect.loaded_dbapi.Error as error:
            self._raise(conn, plan, error)
        finally:
            cur.close()

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute for each of ``rows`` (an executemany)."""
        plan = self._sqlite(conn)
        if plan is None:
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        cur = self._cursor(conn)
        try:
            cur.executemany(plan.sql, [plan.values(r) for r in rows])
        except conn.dialect.loaded_dbapi.Error as error:
            self._raise(conn, plan, error)
        finally:
            cur.close()
