"""The console's own rows: operators (made from the CLI) and signed-in browsers.

A console login is a row, not a signed cookie, so signing out ends it at once in every
process sharing the database. The cookie holds a random token; the row holds only the
token's SHA-256 (a copy of the database signs no one in) and the login's CSRF secret.
Operators' tokens are kept as salted scrypt hashes and compared in constant time;
accounts sign in with their API credentials through :meth:`AccountRepo.authenticate`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from .accounts import new_auth_id, new_auth_token
from .base import Database
from .models import console_logins, console_operators

LOGIN_LIFETIME = timedelta(hours=12)
# scrypt at n=2**14, r=8: about 16 MiB and tens of milliseconds per sign-in, which makes
# guessing a stolen hash slow and costs an honest operator nothing noticeable.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
_DUMMY_SALT = "0" * 32


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _scrypt(token: str, salt: str) -> str:
    raw = hashlib.scrypt(token.encode("utf-8", "surrogatepass"), salt=bytes.fromhex(salt), **SCRYPT)
    return raw.hex()


@dataclass(frozen=True)
class Operator:
    id: int
    login: str
    name: str
    enabled: bool


@dataclass(frozen=True)
class Login:
    """One signed-in browser: who (an account or an operator) and its CSRF secret."""

    id: int
    csrf: str
    account_id: int | None
    operator_id: int | None
    expires_time: datetime


def _operator(row: Any) -> Operator:
    return Operator(row.id, row.login, row.name, row.enabled)


class ConsoleRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- operators ------------------------------------------------------------------

    def create_operator(self, name: str) -> tuple[Operator, str]:
        """A new operator and its token (returned once, kept only as a hash)."""
        token = new_auth_token()
        salt = secrets.token_hex(16)
        now = self.db.clock.now()
        with self.db.write() as conn:
            for _ in range(5):
                login = new_auth_id("OP")
                taken = conn.execute(
                    select(console_operators.c.id).where(console_operators.c.login == login)
                ).first()
                if not taken:
                    break
            new_id = conn.execute(
                console_operators.insert().values(
                    login=login,
                    name=name,
                    token_hash=_scrypt(token, salt),
                    salt=salt,
                    enabled=True,
                    created_time=now,
                )
            ).inserted_primary_key[0]
        return Operator(new_id, login, name, True), token

    def operators(self) -> list[Operator]:
        with self.db.read() as conn:
            rows = conn.execute(select(console_operators).order_by(console_operators.c.id)).all()
        return [_operator(r) for r in rows]

    def operator(self, operator_id: int) -> Operator | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(console_operators).where(console_operators.c.id == operator_id)
            ).first()
        return _operator(row) if row else None

    def authenticate_operator(self, login: str, token: str) -> Operator | None:
        """The enabled operator these credentials name; the hash is computed (and
        compared in constant time) whether or not the login exists."""
        with self.db.read() as conn:
            row = conn.execute(
                select(console_operators).where(console_operators.c.login == login)
            ).first()
        salt = row.salt if row is not None else _DUMMY_SALT
        expected = row.token_hash if row is not None else "0" * 64
        ok = hmac.compare_digest(_scrypt(token, salt), expected)
        if not ok or row is None or not row.enabled:
            return None
        return _operator(row)

    def set_operator_enabled(self, login: str, enabled: bool) -> bool:
        """Switch an operator on or off; off also ends its signed-in browsers."""
        with self.db.write() as conn:
            row = conn.execute(
                select(console_operators.c.id).where(console_operators.c.login == login)
            ).first()
            if row is None:
                return False
            conn.execute(
                update(console_operators)
                .where(console_operators.c.id == row.id)
                .values(enabled=enabled)
            )
            if not enabled:
                conn.execute(delete(console_logins).where(console_logins.c.operator_id == row.id))
        return True

    # -- logins ---------------------------------------------------------------------

    def open_login(self, *, account_id: int | None = None, operator_id: int | None = None) -> str:
        """Sign a browser in; returns the cookie's token (never stored as such)."""
        if (account_id is None) == (operator_id is None):
            raise ValueError("a login is either an account's or an operator's")
        token = secrets.token_urlsafe(32)
        now = self.db.clock.now()
        with self.db.write() as conn:
            conn.execute(
                console_logins.insert().values(
                    token_hash=token_digest(token),
                    csrf=secrets.token_urlsafe(32),
                    account_id=account_id,
                    operator_id=operator_id,
                    created_time=now,
                    expires_time=now + LOGIN_LIFETIME,
                )
            )
            # Each sign-in also sweeps the expired logins: they are few and indexed.
            conn.execute(delete(console_logins).where(console_logins.c.expires_time <= now))
        return token

    def login(self, token: str) -> Login | None:
        """The live login a cookie's token names (None: unknown, or expired)."""
        if not token:
            return None
        with self.db.read() as conn:
            row = conn.execute(
                select(console_logins).where(console_logins.c.token_hash == token_digest(token))
            ).first()
        if row is None or row.expires_time <= self.db.clock.now():
            return None
        return Login(row.id, row.csrf, row.account_id, row.operator_id, row.expires_time)

    def close_login(self, token: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                delete(console_logins).where(console_logins.c.token_hash == token_digest(token))
            )
