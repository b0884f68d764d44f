"""A request's parameters under the API's own names, for every router.

``parsing`` reads the raw body or query string; this renames what the official SDKs
really send to the API's names (``domain.param_names``) in one place, so no router can
read a parameter the Node SDK sent as ``sub_account`` and miss it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import Request

from ..domain import errors
from ..domain.param_names import canonical
from .parsing import body_params, query_params


async def body(request: Request) -> dict[str, Any]:
    """A POST's parameters (JSON or form body; the query string when it has none)."""
    return canonical(await body_params(request))


def query(request: Request) -> dict[str, Any]:
    """A GET's parameters."""
    return canonical(query_params(request))


async def delete_params(request: Request) -> dict[str, Any]:
    """A DELETE's parameters: the query string, and a body when it holds any (SDKs send
    a JSON body with DELETE; it is optional and may be anything, so an unreadable one is
    no error)."""
    raw = query_params(request)
    with contextlib.suppress(errors.ApiError):
        raw.update(await body_params(request))
    return canonical(raw)
