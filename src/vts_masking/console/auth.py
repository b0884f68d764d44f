"""Who is looking at the console, and the checks every request goes through.

* **Signing in** takes an account's API credentials (main or subaccount, checked by the
  API's own :meth:`AccountRepo.authenticate`, in constant time) or an operator's (made
  with ``vts-masking console operator-add``). It opens a login row and sets a cookie
  holding its random token: ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when served
  over HTTPS (or when the public URL is https, behind a TLS proxy), scoped to
  ``/console``. The token is never written into a page or a log.
* **Every request** turns the cookie into a :class:`Viewer` and re-applies the API's
  account rules (enabled, not deleted, a subaccount's main account enabled), so turning
  an account off turns its console off too.
* **Tenancy** is the API's: an account's :class:`~vts_masking.store.Principal` comes from
  :meth:`AccountRepo.principal`, and every store operation is scoped by it, so another
  tenant's session is "not found" here exactly as in the API. The operator sees every
  account: ``principal`` is ``None`` (all), or a main account's, chosen per page.
* **CSRF**: every form (and every htmx request, through a header) carries the login's
  CSRF secret; the sign-in form, before any login exists, a double-submit cookie's.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from ..api.parsing import query_params
from ..domain import errors
from ..store import Account, Principal, Store
from ..store.console import Login, Operator

COOKIE = "vts_console"
PRE_COOKIE = "vts_console_signin"  # the sign-in form's CSRF double-submit cookie
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/console"


class SignInRequired(Exception):
    """No live console login on this request: the page redirects to the sign-in."""


@dataclass(frozen=True)
class Viewer:
    login: Login
    account: Account | None  # an account signed in …
    operator: Operator | None  # … or the operator
    acting: Principal | None  # the tenant pages are scoped to (None: every account)
    main: Account | None  # the operator's chosen main account
    accounts: tuple[Any, ...] = ()  # the operator's choice of main accounts

    @property
    def is_operator(self) -> bool:
        return self.operator is not None

    @property
    def csrf(self) -> str:
        return self.login.csrf

    @property
    def name(self) -> str:
        if self.operator is not None:
            return f"operator {self.operator.name}"
        assert self.account is not None
        kind = "account" if self.account.is_main else "subaccount"
        return f"{self.account.name} ({kind} {self.account.auth_id})"

    @property
    def can_move_numbers(self) -> bool:
        """Only a main account (or the operator acting as one) moves numbers between
        its pools — the API's rule for ``subaccount`` on a number update."""
        return self.acting is not None and self.acting.subaccount is None

    def tenant(self) -> Principal:
        """The tenant a page that needs one acts as (an operator must choose one)."""
        if self.acting is None:
            raise errors.InvalidParameter("Choose an account first.")
        return self.acting


def secure_cookies(request: Request) -> bool:
    public = str(getattr(request.app.state.settings, "public_url", "") or "")
    return request.url.scheme == "https" or public.startswith("https://")


def set_cookie(request: Request, response: Any, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


def clear_cookie(request: Request, response: Any, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure_cookies(request)
    )


def live_account(store: Store, account_id: int) -> Account | None:
    """The account of a login if the API would still let it in (enabled, not deleted,
    a subaccount's main account enabled): the API's own check, on its cached account."""
    account = store.accounts.by_id(account_id)
    if account is None:
        return None
    return store.accounts.authenticate(account.auth_id, account.auth_token)


def sign_in(store: Store, auth_id: str, token: str) -> str | None:
    """Check credentials and open a login; returns the cookie token (None: refused)."""
    auth_id = auth_id.strip()
    if auth_id.startswith("OP"):
        operator = store.console.authenticate_operator(auth_id, token)
        return None if operator is None else store.console.open_login(operator_id=operator.id)
    account = store.accounts.authenticate(auth_id, token)
    if account is None:
        return None
    return store.console.open_login(account_id=account.id)


def viewer(request: Request, store: Store) -> Viewer:
    """The signed-in viewer of ``request`` (raises :class:`SignInRequired`)."""
    token = request.cookies.get(COOKIE, "")
    login = store.console.login(token)
    if login is None:
        raise SignInRequired
    if login.operator_id is not None:
        operator = store.console.operator(login.operator_id)
        if operator is None or not operator.enabled:
            raise SignInRequired
        main = None
        chosen = query_params(request).get("account") or ""
        if chosen:
            main = store.accounts.by_auth_id(chosen)
            if main is None or not main.is_main:
                raise errors.NotFound("Account not found.")
        acting = Principal(main, main, None) if main is not None else None
        return Viewer(login, None, operator, acting, main, tuple(store.stats.main_accounts()))
    account = live_account(store, login.account_id or 0)
    if account is None:
        raise SignInRequired
    writing = request.method not in ("GET", "HEAD")
    acting = store.accounts.principal(account, account.auth_id, writing=writing)
    return Viewer(login, account, None, acting, None)


def operator_principal(store: Store, account_id: int | None) -> Principal | None:
    """For the operator opening one object by id: its main account as the tenant."""
    if account_id is None:
        return None
    main = store.accounts.by_id(account_id)
    return Principal(main, main, None) if main is not None else None


def check_csrf(request: Request, expected: str, form: dict[str, Any]) -> None:
    """The form's (or the htmx header's) token must equal ``expected``."""
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if (
        not isinstance(sent, str)
        or not expected
        or not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode())
    ):
        raise errors.Forbidden(
            "This form was not sent from this console page (its security token is missing "
            "or stale). Reload the page and try again."
        )


def new_signin_token() -> str:
    return secrets.token_urlsafe(24)
