"""Dependencies: the store, and the authenticated principal of a request."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..domain.errors import Unauthorized
from ..store import Principal, Store

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_store(request: Request) -> Store:
    return request.app.state.store


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

    def check() -> Principal:
        caller = store.accounts.authenticate(user, token)
        if caller is None:
            raise Unauthorized("Authentication failed.")
        return store.accounts.principal(caller, auth_id, writing=request.method in WRITE_METHODS)

    return await run_in_threadpool(check)
