"""Error mapping: every failure leaves as ``{"api_id": ..., "error": ...}``.

The shape and the statuses: docs/reference.md#answers-and-errors.

Refusals of bad input are counted by status in :mod:`vts_masking.badinput` and logged
there at most once a minute per status (INFO: a client's mistake is not the operator's
problem, but a flood of them is worth a line).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .. import badinput
from ..domain.errors import ApiError
from ..store import db

log = logging.getLogger("vts_masking.api")

# a database that is down answers every request the same way: a line a minute says so
_UNAVAILABLE = badinput.BadInput(logger=log, what="answered 503, database unavailable")

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


def count_refusal(status: int, detail: str) -> None:
    """Count (and now and then log) one request refused for what it sent."""
    if status in (400, 408, 413, 415):
        badinput.note(f"http_{status}", detail, logging.INFO)


# Endpoints that exist only to refuse, with a reason, what the API family offers and this
# service does not (the family's call control): their methods are not "served".
NOT_SERVED: set[Callable[..., Any]] = set()


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (a 405's ``Allow``): each method of
    a path is its own route, and Starlette names only the first route that matched."""
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        if getattr(route, "endpoint", None) in NOT_SERVED:
            continue
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def _leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Routes with methods, looking inside included routers (FastAPI nests them)."""
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is None and not hasattr(route, "methods"):
            inner = getattr(route, "routes", None)
        if inner is not None:
            yield from _leaf_routes(inner)
        else:
            yield route


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        count_refusal(exc.status, f"{request.method} {request.url.path}: {exc.message}")
        headers = {"WWW-Authenticate": 'Basic realm="VTS"'} if exc.status == 401 else None
        if exc.retry_after is not None:  # 429, or 409 while a twin request still runs
            headers = {"Retry-After": exc.retry_after}
        return error_response(exc.status, exc.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = HTTP_TEXTS.get(exc.status_code) or str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, message, headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        if db.unavailable(exc):
            # The database is there but busy or restarting: the request did nothing
            # (its transaction rolled back), so the client may simply send it again.
            _UNAVAILABLE.note("database", f"{request.method} {request.url.path}: {exc}")
            return error_response(
                503, "Service temporarily unavailable. Try again.", {"Retry-After": "1"}
            )
        # Never leak a stack trace; log it with the request line for the operator.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal server error.")
