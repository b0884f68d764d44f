"""Dependencies: the store, and the authenticated principal of a request."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from ..domain.errors import RateLimited, Unauthorized
from ..domain.ratelimit import retry_after_header
from ..store import Principal, Store

T = TypeVar("T")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_store(request: Request) -> Store:
    return request.app.state.store


def public_url(request: Request) -> str:
    """The service's public base URL (``VTS_PUBLIC_URL``), before every URL the API
    returns."""
    return request.app.state.settings.base_url()


async def read(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a read-only store operation (see :meth:`Database.run_read`)."""
    return await get_store(request).db.run_read(fn, *args)


def _credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthorized("Authentication failed.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Authentication failed.") from None
    auth_id, sep, token = decoded.partition(":")
    if not sep:
        raise Unauthorized("Authentication failed.")
    return auth_id, token


async def principal(request: Request, auth_id: str) -> Principal:
    """HTTP Basic auth, then the path's ``{auth_id}`` reconciled with the caller."""
    store = get_store(request)
    user, token = _credentials(request)

    # Runs on the event loop: accounts are cached in-process (a miss costs one indexed
    # lookup every few seconds per account), so a thread hop per request would cost more.
    caller = store.accounts.authenticate(user, token)
    if caller is None:
        raise Unauthorized("Authentication failed.")
    request.state.account = caller.auth_id  # for the access log (api/access.py)
    limits = request.app.state.rate_limits
    if limits is not None:
        # Counted against the account that proved who it is, after the check: keyed on
        # the claimed Auth ID, anyone who knows an account's id could spend its budget.
        wait = limits.take(caller.auth_id, time.monotonic())
        if wait > 0:
            raise RateLimited(retry_after_header(wait))
    return store.accounts.principal(caller, auth_id, writing=request.method in WRITE_METHODS)
