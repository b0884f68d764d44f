"""Masking sessions: ``/v1/Account/{auth_id}/Masking/Session/``.

docs/reference.md#masking-sessions.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ... import metrics
from ...domain import session_params
from ...domain.list_filters import parse_session_filters
from ...domain.views import event_view
from ...store import Answer, Principal
from ..deps import get_store, principal, read
from ..idempotency import answer_once, idempotency_of, replayed
from ..params import body, query
from ..render import FastJSON, list_page, ok
from ..routing import DirectRoute
from ..urlguard import vet_session_urls

log = logging.getLogger("vts_masking.api")
router = APIRouter(tags=["Masking sessions"], route_class=DirectRoute)
BASE = "/v1/Account/{auth_id}/Masking/Session"


@router.post(BASE, status_code=201, summary="Create a masking session")
async def create_session(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    raw = await body(request)
    params = session_params.parse_create(raw)
    await vet_session_urls(request, vars(params))
    idem = idempotency_of(request, who, raw)

    def render(view: dict[str, Any]) -> dict[str, Any]:
        return {
            "api_id": str(uuid.uuid4()),
            "session_uuid": view["session_uuid"],
            "virtual_number": view["virtual_number"],
            "message": "Session created",
            "session": view,
        }

    async def create() -> JSONResponse:
        store = get_store(request)
        created = await store.sessions.create_async(who, params, render, idem)
        status, body = created
        if created.replayed:  # a twin with the same key created it: it called the parties
            return replayed(status, body)
        metrics.SESSIONS_CREATED.inc()
        calls = getattr(request.app.state, "calls", None)
        if calls is not None and body["session"].get("initiate_call_to_first_party"):
            try:
                await calls.initiate_session_call(body["session_uuid"])
            except Exception:  # the session exists: answer 201; the call is logged failed
                log.exception("calling the parties of session %s failed", body["session_uuid"])
        return FastJSON(body, status_code=status)

    # The answer is kept in the create's own transaction (keep=False), and a create
    # repeated under its key never calls the parties again.
    return await answer_once(request, idem, create, keep=False)


@router.get(BASE, summary="List masking sessions")
async def list_sessions(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    raw = query(request)
    filters = parse_session_filters(raw)
    store = get_store(request)
    total, objects = await read(request, store.sessions.list, who, filters)
    path = request.url.path.rstrip("/") + "/"
    for obj in objects:
        obj["resource_uri"] = f"{path}{obj['session_uuid']}/"
    # Only masking sessions wrap what they answer in "response" (the family's shape).
    return ok({"response": list_page(request, raw, filters.limit, filters.offset, total, objects)})


@router.get(BASE + "/{session_uuid}", summary="Get a masking session")
async def get_session(
    session_uuid: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    store = get_store(request)
    view = await read(request, store.sessions.get, who, session_uuid)
    return ok({"response": view})


@router.post(BASE + "/{session_uuid}", summary="Update a masking session")
async def update_session(
    session_uuid: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    raw = await body(request)
    change = session_params.parse_update(raw)
    await vet_session_urls(request, change.changes)
    store = get_store(request)
    idem = idempotency_of(request, who, raw)
    api_id = str(uuid.uuid4())  # the kept answer and this one must be the same

    def render(view: dict[str, Any]) -> dict[str, Any]:
        return {"api_id": api_id, **view, "message": "Session updated", "session": view}

    async def update() -> JSONResponse:
        view = await store.sessions.update_async(who, session_uuid, change, idem, render)
        if isinstance(view, Answer):  # a twin under the same key updated first
            return replayed(*view)
        return FastJSON(render(view))

    # Kept in the update's own transaction: a repeat must not move the expiry again.
    return await answer_once(request, idem, update, keep=False)


@router.delete(BASE + "/{session_uuid}", summary="Expire (delete) a masking session")
async def delete_session(
    session_uuid: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    store = get_store(request)

    async def expire() -> JSONResponse:
        await run_in_threadpool(store.sessions.expire, who, session_uuid)
        metrics.SESSIONS_EXPIRED.labels("deleted").inc()
        return ok({"message": "Session expired"})

    # Repeated under its key (the first answer was lost), a DELETE gets that answer
    # again rather than "Session already expired."
    return await answer_once(request, idempotency_of(request, who), expire, keep=True)


@router.get(BASE + "/{session_uuid}/Event", summary="A session's event log (addition)")
async def session_events(
    session_uuid: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    store = get_store(request)
    rows = await run_in_threadpool(store.sessions.events, who, session_uuid)
    objects = [event_view(r, with_params=True) for r in rows]
    return ok({"response": {"objects": objects}})
