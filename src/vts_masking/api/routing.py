"""``DirectRoute``: API routes whose endpoints are called without FastAPI's per-request
dependency solving.

Every API endpoint takes the same few things: the ``Request``, its path parameters
(plain strings) and the authenticated principal (``Depends(principal)``, itself made of
the request and the path's ``{auth_id}``); each reads and validates its own body
(``api/parsing.py``, the domain's rules) and returns a finished ``Response``. For such an
endpoint FastAPI's request handler still does, per request, what only pays for richer
signatures: telemetry set-up, solving the dependency tree with pydantic validation of
each parameter, the endpoint's error context, response-model handling. Profiled under a
session get load that was about a tenth of the process's CPU (issue 15,
docs/benchmarks.md).

A ``DirectRoute`` is declared exactly like an ``APIRoute`` — the OpenAPI document, the
path parameters, tags and summaries come from the same signature — but when its endpoint
and its dependencies take only those things, the handler it gives FastAPI calls them
directly, with what the signature names, once per request. An endpoint that asks for
anything else (a query model, a body model, a dependency with ``yield``) gets FastAPI's
own handler: the fast path is an exact subset, never an approximation. Two things
FastAPI would add and these routes do not need are left out: ``app.dependency_overrides``
(the service sets none; a test that wants another principal signs in as one) and
background tasks (no endpoint takes ``BackgroundTasks``, which would send it to FastAPI's
handler anyway).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.params import Depends
from fastapi.routing import APIRoute

Handler = Callable[[Request], Awaitable[Response]]
# How one argument is made from a request: by the path's value, the request itself, or a
# dependency (resolved, recursively, from the same things).
Maker = Callable[[Request], Awaitable[Any]]


class DirectRoute(APIRoute):
    """An ``APIRoute`` whose simple endpoints skip dependency solving (module docstring)."""

    def get_route_handler(self) -> Handler:
        plan = _plan(self.endpoint, set(self.param_convertors))
        if plan is None:
            return super().get_route_handler()
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            kwargs = {name: await make(request) for name, make in plan}
            response = await endpoint(**kwargs)
            # A returned Response goes out as it is, as FastAPI sends it (the route's
            # status_code only documents it); every API endpoint returns one.
            if not isinstance(response, Response):
                raise TypeError(f"{endpoint.__qualname__} must return a Response")
            return response

        return handler


def _plan(fn: Callable[..., Any], path_names: set[str]) -> list[tuple[str, Maker]] | None:
    """Per parameter of ``fn``, how to make its argument; ``None`` when one is of a kind
    only FastAPI's handler can make."""
    if not inspect.iscoroutinefunction(fn):
        return None
    plan: list[tuple[str, Maker]] = []
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            return None
        default = param.default
        if isinstance(default, Depends):
            if default.dependency is None:
                return None
            sub = _plan(default.dependency, path_names)
            if sub is None:
                return None
            plan.append((name, _dependency(default.dependency, sub)))
        elif name == "request" or param.annotation in (Request, "Request"):
            plan.append((name, _the_request))
        elif (
            name in path_names
            and default is inspect.Parameter.empty
            and param.annotation in (str, "str")  # FastAPI would convert any other type
        ):
            plan.append((name, _path_value(name)))
        else:
            return None
    return plan


async def _the_request(request: Request) -> Request:
    return request


def _path_value(name: str) -> Maker:
    async def make(request: Request) -> Any:
        return request.path_params[name]

    return make


def _dependency(dependency: Callable[..., Any], plan: list[tuple[str, Maker]]) -> Maker:
    # a generator dependency (``yield``) is not a coroutine function: _plan refused it
    async def make(request: Request) -> Any:
        return await dependency(**{name: await sub(request) for name, sub in plan})

    return make
