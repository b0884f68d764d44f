"""Signing and verifying the V3 signature of the callbacks the service sends.

The service signs every session and recording event it delivers
(docs/calls.md#delivery-and-signatures):

* ``X-VTS-Signature-V3-Nonce``: a fresh random nonce, at least 16 URL-safe characters;
* ``X-VTS-Signature-V3``: ``base64(HMAC-SHA256(key=auth_token, msg))`` where ``msg`` is the
  UTF-8 string ``URL + "." + nonce + "." + params``.

``URL`` is the exact URL requested, query string included, so a GET's parameters are
covered by it and its ``params`` part is empty. For POST, ``params`` is the form parameters
sorted by name and written ``name=value`` joined by ``&`` without percent-encoding.

This module is shared by both ends: the service signs with :func:`compute_v3_signature`
and :func:`generate_nonce`; customers verify with :func:`validate_v3_signature` or, straight
from a web framework's request object, :func:`validate_request_signature` (Flask/Werkzeug,
duck-typed) and :func:`validate_starlette_request` (Starlette/FastAPI, async).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote

__all__ = [
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "compute_v3_signature",
    "generate_nonce",
    "signature_base_params",
    "validate_request_signature",
    "validate_starlette_request",
    "validate_v3_signature",
]

SIGNATURE_HEADER = "X-VTS-Signature-V3"
# Characters a WSGI server's decoded PATH_INFO may hold that need no escaping back.
_SAFE = "/:@!$&'()*+,;=-._~"
NONCE_HEADER = "X-VTS-Signature-V3-Nonce"

#: What callers may pass as ``params``: a mapping (values may be lists for repeated
#: fields), a Werkzeug-style MultiDict, or an iterable of ``(name, value)`` pairs.
Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


def generate_nonce(nbytes: int = 16) -> str:
    """Return a fresh URL-safe random nonce (22 characters for the default 16 bytes)."""
    if nbytes < 12:
        # 12 bytes is 16 base64 characters: the shortest nonce a callback may carry.
        raise ValueError("a nonce needs at least 12 random bytes (16 characters)")
    return secrets.token_urlsafe(nbytes)


def _pairs(params: Params) -> list[tuple[str, str]]:
    """Flatten ``params`` into ``(name, value)`` string pairs, keeping repeated fields."""
    if params is None:
        return []
    pairs: list[tuple[str, str]] = []
    if isinstance(params, Mapping):
        raw_items: Iterable[tuple[Any, Any]]
        multi_items = getattr(params, "multi_items", None)  # Starlette's FormData
        if callable(multi_items):
            raw_items = multi_items()
        else:
            try:
                # Werkzeug's MultiDict yields every value of a repeated field this way.
                raw_items = params.items(multi=True)  # type: ignore[call-arg]
            except TypeError:
                raw_items = params.items()
        for name, value in raw_items:
            if isinstance(value, list | tuple):
                pairs.extend((str(name), _text(v)) for v in value)
            else:
                pairs.append((str(name), _text(value)))
    else:
        pairs = [(str(name), _text(value)) for name, value in params]
    return pairs


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        # The service sends booleans as form fields "true"/"false", like the JSON API.
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def signature_base_params(method: str, params: Params) -> str:
    """The ``params`` part of the signed string: empty for GET, sorted pairs otherwise."""
    if method.upper() == "GET":
        return ""
    # A stable sort by name only: repeated fields keep the order they were sent in.
    pairs = sorted(_pairs(params), key=lambda pair: pair[0])
    return "&".join(f"{name}={value}" for name, value in pairs)


def compute_v3_signature(method: str, url: str, params: Params, nonce: str, auth_token: str) -> str:
    """Return the ``X-VTS-Signature-V3`` value for a request (base64 text)."""
    message = f"{url}.{nonce}.{signature_base_params(method, params)}"
    digest = hmac.new(auth_token.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def validate_v3_signature(
    method: str,
    url: str,
    params: Params,
    nonce: str,
    signature: str,
    auth_token: str,
) -> bool:
    """True when ``signature`` is the V3 signature of this request under ``auth_token``.

    The comparison runs in constant time. A missing nonce or signature is never valid.
    """
    if not nonce or not signature or not auth_token:
        return False
    expected = compute_v3_signature(method, url, params, nonce, auth_token)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8"))


class _Headers(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def _header(headers: _Headers, name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return "" if value is None else str(value)


def _wsgi_url(request: Any) -> str:
    """The URL as requested, escapes intact.

    Werkzeug's ``request.url`` decodes escapes it deems safe (``%3A`` becomes ``:``), which
    would break every GET callback whose query carries a timestamp; the raw request target
    in the WSGI environ is what the service signed.
    """
    environ = getattr(request, "environ", None)
    if not isinstance(environ, Mapping):
        return str(request.url)
    # The raw path from the server's request line when it gives one (the dev server's
    # REQUEST_URI, gunicorn's RAW_URI), else PATH_INFO escaped back; the query string is
    # QUERY_STRING, which WSGI passes undecoded.
    raw_target = str(environ.get("REQUEST_URI") or environ.get("RAW_URI") or "")
    path = raw_target.split("?", 1)[0]
    if not path:
        path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe=_SAFE)
    query = str(environ.get("QUERY_STRING", ""))
    target = f"{path}?{query}" if query else path
    if "://" in path:
        return target  # absolute-form request target
    return str(request.host_url).rstrip("/") + target


def _asgi_url(request: Any) -> str:
    """The URL as requested: the raw path and query string of the ASGI scope when present
    (Starlette's ``request.url`` rebuilds the path from its decoded form)."""
    scope = getattr(request, "scope", None)
    if not isinstance(scope, Mapping) or scope.get("raw_path") is None:
        return str(request.url)
    origin = f"{request.url.scheme}://{request.url.netloc}"
    path = bytes(scope["raw_path"]).decode("latin-1")
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    return f"{origin}{path}?{query}" if query else f"{origin}{path}"


def validate_request_signature(request: Any, auth_token: str, *, url: str | None = None) -> bool:
    """Verify a Flask/Werkzeug-like request (duck-typed: ``method``, ``url``, ``headers``,
    ``form``).

    Pass ``url`` when the application sits behind a proxy that rewrites the scheme or host:
    the signature covers the URL the service requested, which is what you configured as the
    callback URL (plus the query string for GET).
    """
    method = str(request.method)
    params = None if method.upper() == "GET" else getattr(request, "form", None)
    return validate_v3_signature(
        method,
        url if url is not None else _wsgi_url(request),
        params,
        _header(request.headers, NONCE_HEADER),
        _header(request.headers, SIGNATURE_HEADER),
        auth_token,
    )


async def validate_starlette_request(
    request: Any, auth_token: str, *, url: str | None = None
) -> bool:
    """Verify a Starlette/FastAPI request (reads the form body for POST; ``url`` as above)."""
    method = str(request.method)
    params: Params = None
    if method.upper() != "GET":
        content_type = _header(request.headers, "content-type").split(";")[0].strip().lower()
        if content_type in ("", "application/x-www-form-urlencoded"):
            # The service posts urlencoded forms; parsing them here spares customers the
            # python-multipart package Starlette's request.form() would need.
            body = (await request.body()).decode("utf-8")
            params = parse_qsl(body, keep_blank_values=True)
        else:
            params = await request.form()
    return validate_v3_signature(
        method,
        url if url is not None else _asgi_url(request),
        params,
        _header(request.headers, NONCE_HEADER),
        _header(request.headers, SIGNATURE_HEADER),
        auth_token,
    )
