"""Statements compiled once per dialect and run on the connection's DBAPI cursor.

For the record writes of every call (about thirty small statements per call,
``store/calllog.py``), SQLAlchemy's per-execute work — cache key, execution context,
parameter processing, result set-up: about 20 µs a statement — costs several times what
SQLite takes to run the statement. A :class:`Direct` statement keeps what SQLAlchemy
compiled for the dialect (the SQL text, the order of its parameters, the literal values
and the type processors of its binds: a ``datetime`` becomes SQLite's text, a ``Decimal``
a float, exactly as through ``Connection.execute``) and hands it to the driver itself,
inside the connection's current transaction. Only for statements without Python-side
column defaults and whose results (if any) need no type conversion: plain ints and
strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]  # every bind, in the order a positional paramstyle wants them
    defaults: Mapping[str, Any]  # binds with a value of their own (``values(status=…)``)
    processors: tuple[tuple[str, Any], ...]  # (bind, type processor) where there is one

    def args(self, given: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = {**self.defaults, **given} if self.defaults else dict(given)
        for name, process in self.processors:
            value = values.get(name)
            if value is not None:
                values[name] = process(value)
        if self.positional:
            return tuple(values.get(name) for name in self.names)
        return values


class Direct:
    """A statement run on the DBAPI cursor, compiled once for each dialect it meets.

    ``column_keys``: for an INSERT, the columns its parameters name (it is compiled for
    exactly those, as SQLAlchemy does per set of keys).
    """

    def __init__(self, statement: Executable, column_keys: Iterable[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            done = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
            processors = getattr(done, "_bind_processors", {})
            names = tuple(done.positiontup or ()) if done.positional else tuple(done.binds)
            compiled = _Compiled(
                sql=done.string,
                positional=bool(done.positional),
                names=names,
                defaults={k: b.value for k, b in done.binds.items() if not b.required},
                processors=tuple((n, p) for n, p in processors.items() if p is not None),
            )
            self._compiled[dialect.name] = compiled
        return compiled

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run with one set of parameters; the first result row (a tuple), if any."""
        compiled = self._for(conn.dialect)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(compiled.sql, compiled.args(params))
            return cursor.fetchone() if cursor.description else None
        finally:
            cursor.close()

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Run with one set of parameters; every result row (tuples)."""
        compiled = self._for(conn.dialect)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(compiled.sql, compiled.args(params))
            return cursor.fetchall()
        finally:
            cursor.close()

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row of parameters (no results)."""
        compiled = self._for(conn.dialect)
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(compiled.sql, [compiled.args(row) for row in rows])
        finally:
            cursor.close()
