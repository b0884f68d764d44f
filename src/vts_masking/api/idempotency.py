"""``Idempotency-Key`` on the API's POSTs and DELETEs that act (an addition to the spec).

A request with the header is answered once: a repeat with the same key and the same
request gets the first answer again (status and body), one with the same key and another
request is ``409``. Session and subaccount creates keep their answer in the transaction
that creates (:mod:`vts_masking.store.idempotency`); DELETEs keep it just after acting,
since a repeated DELETE could only answer differently, never act twice. Errors are not
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

from ..domain.errors import ApiError
from ..store import Principal
from ..store.idempotency import Idempotency, lost_key_race
from .deps import get_store
from .parsing import request_hash

HEADER = "idempotency-key"
MAX_KEY = 255


def idempotency_of(
    request: Request, who: Principal, params: dict[str, Any] | None = None
) -> Idempotency | None:
    """The request's key, scoped to its main account, or ``None`` when it sent none."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return None
    digest = request_hash(request.method, request.url.path, params or {})
    return Idempotency(who.main.id, key[:MAX_KEY], digest)


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

    ``keep``: store the answer here after acting (``False`` when ``act`` stores it in
    its own transaction). If acting fails while a twin request with the same key is in
    flight, the twin's answer is the one this request gets once it is stored.
    """
    if idem is None:
        return await act()
    store = get_store(request)
    first = await run_in_threadpool(store.idempotency.replay, idem)
    if first is not None:
        return replayed(*first)
    try:
        response = await act()
    except (ApiError, IntegrityError) as exc:
        if isinstance(exc, IntegrityError) and not lost_key_race(exc):
            raise
        twin = await run_in_threadpool(store.idempotency.replay, idem)
        if twin is not None:
            return replayed(*twin)
        raise
    if keep and 200 <= response.status_code < 300:
        body = json.loads(bytes(response.body))
        await run_in_threadpool(store.idempotency.remember, idem, response.status_code, body)
    return response
