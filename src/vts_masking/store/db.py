"""Engines and schema: SQLite (embedded default) or PostgreSQL, migrated by Alembic.

SQLite runs in WAL mode with a busy timeout and reads through a memory map, and write
transactions begin with ``BEGIN IMMEDIATE`` so two writers queue for the lock instead of
failing half-way through an upgrade from a read lock. PostgreSQL runs at READ COMMITTED;
the store takes advisory locks where two writers must not interleave.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

MIGRATIONS = Path(__file__).parent / "migrations"
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}
SQLITE_MMAP_SIZE = 1 << 30  # bytes of the database file SQLite may map (address space)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'vts.sqlite3').resolve()}"


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    if parsed.get_backend_name() != "sqlite":
        raise ValueError(f"unsupported database: {parsed.get_backend_name()}")
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # Reads through a memory map of the file (the OS page cache, shared by every
        # connection) instead of a read() into each connection's 2 MB page cache: on a
        # big store the B-tree pages a create or a lookup touches are mostly not in that
        # small cache. bench/flat/run.py at half the target scale (500k sessions, 5M
        # events): create 1.54× an empty store's p50 without, 1.11× with. Python's SQLite
        # maps at most 2 GB; a bigger file reads the rest as before
        # (docs/benchmarks.md#flat-cost-as-the-store-grows).
        cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_SIZE}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        # on the driver's connection: through exec_driver_sql this statement alone cost
        # SQLAlchemy's whole execution path (events, a result) for every transaction
        statement = _BEGIN[mode]
        try:
            conn.connection.driver_connection.execute(statement)
        except sqlite3.Error as error:  # as SQLAlchemy raises it ("database is locked")
            raise DBAPIError.instance(statement, None, error, sqlite3.Error) from error

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe at every start).

    On PostgreSQL an advisory lock keeps two processes starting together from
    migrating at once.
    """
    cfg = alembic_config()
    with engine.connect() as conn:
        if is_postgres(engine):
            conn.exec_driver_sql("SELECT pg_advisory_lock(724001)")
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if is_postgres(engine):
                conn.exec_driver_sql("SELECT pg_advisory_unlock(724001)")
                conn.commit()


# What a database says when it is there but cannot serve this request now: too many
# clients, a restart or failover, a lost connection, SQLite's write lock held past the
# busy timeout. A request that meets one is worth retrying (503), unlike a bug (500).
_UNAVAILABLE_TEXTS = (
    "database is locked",  # SQLite: another writer held the lock past the busy timeout
    "too many clients",  # PostgreSQL: max_connections reached
    "remaining connection slots are reserved",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "terminating connection",  # an administrator's or a failover's doing
    "server closed the connection",
    "connection refused",
    "could not connect",
    "connection timeout expired",
)


def unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot serve now (worth a retry), not that a
    statement is wrong."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError):
        text = str(exc.orig).lower()
        return any(t in text for t in _UNAVAILABLE_TEXTS)
    return False
