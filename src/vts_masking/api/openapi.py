"""The OpenAPI document as the contract, and ``/docs`` / ``/redoc`` that work offline.

The routers read their bodies themselves (tolerant parsing,
docs/reference.md#request-bodies), so FastAPI alone sees neither bodies nor query parameters
and invents a 422 the API never sends. Here one table, :data:`OPERATIONS`, says for every
route what it takes (query parameters, a JSON or form body) and what it answers (the models
of ``api/schemas.py`` for success, the ``{"api_id", "error"}`` shape for every error status
it can give); :func:`build` merges it into FastAPI's document. A test calls every operation
and validates the real responses against this document, and fails for a route the table does
not describe.

Swagger UI and ReDoc load their scripts from the ``fastapi-offline`` package's files
(served under ``/docs-static``), never from a CDN. ReDoc's bundle itself draws its
sidebar's "API docs by Redocly" logo from Redocly's CDN, so a reader's browser would call
out to it (and show a broken image offline); the bundle is served with that one address
replaced by an empty inline image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas

STATIC_URL = "/docs-static"
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
REF = "#/components/schemas/{model}"

ERROR_TEXT = {
    400: "Invalid or missing parameter, or a business refusal (e.g. pool exhausted).",
    401: "Missing or wrong credentials.",
    403: "The auth_id in the path is not the caller's (or not writable by it).",
    404: "Unknown resource (or one of another account).",
    409: "A request with the same Idempotency-Key is still running (see Retry-After).",
    413: "The body is larger than 64 KiB.",
    415: "A body that is neither JSON nor form-encoded.",
    429: "Rate limited (see Retry-After).",
    500: "Internal error (never a stack trace).",
}


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Op:
    status: int
    model: type[BaseModel]
    description: str = ""
    body: type[BaseModel] | None = None
    query: tuple[Query, ...] = ()
    errors: tuple[int, ...] = ()
    media: str = "application/json"  # the success body's media type
    also: tuple[type[BaseModel], ...] = ()  # other success bodies (a query asks for them)


PAGING = (
    Query("limit", "At most this many objects (1 … 20, default 20).", {"type": "integer"}),
    Query("offset", "Skip this many (default 0).", {"type": "integer"}),
)


def time_filters(*names: str) -> tuple[Query, ...]:
    """A value to the second stands for that whole second (docs/api.md, Time filters)."""
    return tuple(
        Query(f"{name}{op}", f"{name} {label} (UTC, YYYY-MM-DD HH:MM[:SS[.ffffff]])")
        for name in names
        for op, label in (
            ("", "equal to"),
            ("__gt", "after"),
            ("__gte", "at or after"),
            ("__lt", "before"),
            ("__lte", "at or before"),
        )
    )


def integer_filters(name: str, label: str) -> tuple[Query, ...]:
    """An integer column compared exactly or with __gt, __gte, __lt, __lte."""
    return tuple(
        Query(f"{name}{op}", f"{label} {word}", {"type": "integer", "minimum": 0})
        for op, word in (
            ("", "equal to"),
            ("__gt", "greater than"),
            ("__gte", "at least"),
            ("__lt", "less than"),
            ("__lte", "at most"),
        )
    )


TIME_FILTERS = time_filters("created_time", "expiry_time")
SESSION_FILTERS = (
    Query("first_party", "Exact first party (any number format)."),
    Query("second_party", "Exact second party."),
    Query("virtual_number", "Exact virtual number."),
    Query("status", "active | in-progress | expired | all (default all)."),
    Query("subaccount", "Only this subaccount's sessions (SA…)."),
    *integer_filters("duration", "Duration in seconds"),
    *TIME_FILTERS,
    *PAGING,
)
NUMBER_FILTERS = (
    Query("subaccount", "Only this subaccount's pool (SA…)."),
    Query("country", "ISO country code of the number (US, GB, …)."),
    Query("alias", "Exact alias."),
    Query("state", "in_service | draining."),
    Query("in_service", "true: in service only; false: draining only."),
    Query("number_contains", "Digits the number contains."),
    Query("number_startswith", "The number's first digits, with the country code."),
    Query("type", "local | mobile | tollfree | national."),
    Query("services", "voice (every number) | sms | mms (none: voice only), comma-separated."),
    *PAGING,
)
NUMBER_RANGE = (
    Query("from_number", "A number or its first digits (any format)."),
    Query("to_number", "A number or its first digits (any format)."),
)
CALL_FILTERS = (
    Query("session_uuid", "Only this session's legs."),
    Query("subaccount", "Only this subaccount's sessions' legs (SA…)."),
    Query("call_direction", "inbound | outbound."),
    *NUMBER_RANGE,
    Query(
        "status",
        "A leg's call_status (ringing, in-progress, completed, busy, no-answer, canceled, "
        "failed); or live: the uuids of the legs still up ({api_id, calls}); or queued: none.",
    ),
    Query("parent_call_uuid", "The other legs of this first leg's call."),
    Query("hangup_cause_code", "The leg's hangup cause code.", {"type": "integer"}),
    *integer_filters("bill_duration", "Seconds talked"),
    *time_filters("initiation_time", "answer_time", "end_time"),
    *PAGING,
)

READ = (400, 401, 403, 429, 500)
ITEM = (400, 401, 403, 404, 429, 500)
WRITE = (400, 401, 403, 404, 409, 413, 415, 429, 500)

ACCOUNT = "/v1/Account/{auth_id}"
SESSION = ACCOUNT + "/Masking/Session"
NUMBER = ACCOUNT + "/Number"
SUB = ACCOUNT + "/Subaccount"

OPERATIONS: dict[tuple[str, str], Op] = {
    ("post", SESSION): Op(
        201,
        schemas.SessionCreated,
        "Lends a virtual number from the pool to the two parties (docs/reference.md#create).",
        body=schemas.SessionCreate,
        errors=WRITE,
    ),
    ("get", SESSION): Op(
        200, schemas.SessionList, "Newest first.", query=SESSION_FILTERS, errors=READ
    ),
    ("get", SESSION + "/{session_uuid}"): Op(200, schemas.SessionGot, errors=ITEM),
    ("post", SESSION + "/{session_uuid}"): Op(
        200,
        schemas.SessionUpdated,
        "Changes apply to calls that start after the update (docs/reference.md#update).",
        body=schemas.SessionUpdate,
        errors=WRITE,
    ),
    ("delete", SESSION + "/{session_uuid}"): Op(
        200, schemas.Message, "The session is kept, marked expired.", errors=WRITE
    ),
    ("get", SESSION + "/{session_uuid}/Event"): Op(
        200,
        schemas.SessionEvents,
        "Every event sent (or being sent) to the callback URL.",
        errors=ITEM,
    ),
    ("post", NUMBER): Op(201, schemas.NumbersAdded, body=schemas.NumbersAdd, errors=WRITE),
    ("get", NUMBER): Op(200, schemas.NumberList, query=NUMBER_FILTERS, errors=READ),
    ("get", NUMBER + "/{number}"): Op(200, schemas.NumberGot, errors=ITEM),
    ("post", NUMBER + "/{number}"): Op(
        200, schemas.NumberUpdated, body=schemas.NumberUpdate, errors=WRITE
    ),
    ("delete", NUMBER + "/{number}"): Op(
        200,
        schemas.NumberRemoved,
        "Refused (400) while the number has live sessions, unless drain=true or replace=true.",
        query=(
            Query("drain", "true: take no new sessions, remove after the last ends."),
            Query(
                "replace",
                "true: move live sessions to other numbers of their pool now "
                "(SessionVirtualNumberReplaced), then remove.",
            ),
        ),
        errors=WRITE,
    ),
    ("get", ACCOUNT): Op(200, schemas.AccountGot, errors=ITEM),
    ("post", ACCOUNT): Op(
        200,
        schemas.AccountUpdated,
        "Changes the account's name, city or address.",
        body=schemas.AccountUpdate,
        errors=WRITE,
    ),
    ("post", SUB): Op(
        201,
        schemas.SubaccountCreated,
        "The token is shown once.",
        body=schemas.SubaccountCreate,
        errors=WRITE,
    ),
    ("get", SUB): Op(200, schemas.SubaccountList, query=PAGING, errors=READ),
    ("get", SUB + "/{sub_auth_id}"): Op(200, schemas.SubaccountGot, errors=ITEM),
    ("post", SUB + "/{sub_auth_id}"): Op(
        200, schemas.SubaccountUpdated, body=schemas.SubaccountUpdate, errors=WRITE
    ),
    ("delete", SUB + "/{sub_auth_id}"): Op(
        200,
        schemas.Message,
        "Refused (400) while it has live sessions. Its numbers go back to the main "
        "account's pool, or with cascade=true leave the pool too.",
        query=(Query("cascade", "true: its numbers leave the pool with it."),),
        errors=WRITE,
    ),
    ("get", ACCOUNT + "/Call"): Op(
        200,
        schemas.CallList,
        "Call legs, newest first; with status=live (or queued) the uuids of the legs "
        "still up ({api_id, calls}).",
        query=CALL_FILTERS,
        errors=READ,
        also=(schemas.LiveCallIds,),
    ),
    ("get", ACCOUNT + "/Call/{call_uuid}"): Op(
        200,
        schemas.CallGot,
        "One leg's record; with status=live the leg while it is up (404 once ended).",
        query=(Query("status", "live: the leg while it is up; queued: never any."),),
        errors=ITEM,
        also=(schemas.LiveCall,),
    ),
    ("get", ACCOUNT + "/Recording"): Op(
        200,
        schemas.RecordingList,
        query=(
            Query("session_uuid", "Only this session's recordings."),
            Query("call_uuid", "Only this call's recordings."),
            Query("subaccount", "Only this subaccount's sessions' recordings (SA…)."),
            *NUMBER_RANGE,
            *time_filters("add_time"),
            Query(
                "recording_storage_duration",
                "Whole days kept (also __gt, __gte, __lt, __lte).",
                {"type": "integer"},
            ),
            *PAGING,
        ),
        errors=READ,
    ),
    ("get", ACCOUNT + "/Recording/{recording_id}"): Op(200, schemas.RecordingGot, errors=ITEM),
    ("get", ACCOUNT + "/Recording/{recording_id}/Media"): Op(
        200,
        schemas.Health,
        "The audio file (audio/mpeg or audio/wav).",
        errors=ITEM,
        media="audio/*",
    ),
    ("delete", ACCOUNT + "/Recording/{recording_id}"): Op(200, schemas.Message, errors=WRITE),
    ("get", "/health"): Op(200, schemas.Health, "Liveness; no authentication."),
    ("get", "/metrics"): Op(
        200, schemas.Health, "Prometheus text format; no authentication.", media="text/plain"
    ),
}

PATH_PARAMS = {
    "auth_id": "Your Auth ID: MA + 18 characters (main account) or SA + 18 (subaccount).",
    "session_uuid": "The session's UUID.",
    "number": "A virtual number, E.164 with or without +.",
    "sub_auth_id": "The subaccount's Auth ID (SA…).",
    "call_uuid": "A call leg's UUID.",
    "recording_id": "The recording's id (a UUID).",
}

IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat a write safely: the same key (≤ 255 characters) gets the first "
    "answer again instead of acting twice.",
    "schema": {"type": "string", "maxLength": 255},
}


def _models() -> list[type[BaseModel]]:
    names = (
        {op.model for op in OPERATIONS.values()}
        | {m for op in OPERATIONS.values() for m in op.also}
        | {op.body for op in OPERATIONS.values() if op.body is not None}
    )
    return [
        *sorted((m for m in names if m is not None), key=lambda m: m.__name__),
        schemas.ErrorBody,
    ]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def build(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with :data:`OPERATIONS` merged in (see the module docstring)."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=[
            {"name": "Masking sessions", "description": "docs/reference.md#masking-sessions"},
            {"name": "Numbers", "description": "the pool (docs/reference.md#numbers)"},
            {"name": "Accounts", "description": "the account and its subaccounts"},
            {"name": "Calls and recordings", "description": "docs/reference.md#calls"},
            {"name": "Operations", "description": "no authentication"},
        ],
    )
    components = doc.setdefault("components", {})
    found = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        found.pop(name, None)
    _, defs = models_json_schema([(m, "validation") for m in _models()], ref_template=REF)
    found.update(defs.get("$defs", {}))
    components["securitySchemes"] = {
        "basicAuth": {
            "type": "http",
            "scheme": "basic",
            "description": "User: your Auth ID; password: your Auth Token.",
        }
    }
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            op = OPERATIONS.get((method, path))
            if op is None:
                continue  # the test names any route left undescribed
            _describe(path, method, operation, op)
    return doc


def _describe(path: str, method: str, operation: dict[str, Any], op: Op) -> None:
    if op.description:
        operation["description"] = op.description
    params = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
    for p in params:
        p["description"] = PATH_PARAMS.get(p["name"], p.get("description", ""))
        p["schema"] = {"type": "string"}
    params += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": q.description,
            "schema": q.schema,
        }
        for q in op.query
    ]
    if method in ("post", "delete") and path.startswith("/v1/"):
        params.append(IDEMPOTENCY)
    if params:
        operation["parameters"] = params
    else:
        operation.pop("parameters", None)
    if op.body is not None:
        operation["requestBody"] = {
            "required": op.status == 201,
            "content": {
                "application/json": {"schema": _ref(op.body)},
                "application/x-www-form-urlencoded": {"schema": _ref(op.body)},
            },
        }
    if op.media == "application/json" and op.also:
        schema = {"anyOf": [_ref(m) for m in (op.model, *op.also)]}
        content = {"application/json": {"schema": schema}}
    elif op.media == "application/json":
        content = {"application/json": {"schema": _ref(op.model)}}
    else:
        content = {op.media: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): {"description": "Success.", "content": content}}
    for status in op.errors:
        response: dict[str, Any] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": _ref(schemas.ErrorBody)}},
        }
        if status in (409, 429):
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}
            }
        responses[str(status)] = response
    operation["responses"] = responses
    operation["security"] = [{"basicAuth": []}] if path.startswith("/v1/") else []


@functools.cache
def _offline_redoc(static: Path) -> str:
    """ReDoc's bundle without its one CDN address (read once: it is a megabyte)."""
    return (static / "redoc.standalone.js").read_text("utf-8").replace(REDOC_CDN_LOGO, EMPTY_SVG)


def install(app: FastAPI) -> None:
    """The contract at ``/openapi.json``; Swagger UI at ``/docs``, ReDoc at ``/redoc``."""
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    drop = {"/docs", "/docs/oauth2-redirect", "/redoc"}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") not in drop]

    # declared before the mount, which would otherwise serve the file as shipped
    @app.get(f"{STATIC_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(_offline_redoc(static), media_type="text/javascript")

    app.mount(STATIC_URL, StaticFiles(directory=static), name="docs-static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} — API",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
