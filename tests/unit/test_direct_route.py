"""api/routing.py: DirectRoute calls simple endpoints without dependency solving, and
leaves every other endpoint to FastAPI's own handler."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from vts_masking.api.routers import accounts, calls, numbers, sessions, trunks
from vts_masking.api.routing import DirectRoute, _plan

router = APIRouter(route_class=DirectRoute)
seen: list[str] = []


async def who(request: Request, auth_id: str) -> str:
    seen.append(f"who {auth_id}")
    return f"{request.method}:{auth_id}"


async def held() -> AsyncIterator[str]:
    yield "held"


@router.post("/v1/Account/{auth_id}/Thing/{thing}", status_code=201)
async def direct(thing: str, request: Request, caller: str = Depends(who)) -> JSONResponse:
    return JSONResponse({"thing": thing, "caller": caller, "path": request.url.path}, 201)


@router.get("/v1/Account/{auth_id}/Query")
async def with_query(limit: int, caller: str = Depends(who)) -> JSONResponse:
    return JSONResponse({"limit": limit, "caller": caller})


@router.get("/v1/Account/{auth_id}/Held")
async def with_yield(auth_id: str, value: str = Depends(held)) -> JSONResponse:
    return JSONResponse({"value": value})


@router.get("/v1/Account/{auth_id}/Count/{n}")
async def typed_path(n: int, caller: str = Depends(who)) -> JSONResponse:
    return JSONResponse({"n": n})


def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def route(path: str) -> DirectRoute:
    return next(r for r in router.routes if getattr(r, "path", None) == path)  # type: ignore[return-value]


def test_an_endpoint_of_request_path_values_and_dependencies_is_called_directly() -> None:
    r = route("/v1/Account/{auth_id}/Thing/{thing}")
    assert _plan(r.endpoint, set(r.param_convertors)) is not None
    seen.clear()
    answer = client().post("/v1/Account/MA1/Thing/t%20x")
    assert answer.status_code == 201
    assert answer.json() == {"thing": "t x", "caller": "POST:MA1", "path": "/v1/Account/MA1/Thing/t x"}
    assert seen == ["who MA1"]  # the dependency ran once


def test_an_endpoint_with_a_query_parameter_keeps_fastapis_handler_and_its_validation() -> None:
    r = route("/v1/Account/{auth_id}/Query")
    assert _plan(r.endpoint, set(r.param_convertors)) is None
    c = client()
    assert c.get("/v1/Account/MA1/Query?limit=3").json() == {"limit": 3, "caller": "GET:MA1"}
    assert c.get("/v1/Account/MA1/Query?limit=x").status_code == 422  # FastAPI validated it


def test_a_dependency_with_yield_keeps_fastapis_handler() -> None:
    r = route("/v1/Account/{auth_id}/Held")
    assert _plan(r.endpoint, set(r.param_convertors)) is None
    assert client().get("/v1/Account/MA1/Held").json() == {"value": "held"}


def test_every_api_route_takes_the_direct_path() -> None:
    # a route that silently fell back would lose the saving without any test noticing
    slow = [
        f"{sorted(r.methods)} {r.path}"
        for m in (accounts, calls, numbers, sessions, trunks)
        for r in m.router.routes
        if _plan(r.endpoint, set(r.param_convertors)) is None
    ]
    assert slow == []


def test_a_path_value_of_another_type_than_str_keeps_fastapis_conversion() -> None:
    r = route("/v1/Account/{auth_id}/Count/{n}")
    assert _plan(r.endpoint, set(r.param_convertors)) is None
    assert client().get("/v1/Account/MA1/Count/7").json() == {"n": 7}
