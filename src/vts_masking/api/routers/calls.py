"""Call legs and recordings: ``.../Call/{uuid}/`` and ``.../Recording/`` (spec §5)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from ...domain import coerce, errors
from ...domain.list_filters import parse_paging
from ...domain.views import account_path, fmt_money, fmt_time
from ...store import Principal
from ..deps import get_store, principal
from ..idempotency import answer_once, idempotency_of
from ..parsing import query_params
from ..render import meta, ok

router = APIRouter(tags=["Calls and recordings"])
BASE = "/v1/Account/{auth_id}"


def call_view(row: dict[str, Any], who: Principal) -> dict[str, Any]:
    path = account_path(who.path_auth_id)
    return {
        "call_uuid": row["uuid"],
        "session_uuid": row.get("session_uuid"),
        "party": row["party"],
        "direction": row["direction"],
        "from_number": row["from_number"],
        "to_number": row["to_number"],
        "call_status": row["status"],
        "initiation_time": fmt_time(row["initiation_time"]),
        "answer_time": fmt_time(row["answer_time"]),
        "end_time": fmt_time(row["end_time"]),
        "call_duration": row["duration"],
        "bill_duration": row["billed_duration"],
        "total_amount": fmt_money(row["amount"]),
        "hangup_cause_name": row["hangup_cause"],
        "hangup_cause_code": row["hangup_cause_code"],
        "resource_uri": f"{path}Call/{row['uuid']}/",
    }


def recording_view(row: dict[str, Any], who: Principal) -> dict[str, Any]:
    path = account_path(who.path_auth_id)
    resource = f"{path}Recording/{row['uuid']}/"
    return {
        "recording_id": row["uuid"],
        "session_uuid": row.get("session_uuid"),
        "call_uuid": row.get("call_uuid"),
        "recording_format": row["format"],
        "recording_status": row["status"],
        "recording_start_time": fmt_time(row["start_time"]),
        "recording_end_time": fmt_time(row["end_time"]),
        "recording_duration_ms": round((row["duration"] or 0) * 1000),
        "recording_size": row["size"],
        "recording_url": f"{resource}Media/",
        "recording_resource_url": resource,
        "resource_uri": resource,
    }


@router.get(BASE + "/Call/{call_uuid}", summary="Get one call leg")
async def get_call(
    call_uuid: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    store = get_store(request)
    row = await run_in_threadpool(store.calls.get_call, who, call_uuid)
    return ok({"response": call_view(row, who)})


@router.get(BASE + "/Recording", summary="List recordings")
async def list_recordings(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    raw = query_params(request)
    limit, offset = parse_paging(raw)
    store = get_store(request)
    total, rows = await run_in_threadpool(
        lambda: store.calls.list_recordings(
            who,
            session_uuid=coerce.text("session_uuid", raw.get("session_uuid"), 36),
            call_uuid=coerce.text("call_uuid", raw.get("call_uuid"), 36),
            limit=limit,
            offset=offset,
        )
    )
    path = request.url.path.rstrip("/") + "/"
    echo = {k: v for k, v in raw.items() if k not in ("limit", "offset")}
    return ok(
        {
            "response": {
                "meta": meta(path, echo, limit, offset, total),
                "objects": [recording_view(r, who) for r in rows],
            }
        }
    )


@router.get(BASE + "/Recording/{recording_id}", summary="Get a recording's metadata")
async def get_recording(
    recording_id: str, request: Request, who: Principal = Depends(principal)
) -> JSONResponse:
    store = get_store(request)
    row = await run_in_threadpool(store.calls.get_recording, who, recording_id)
    return ok({"response": recording_view(row, who)})


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
