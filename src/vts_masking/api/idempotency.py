"""``Idempotency-Key`` on the API's POSTs and DELETEs that act (this service's addition).

A request with the header is answered once: a repeat with the same key and the same
request gets the first answer again (status and body), one with the same key and another
request is ``409``. Session creates, session updates and subaccount creates keep their
answer in the transaction that acts (:mod:`vts_masking.store.idempotency`); the other
writes claim the key before acting and keep the answer just after, so a twin sent while
the first still runs is told ``409`` (retry later) rather than acting too. Errors are not
kept: a refused request may be corrected and sent again under the same key.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from ..domain import errors
from ..store import Principal
from ..store.idempotency import Idempotency, lost_key_race
from .deps import get_store
from .parsing import request_hash

HEADER = "idempotency-key"
MAX_KEY = 255


def idempotency_of(
    request: Request, who: Principal, params: dict[str, Any] | None = None
) -> Idempotency | None:
    """The request's key, scoped to the account that sent it, or ``None`` without one."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return None
    if len(key) > MAX_KEY:
        raise errors.InvalidParameter(f"Idempotency-Key must be at most {MAX_KEY} characters.")
    digest = request_hash(request.method, request.url.path, params or {})
    return Idempotency(who.caller.id, key, digest)


def replayed(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})


async def answer_once(
    request: Request,
    idem: Idempotency | None,
    act: Callable[[], Awaitable[JSONResponse]],
    *,
    keep: bool,
) -> JSONResponse:
    """Answer ``act()`` once per key.

    ``keep=True``: claim the key, act, keep the answer (or let go of the key if acting
    failed). ``keep=False``: ``act`` keeps the answer in its own transaction; a twin
    that loses the race there gets the winner's answer.
    """
    if idem is None:
        return await act()
    store = get_store(request)
    if keep:
        first = await run_in_threadpool(store.idempotency.claim, idem)
        if first is not None:
            return replayed(*first)
        try:
            response = await act()
        except BaseException:
            await run_in_threadpool(store.idempotency.release, idem)
            raise
        if 200 <= response.status_code < 300:
            body = json.loads(bytes(response.body))
            await run_in_threadpool(store.idempotency.complete, idem, response.status_code, body)
        else:
            await run_in_threadpool(store.idempotency.release, idem)
        return response
    first = await run_in_threadpool(store.idempotency.replay, idem)
    if first is not None:
        return replayed(*first)
    try:
        return await act()
    except (errors.ApiError, IntegrityError) as exc:
        if isinstance(exc, IntegrityError) and not lost_key_race(exc):
            raise
        twin = await run_in_threadpool(store.idempotency.replay, idem)
        if twin is not None:
            return replayed(*twin)
        raise
