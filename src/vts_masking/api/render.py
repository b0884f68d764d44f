"""Response helpers: ``api_id`` on every body, lists in the family's shape with ``meta``
(relative page links that keep the request's filters)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse


class FastJSON(JSONResponse):
    """A JSON response encoded by orjson: the same compact UTF-8 text as Starlette's
    ``json.dumps`` for the plain dicts, lists, strings and numbers the views hold, in a
    fraction of the time (it showed in the profile of every session request)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return FastJSON({"api_id": str(uuid.uuid4()), **body}, status_code=status)


def meta(path: str, echo: dict[str, Any], limit: int, offset: int, total: int) -> dict[str, Any]:
    """Pagination block; ``next``/``previous`` keep the request's own filters."""

    def page(at: int) -> str:
        return f"{path}?{urlencode({**echo, 'limit': limit, 'offset': at})}"

    return {
        "limit": limit,
        "offset": offset,
        "next": page(offset + limit) if offset + limit < total else None,
        "previous": page(max(offset - limit, 0)) if offset > 0 else None,
        "total_count": total,
    }


def list_page(
    request: Request,
    params: dict[str, Any],
    limit: int,
    offset: int,
    total: int,
    objects: list[dict[str, Any]],
) -> dict[str, Any]:
    """``{meta, objects}`` of one page. Every list but the sessions' answers this at the
    top level (``{api_id, meta, objects}``); sessions wrap it in ``response``."""
    path = request.url.path.rstrip("/") + "/"
    echo = {k: v for k, v in params.items() if k not in ("limit", "offset")}
    return {"meta": meta(path, echo, limit, offset, total), "objects": objects}
