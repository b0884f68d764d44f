"""Call legs and recordings: ``.../Call/`` and ``.../Recording/`` (docs/reference.md#calls).

In the family's shapes: a leg's record (CDR) and a recording are top-level objects, lists
are ``{api_id, meta, objects}``. ``GET .../Call/?status=live`` and
``GET .../Call/{uuid}/?status=live`` are the family's live-call views (``{api_id,
calls: [uuids]}`` and the live call); ``status=queued`` finds nothing, as no call here
waits in a queue. Calls are placed by masking sessions, so the family's call-control
methods (create, transfer, hang up, play, speak, DTMF, record, stream, cancel) are
answered ``405`` with a message saying so.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from ...domain import coerce, errors
from ...domain.list_filters import parse_call_filters, parse_recording_filters
from ...domain.views import account_path, call_view, live_call_view, recording_view
from ...store import Principal
from ..deps import get_store, principal, public_url
from ..errors import NOT_SERVED, allowed_methods, error_response
from ..idempotency import answer_once, idempotency_of
from ..params import query
from ..render import list_page, ok
from ..routing import DirectRoute

router = APIRouter(tags=["Calls and recordings"], route_class=DirectRoute)
BASE = "/v1/Account/{auth_id}"

NO_CALL_CONTROL = (
    "Calls are placed by masking sessions: this service does not create or control "
    "calls through the API."
)


@router.get(BASE + "/Call", summary="List call legs (or the live ones)")
async def list_calls(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    raw = query(request)
    view, filters = parse_call_filters(raw)
    if view == "queued":  # nothing ever waits in a queue here
        return ok({"calls": []})
    store = get_store(request)
    total, rows = await run_in_threadpool(store.calls.list_calls, who, filters)
    if view == "live":
        return ok({"calls": [r["uuid"] for r in rows]})
    root = account_path(who.path_auth_id)
    objects = [call_view(r, root) for r in rows]
    return ok(list_page(request, raw, filters.limit, filters.offset, total, objects))


@router.get(BASE + "/Call/{call_uuid}", summary="Get one call leg (or the live call)")
async def get_call(
    call_uuid: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    status = coerce.choice("status", query(request).get("status"), ("live", "queued"), upper=False)
    if status == "queued":
        raise errors.NotFound("Call not found.")
    store = get_store(request)
    row = await run_in_threadpool(
        lambda: store.calls.get_call(who, call_uuid, live=status == "live")
    )
    if status == "live":
        return ok(live_call_view(row))
    return ok(call_view(row, account_path(who.path_auth_id)))


@router.post(BASE + "/Call", summary="Not offered: make a call", include_in_schema=False)
@router.post(BASE + "/Call/{call_uuid}", include_in_schema=False)
@router.delete(BASE + "/Call/{call_uuid}", include_in_schema=False)
@router.api_route(
    BASE + "/Call/{call_uuid}/{action}",
    methods=["GET", "POST", "DELETE"],
    include_in_schema=False,
)
@router.api_route(
    BASE + "/Call/{call_uuid}/{action}/{item}",
    methods=["GET", "POST", "DELETE"],
    include_in_schema=False,
)
@router.delete(BASE + "/Request/{request_uuid}", include_in_schema=False)
async def call_control(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    # Allow names what the path really serves (GET for a leg, nothing for its actions).
    allow = ", ".join(allowed_methods(request))
    return error_response(405, NO_CALL_CONTROL, {"Allow": allow})


NOT_SERVED.add(call_control)


@router.get(BASE + "/Recording", summary="List recordings")
async def list_recordings(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    raw = query(request)
    filters = parse_recording_filters(raw)
    store = get_store(request)
    total, rows = await run_in_threadpool(store.calls.list_recordings, who, filters)
    base, root, now = public_url(request), account_path(who.path_auth_id), store.clock.now()
    objects = [recording_view(r, base, root, now) for r in rows]
    return ok(list_page(request, raw, filters.limit, filters.offset, total, objects))


@router.get(BASE + "/Recording/{recording_id}", summary="Get a recording's metadata")
async def get_recording(
    recording_id: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    store = get_store(request)
    row = await run_in_threadpool(store.calls.get_recording, who, recording_id)
    root = account_path(who.path_auth_id)
    return ok(recording_view(row, public_url(request), root, store.clock.now()))


@router.get(BASE + "/Recording/{recording_id}/Media", summary="Download a recording's audio")
async def recording_media(
    recording_id: str, request: Request, who: Principal = Depends(principal)
) -> FileResponse:
    store = get_store(request)
    row = await run_in_threadpool(store.calls.get_recording, who, recording_id)
    path = Path(row["path"])
    if row["status"] != "completed" or not path.is_file():
        raise errors.NotFound("Recording media not available.")
    media_type = "audio/mpeg" if row["format"] == "mp3" else "audio/wav"
    return FileResponse(path, media_type=media_type, filename=f"{row['uuid']}.{row['format']}")


@router.delete(BASE + "/Recording/{recording_id}", summary="Delete a recording")
async def delete_recording(
    recording_id: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    store = get_store(request)

    async def remove() -> JSONResponse:
        path = await run_in_threadpool(store.calls.delete_recording, who, recording_id)
        with contextlib.suppress(OSError):
            Path(path).unlink()
        return ok({"message": "Recording deleted"})

    return await answer_once(request, idempotency_of(request, who), remove, keep=True)
