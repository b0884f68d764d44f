"""The operator's view of the store: every account at once, for the command line and
``/metrics`` (the API's operations are scoped to one tenant; these are not).

Read-mostly: lists of accounts, numbers, sessions and call legs across accounts, an
account switched on or off, and the few counts the metrics gauges read at scrape time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from ..domain.views import effective_status
from .accounts import Account, AccountRepo
from .base import Database
from .models import accounts, calls, numbers, sessions


@dataclass(frozen=True)
class PoolUsage:
    """One pool (a main account's own numbers, or a subaccount's): numbers in service and
    how many of them carry at least one live session."""

    auth_id: str
    numbers: int
    in_use: int


class OperatorRepo:
    def __init__(self, db: Database, account_repo: AccountRepo) -> None:
        self.db = db
        self.account_repo = account_repo

    # -- accounts -----------------------------------------------------------------------

    def main_accounts(self) -> list[Any]:
        with self.db.read() as conn:
            return conn.execute(
                select(accounts)
                .where(accounts.c.parent_id.is_(None), accounts.c.deleted.is_(False))
                .order_by(accounts.c.created_time, accounts.c.id)
            ).all()

    def set_enabled(self, account: Account, enabled: bool) -> None:
        """Switch an account (and so every request authenticated as it) on or off.

        A disabled main account's subaccounts are refused too: authentication checks the
        account it names, and the API refuses a subaccount whose parent is disabled.
        """
        with self.db.write() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account.id)
                .values(enabled=enabled, modified_time=self.db.clock.now())
            )
        self.account_repo.forget(account.auth_id)

    # -- numbers ------------------------------------------------------------------------

    def numbers(self, account_id: int | None = None) -> list[Any]:
        query = (
            select(numbers, accounts.c.auth_id.label("pool"))
            .join(accounts, accounts.c.id == numbers.c.pool_id)
            .where(numbers.c.state != "removed")
        )
        if account_id is not None:
            query = query.where(numbers.c.account_id == account_id)
        with self.db.read() as conn:
            return conn.execute(query.order_by(numbers.c.number)).all()

    # -- sessions -----------------------------------------------------------------------

    def sessions(
        self, account_id: int | None = None, *, live_only: bool = False, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Sessions newest first, each with its owner's auth_id and its status as the API
        shows it (``in-progress`` while a call is up, ``expired`` once its time passed)."""
        now = self.db.clock.now()
        owner = accounts.alias("owner")
        query = select(sessions, owner.c.auth_id.label("account")).join(
            owner, owner.c.id == sessions.c.account_id
        )
        if account_id is not None:
            query = query.where(sessions.c.account_id == account_id)
        if live_only:
            query = query.where(
                or_(
                    and_(sessions.c.status == "active", sessions.c.expiry_time > now),
                    sessions.c.active_calls > 0,
                )
            )
        query = query.order_by(sessions.c.created_time.desc(), sessions.c.id.desc()).limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            dict(
                r._mapping,
                status=effective_status(r.status, r.active_calls, r.expiry_time, now),
            )
            for r in rows
        ]

    def session_owner(self, session_uuid: str) -> str | None:
        """The auth_id of the main account a session belongs to (None: no such session)."""
        with self.db.read() as conn:
            return conn.execute(
                select(accounts.c.auth_id)
                .join(sessions, sessions.c.account_id == accounts.c.id)
                .where(sessions.c.uuid == session_uuid)
            ).scalar()

    def live_sessions(self) -> int:
        now = self.db.clock.now()
        with self.db.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(sessions)
                    .where(sessions.c.status == "active", sessions.c.expiry_time > now)
                ).scalar()
                or 0
            )

    # -- calls --------------------------------------------------------------------------

    def calls(
        self, account_id: int | None = None, session_uuid: str | None = None, limit: int = 50
    ) -> list[Any]:
        query = select(calls, sessions.c.uuid.label("session_uuid")).select_from(
            calls.outerjoin(sessions, sessions.c.id == calls.c.session_id)
        )
        if account_id is not None:
            query = query.where(calls.c.account_id == account_id)
        if session_uuid is not None:
            query = query.where(sessions.c.uuid == session_uuid)
        query = query.order_by(calls.c.initiation_time.desc(), calls.c.id.desc()).limit(limit)
        with self.db.read() as conn:
            return conn.execute(query).all()

    # -- gauges -------------------------------------------------------------------------

    def pool_usage(self) -> list[PoolUsage]:
        """Every pool with its numbers in service and those carrying a live session."""
        now = self.db.clock.now()
        busy = (
            select(sessions.c.number_id)
            .where(sessions.c.status == "active", sessions.c.expiry_time > now)
            .distinct()
            .subquery()
        )
        query = (
            select(
                accounts.c.auth_id,
                func.count(numbers.c.id),
                func.count(busy.c.number_id),
            )
            .select_from(
                numbers.join(accounts, accounts.c.id == numbers.c.pool_id).outerjoin(
                    busy, busy.c.number_id == numbers.c.id
                )
            )
            .where(numbers.c.state == "in_service")
            .group_by(accounts.c.auth_id)
            .order_by(accounts.c.auth_id)
        )
        with self.db.read() as conn:
            return [PoolUsage(a, int(n), int(u)) for a, n, u in conn.execute(query).all()]
