"""Tolerant request reading: JSON or form bodies, query strings (docs/reference.md#request-bodies).

Returns a plain ``dict`` of raw values; the domain validates them. A malformed body is
a 400 with a precise message, never a 500. The limits every request meets here, before
any reader sees a value (issue 11; docs/api.md "Limits"):

* **size while it streams in**: a declared ``Content-Length`` over :data:`MAX_BODY` is
  refused before a byte of the body is read, and a body without one (chunked) is
  refused as soon as what arrived passes the limit — never read whole first; and the
  whole body must arrive within ``http_body_timeout`` seconds (408 otherwise);
* **JSON depth**: nesting deeper than :data:`MAX_DEPTH` is refused before the parser
  (which recurses once per level) sees it; integers longer than ``int()`` accepts are
  handed on as digit strings, so the integer rule (:func:`coerce.integer`) names the
  parameter instead of the parser failing;
* **a trailing comma** before ``}`` or ``]`` is tolerated (documentation examples and
  hand-written cURL bodies have one);
* **text**: every string, keys included, is Unicode scalar values without NUL
  (:mod:`vts_masking.domain.text`), in JSON, form bodies and query strings alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from ..domain import text
from ..domain.coerce import is_number
from ..domain.errors import InvalidParameter

MAX_BODY = 64 * 1024
MAX_DEPTH = 16
MAX_FIELDS = 1000  # form fields or query parameters in one request
# Beyond this many digits ``int()`` refuses (and is slow well before); longer JSON
# integers stay digit strings for the integer rule to refuse by name.
_MAX_INT_TEXT = 4000

# One JSON token pass: a string (kept as is), a bracket (depth), or a comma before a
# closing bracket (dropped). Strings go first, so brackets and commas inside them are
# never touched.
# An unterminated string runs to the end (the closing quote is optional), so no input
# makes the scan go back over what it read: it stays linear in the body's length.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]|,(?=\s*[\]}])', re.DOTALL)


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass :data:`MAX_BODY`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not is_number(declared) or len(declared) > 18:
            raise InvalidParameter("Invalid Content-Length header.")
        if int(declared) > MAX_BODY:
            raise InvalidParameter("Request body too large.", status=413)
    cached = getattr(request, "_body", None)
    if cached is not None:
        return cached
    settings = getattr(request.app.state, "settings", None)
    deadline = getattr(settings, "http_body_timeout", 30.0)
    chunks = bytearray()
    try:
        async with asyncio.timeout(deadline):  # a body trickled in holds a task: bounded
            async for chunk in request.stream():
                chunks += chunk
                if len(chunks) > MAX_BODY:
                    raise InvalidParameter("Request body too large.", status=413)
    except TimeoutError:
        raise InvalidParameter("Request body not received in time.", status=408) from None
    body = bytes(chunks)
    request._body = body  # later readers (request.body()) get the same bytes
    return body


def _prepare_json(raw: bytes) -> bytes:
    """Check nesting depth and drop trailing commas, in one pass over the tokens."""
    depth = 0
    cut: list[int] = []
    for match in _TOKENS.finditer(raw):
        token = match.group()
        first = token[:1]
        if first in (b"{", b"["):
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidParameter(f"Invalid JSON body: nested deeper than {MAX_DEPTH} levels.")
        elif first in (b"}", b"]"):
            depth -= 1
        elif first == b",":
            cut.append(match.start())
    if not cut:
        return raw
    out = bytearray()
    start = 0
    for at in cut:
        out += raw[start:at]
        start = at + 1
    out += raw[start:]
    return bytes(out)


def _int_or_digits(digits: str) -> int | str:
    return int(digits) if len(digits) <= _MAX_INT_TEXT else digits


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def parse_json(raw: bytes) -> Any:
    """A JSON document with this module's depth, comma and integer rules."""
    try:
        return json.loads(_prepare_json(raw), parse_int=_int_or_digits, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidParameter("Invalid JSON body.") from None


def check_text(params: dict[str, Any]) -> dict[str, Any]:
    """Refuse a request holding a string that is not acceptable text (any depth)."""
    for key, value in params.items():
        if text.problem(key) is not None:
            raise InvalidParameter("Invalid parameter name: not valid Unicode text.")
        why = _first_problem(value)
        if why is not None:
            raise InvalidParameter(f"Invalid parameter. {key} {why}.")
    return params


def _first_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return text.problem(value)
    if isinstance(value, list):
        for item in value:
            why = _first_problem(item)
            if why is not None:
                return why
    elif isinstance(value, dict):
        for key, item in value.items():
            why = text.problem(key) or _first_problem(item)
            if why is not None:
                return why
    return None


def _form(data: bytes, what: str) -> dict[str, Any]:
    """``a=1&b=2`` (percent-encoded UTF-8, or raw UTF-8 as some clients send) strictly."""
    try:
        pairs = parse_qsl(
            data.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise InvalidParameter(f"Invalid {what}: not UTF-8.") from None
    except ValueError:
        raise InvalidParameter(f"Invalid {what}: more than {MAX_FIELDS} fields.") from None
    return check_text(dict(pairs))  # the last value wins for a repeated key


async def body_params(request: Request) -> dict[str, Any]:
    raw = await read_body(request)
    if not raw.strip():
        return query_params(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        return _form(raw, "form body")
    if ctype and ctype not in ("application/json", "text/plain") and not ctype.endswith("+json"):
        raise InvalidParameter(
            "Unsupported content type. Send application/json or application/x-www-form-urlencoded.",
            status=415,
        )
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidParameter("Invalid JSON body: expected an object.")
    return check_text(data)


def query_params(request: Request) -> dict[str, Any]:
    """The query string, decoded strictly (Starlette's own reading replaces bad UTF-8)."""
    raw: bytes = request.scope.get("query_string", b"")
    if not raw:
        return {}
    return _form(raw, "query string")


def request_hash(method: str, path: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([method, path.rstrip("/"), params], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
