"""Persistence: SQLAlchemy models, Alembic migrations and the named operations the
API, the call engine and the event worker use (no raw SQL outside this room)."""

from __future__ import annotations

from decimal import Decimal

from ..clock import Clock
from .accounts import Account, AccountRepo, Principal
from .base import Database
from .calls import CallRepo
from .console import ConsoleRepo
from .db import make_engine, migrate
from .deliveries import OutboxRepo
from .idempotency import Answer, Idempotency, IdempotencyRepo
from .numbers import NumberRepo
from .operator import OperatorRepo
from .retention import RetentionRepo
from .sessions import SessionRepo
from .stats import StatsRepo


class Store:
    """Every repository over one database."""

    def __init__(self, url: str, clock: Clock | None = None, *, pool_size: int = 20) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.db = Database(self.engine, clock or Clock())
        self.accounts = AccountRepo(self.db)
        self.numbers = NumberRepo(self.db)
        self.sessions = SessionRepo(self.db, self.accounts)
        self.calls = CallRepo(self.db, self.accounts)
        self.idempotency = IdempotencyRepo(self.db)
        self.operator = OperatorRepo(self.db, self.accounts)
        self.console = ConsoleRepo(self.db)  # the web console's logins and operators
        self.deliveries = OutboxRepo(self.db)  # the outbox's claims, outcomes, operator reads
        self.stats = StatsRepo(self.db)  # the web console's cross-resource reads
        self.retention = RetentionRepo(self.db)  # the sweeper's pruning by age

    @property
    def clock(self) -> Clock:
        return self.db.clock

    @property
    def public_url(self) -> str:
        """The service's public base URL, before every link the views carry (the API
        sets it from its settings)."""
        return self.sessions.base_url

    @public_url.setter
    def public_url(self, url: str) -> None:
        self.sessions.base_url = url.rstrip("/")

    @property
    def session_fee(self) -> Decimal:
        """What each new session costs by itself (its ``amount``); the API sets it."""
        return self.sessions.session_fee

    @session_fee.setter
    def session_fee(self, fee: Decimal) -> None:
        self.sessions.session_fee = fee

    def migrate(self) -> None:
        migrate(self.engine)

    def close(self) -> None:
        self.db.close()
        self.engine.dispose()


__all__ = ["Account", "Answer", "Idempotency", "Principal", "Store"]
