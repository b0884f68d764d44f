"""Error mapping: every failure leaves as ``{"api_id": ..., "error": ...}`` (spec §1)."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.errors import ApiError

log = logging.getLogger("vts_masking.api")

HTTP_TEXTS = {
    401: "Authentication failed.",
    403: "Forbidden.",
    404: "Resource not found.",
    405: "Method not allowed.",
    429: "Too many requests.",
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"api_id": str(uuid.uuid4()), "error": message}, status_code=status, headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="VTS"'} if exc.status == 401 else None
        if exc.retry_after is not None:  # 429, or 409 while a twin request still runs
            headers = {"Retry-After": exc.retry_after}
        return error_response(exc.status, exc.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = HTTP_TEXTS.get(exc.status_code) or str(exc.detail)
        return error_response(exc.status_code, message, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # Never leak a stack trace; log it with the request line for the operator.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal server error.")
