"""Accounts and subaccounts: creation, authentication, the tenant a request acts as."""

from __future__ import annotations

import hmac
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from ..domain import coerce, errors
from . import idempotency
from .base import Database
from .idempotency import Idempotency
from .models import accounts, numbers, sessions

_ALPHABET = string.ascii_uppercase + string.digits
AUTH_CACHE_SECONDS = 5.0


def new_auth_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(18))


def new_auth_token() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))


@dataclass(frozen=True)
class Account:
    id: int
    auth_id: str
    auth_token: str
    name: str
    parent_id: int | None
    enabled: bool

    @property
    def is_main(self) -> bool:
        return self.parent_id is None

    @property
    def main_id(self) -> int:
        return self.parent_id if self.parent_id is not None else self.id


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, after auth and the path's ``{auth_id}`` are reconciled.

    ``main`` is the tenant (the main account); ``subaccount`` narrows what is visible
    to one subaccount. ``read_only`` is set when a main account reads a subaccount's
    path.
    """

    caller: Account
    main: Account
    subaccount: Account | None
    read_only: bool = False

    @property
    def path_auth_id(self) -> str:
        return (self.subaccount or self.main).auth_id


def _row_to_account(row: Any) -> Account:
    return Account(
        id=row.id,
        auth_id=row.auth_id,
        auth_token=row.auth_token,
        name=row.name,
        parent_id=row.parent_id,
        enabled=row.enabled,
    )


class AccountRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, Account | None]] = {}
        self._cache_lock = threading.Lock()
        self._auth_ids: dict[int, str] = {}  # account id -> auth id (never changes)

    def create(
        self,
        name: str,
        parent: Account | None = None,
        enabled: bool = True,
        *,
        idem: Idempotency | None = None,
        render: Callable[[Account], dict[str, Any]] | None = None,
    ) -> Account:
        """A new account; with ``idem``, ``render(account)`` is kept as the answer to
        its key in the same transaction. The name meets the API's rule for names
        whoever creates the account (the operator's CLI too): no control characters."""
        checked = coerce.text("name", name)
        if not checked:
            raise errors.missing("name")
        name = checked
        now = self.db.clock.now()
        prefix = "SA" if parent else "MA"
        with self.db.write() as conn:
            for _ in range(5):
                auth_id = new_auth_id(prefix)
                exists = conn.execute(
                    select(accounts.c.id).where(accounts.c.auth_id == auth_id)
                ).first()
                if not exists:
                    break
            token = new_auth_token()
            new_id = conn.execute(
                accounts.insert().values(
                    auth_id=auth_id,
                    auth_token=token,
                    name=name,
                    parent_id=parent.id if parent else None,
                    enabled=enabled,
                    deleted=False,
                    created_time=now,
                    modified_time=now,
                )
            ).inserted_primary_key[0]
            account = Account(new_id, auth_id, token, name, parent.id if parent else None, enabled)
            if idem is not None and render is not None:
                idempotency.remember(conn, idem, 201, render(account), now)
        return account

    def by_auth_id(self, auth_id: str) -> Account | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(accounts).where(accounts.c.auth_id == auth_id, accounts.c.deleted.is_(False))
            ).first()
        return _row_to_account(row) if row else None

    def by_id(self, account_id: int) -> Account | None:
        with self.db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
        return _row_to_account(row) if row else None

    def _cached(self, auth_id: str) -> Account | None:
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(auth_id)
            if hit and hit[0] > now:
                return hit[1]
        account = self.by_auth_id(auth_id)
        with self._cache_lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[auth_id] = (now + AUTH_CACHE_SECONDS, account)
        return account

    def forget(self, auth_id: str) -> None:
        with self._cache_lock:
            self._cache.pop(auth_id, None)

    def authenticate(self, auth_id: str, token: str) -> Account | None:
        """The enabled account these credentials name, compared in constant time."""
        account = self._cached(auth_id)
        expected = account.auth_token if account else "x" * 40
        ok = hmac.compare_digest(expected.encode(), token.encode())
        if not ok or account is None or not account.enabled:
            return None
        if account.parent_id is not None:
            parent = self._cached_by_id(account.parent_id)
            if parent is None or not parent.enabled:
                return None
        return account

    def _cached_by_id(self, account_id: int) -> Account | None:
        with self._cache_lock:
            auth_id = self._auth_ids.get(account_id)
        if auth_id is None:
            account = self.by_id(account_id)
            if account is None:
                return None
            auth_id = account.auth_id
            with self._cache_lock:
                self._auth_ids[account_id] = auth_id
        return self._cached(auth_id)

    def principal(self, caller: Account, path_auth_id: str, *, writing: bool) -> Principal:
        """Reconcile the caller with the path's ``{auth_id}``
        (docs/reference.md#authentication-and-tenancy)."""
        if path_auth_id == caller.auth_id:
            if caller.is_main:
                return Principal(caller, caller, None)
            main = self._cached_by_id(caller.main_id)
            if main is None:
                raise errors.Unauthorized("Authentication failed.")
            return Principal(caller, main, caller)
        if caller.is_main:
            sub = self._cached(path_auth_id)
            if sub is not None and sub.parent_id == caller.id:
                if writing:
                    raise errors.Forbidden(
                        "Forbidden. A main account may only read a subaccount's resources."
                    )
                return Principal(caller, caller, sub, read_only=True)
        raise errors.Forbidden("Forbidden. The auth_id in the path is not yours.")

    # -- subaccounts --------------------------------------------------------------

    def subaccount_of(self, main: Account, auth_id: str) -> Account:
        account = self.by_auth_id(auth_id)
        if account is None or account.parent_id != main.id:
            raise errors.NotFound("Subaccount not found.")
        return account

    def list_subaccounts(self, main: Account, limit: int, offset: int) -> tuple[int, list[Any]]:
        cond = (accounts.c.parent_id == main.id) & accounts.c.deleted.is_(False)
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(accounts).where(cond)).scalar()
            rows = conn.execute(
                select(accounts)
                .where(cond)
                .order_by(accounts.c.created_time.desc(), accounts.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return int(total or 0), rows

    def row(self, account_id: int) -> Any:
        with self.db.read() as conn:
            return conn.execute(select(accounts).where(accounts.c.id == account_id)).first()

    def update(
        self,
        account: Account,
        *,
        name: str | None = None,
        enabled: bool | None = None,
        city: str | None = None,
        address: str | None = None,
    ) -> None:
        """Change an account's details; ``None`` leaves a field as it is. Texts meet the
        API's rule for them whoever changes them (no control characters)."""
        given = {
            "name": coerce.text("name", name),
            "enabled": enabled,
            "city": coerce.text("city", city),
            "address": coerce.text("address", address, 1000),
        }
        values: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        values["modified_time"] = self.db.clock.now()
        with self.db.write() as conn:
            conn.execute(update(accounts).where(accounts.c.id == account.id).values(**values))
        self.forget(account.auth_id)

    def delete_subaccount(self, sub: Account, *, cascade: bool = False) -> None:
        """Remove a subaccount; its numbers go back to the main account's pool, or with
        ``cascade`` (the family's parameter) leave the pool too.

        Refused while it has active sessions, so no caller is cut off mid-session.
        """
        now = self.db.clock.now()
        with self.db.write() as conn:
            live = conn.execute(
                select(func.count())
                .select_from(sessions)
                .where(
                    sessions.c.subaccount_id == sub.id,
                    sessions.c.status == "active",
                    sessions.c.expiry_time > now,
                )
            ).scalar()
            if live:
                raise errors.InvalidParameter("Subaccount has active sessions.")
            if cascade:
                conn.execute(
                    update(numbers)
                    .where(numbers.c.pool_id == sub.id, numbers.c.state != "removed")
                    .values(state="removed", modified_time=now)
                )
            conn.execute(
                update(numbers).where(numbers.c.pool_id == sub.id).values(pool_id=sub.main_id)
            )
            conn.execute(
                update(accounts)
                .where(accounts.c.id == sub.id)
                .values(deleted=True, enabled=False, modified_time=now)
            )
        self.forget(sub.auth_id)
