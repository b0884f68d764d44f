"""Response helpers: ``api_id`` on every body, list ``meta`` with relative page links."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import JSONResponse


def ok(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({"api_id": str(uuid.uuid4()), **body}, status_code=status)


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
