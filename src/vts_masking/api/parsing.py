"""Tolerant request reading: JSON or form bodies, query strings (spec §1).

Returns a plain ``dict`` of raw values; the domain validates them. A malformed body is
a 400 with a precise message, never a 500.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from ..domain.errors import InvalidParameter

MAX_BODY = 64 * 1024


async def body_params(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidParameter("Request body too large.", status=413)
    if not raw.strip():
        return dict(request.query_params)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameter("Invalid form body: not UTF-8.") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    if ctype and ctype not in ("application/json", "text/plain") and not ctype.endswith("+json"):
        raise InvalidParameter(
            "Unsupported content type. Send application/json or application/x-www-form-urlencoded.",
            status=415,
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter("Invalid JSON body.") from None
    if not isinstance(data, dict):
        raise InvalidParameter("Invalid JSON body: expected an object.")
    return data


def query_params(request: Request) -> dict[str, Any]:
    return dict(request.query_params)


def request_hash(method: str, path: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([method, path.rstrip("/"), params], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
