"""What the sync and async clients share: configuration, request shaping, the retry policy
and the mapping of answers to results or exceptions. No I/O happens here.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import httpx

from . import __version__
from .exceptions import (
    AuthenticationError,
    RateLimitError,
    VTSRestException,
    exception_class_for,
)

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
AUTH_ID_PATTERN = re.compile(r"^(MA|SA)[A-Z0-9]{18}$")
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter, bounded by ``max_retries``.

    The n-th retry (n = 1, 2, ...) waits a random time between half and all of
    ``min(backoff_max, backoff_factor * 2 ** (n - 1))`` seconds, unless the server said
    ``Retry-After``: then exactly that, or no retry at all when it asks for more than
    ``max_retry_after`` seconds (the caller gets the error at once instead of a hang).
    """

    max_retries: int = 2
    backoff_factor: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, retry_number: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_factor * 2 ** (retry_number - 1))
        return self.rng.uniform(ceiling / 2, ceiling)

    def delay(self, retry_number: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry ``retry_number``, or ``None``: do not retry."""
        if retry_number > self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.backoff(retry_number)


@dataclass(frozen=True)
class Config:
    auth_id: str
    auth_token: str
    base_url: str
    timeout: float | httpx.Timeout
    retry: RetryPolicy

    @property
    def account_url(self) -> str:
        return f"{self.base_url}/v1/Account/{self.auth_id}/"


def resolve_config(
    auth_id: str | None,
    auth_token: str | None,
    base_url: str | None,
    timeout: float | httpx.Timeout,
    retry: RetryPolicy,
) -> Config:
    """Apply the environment fallbacks and refuse unusable credentials before any I/O."""
    auth_id = auth_id if auth_id is not None else os.environ.get("VTS_AUTH_ID")
    auth_token = auth_token if auth_token is not None else os.environ.get("VTS_AUTH_TOKEN")
    if not auth_id or not auth_token:
        raise AuthenticationError(
            "No credentials: pass auth_id and auth_token to the client or set "
            "VTS_AUTH_ID and VTS_AUTH_TOKEN."
        )
    auth_id = auth_id.strip()
    if not AUTH_ID_PATTERN.match(auth_id):
        raise AuthenticationError(
            f"Invalid auth_id {auth_id!r}: expected MA or SA followed by 18 upper-case "
            "letters or digits."
        )
    url = (base_url or os.environ.get("VTS_API_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
    return Config(auth_id, auth_token.strip(), url, timeout, retry)


def client_kwargs(
    timeout: float | httpx.Timeout,
    proxies: str | Mapping[str, str] | None,
    transport: Callable[..., Any],
) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client``/``AsyncClient`` (timeout and proxies).

    ``proxies`` is one proxy URL for everything, or a mapping of URL patterns to proxy URLs
    (``{"https://": "http://proxy:3128"}``), the shape older httpx versions took.
    ``transport`` is ``httpx.HTTPTransport`` or ``httpx.AsyncHTTPTransport``.
    """
    kwargs: dict[str, Any] = {"timeout": timeout}
    if isinstance(proxies, str):
        kwargs["proxy"] = proxies
    elif proxies:
        kwargs["mounts"] = {pattern: transport(proxy=proxy) for pattern, proxy in proxies.items()}
    return kwargs


def user_agent() -> str:
    return f"vts-python/{__version__} httpx/{httpx.__version__}"


def segment(value: str, name: str) -> str:
    """One path segment, percent-encoded; an empty identifier is a caller's mistake."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return quote(value.strip(), safe="")


def format_time(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return value


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


def collect(arguments: Mapping[str, Any], *exclude: str) -> dict[str, Any]:
    """The keyword arguments a caller actually gave (``None`` means "not given")."""
    return {
        name: value
        for name, value in arguments.items()
        if value is not None and name != "self" and name not in exclude
    }


@dataclass
class Call:
    """One API call, ready to send (and to send again when retried)."""

    method: str
    url: str
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    retryable: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def build_call(
    config: Config,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
) -> Call:
    """Shape a call.

    Every call may be retried. A POST or DELETE carries an ``Idempotency-Key`` (one per
    call, reused by every retry): the service answers a retry with the first attempt's
    answer instead of acting twice (a second session, or "Session already expired." for
    a DELETE whose first answer was lost).
    """
    method = method.upper()
    headers: dict[str, str] = {}
    if method != "GET":
        headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
    return Call(
        method=method,
        url=config.account_url + path,
        params={k: _query_value(v) for k, v in params.items() if v is not None} if params else None,
        json={k: _json_value(v) for k, v in body.items() if v is not None}
        if body is not None
        else None,
        retryable=True,
        headers=headers,
    )


def request_kwargs(config: Config, call: Call) -> dict[str, Any]:
    headers = {"User-Agent": user_agent(), "Accept": "application/json", **call.headers}
    kwargs: dict[str, Any] = {
        "headers": headers,
        "auth": httpx.BasicAuth(config.auth_id, config.auth_token),
    }
    if call.params:
        kwargs["params"] = call.params
    if call.json is not None:
        kwargs["json"] = call.json
    return kwargs


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay(
    policy: RetryPolicy,
    call: Call,
    retry_number: int,
    response: httpx.Response | None,
    *,
    sent: bool = True,
) -> float | None:
    """Seconds to wait before retry number ``retry_number`` of ``call``, or ``None`` when it
    must not be retried. ``response`` is ``None`` after a transport error; ``sent=False``
    says the request never left (the connection could not be made), which makes even a
    non-idempotent call safe to try again."""
    if response is None:
        return policy.delay(retry_number, None) if call.retryable or not sent else None
    status = response.status_code
    # A 429 refuses the request without acting on it, so any call may be sent again; a
    # 409 with Retry-After says a twin of this call (same Idempotency-Key) still runs:
    # asked again after it, the service gives its answer.
    in_progress = status == 409 and "Retry-After" in response.headers
    if status != 429 and not in_progress and not (call.retryable and status in RETRYABLE_STATUSES):
        return None
    return policy.delay(retry_number, parse_retry_after(response.headers.get("Retry-After")))


#: Transport failures worth another attempt. Anything else (an unsupported URL scheme, a
#: malformed request) fails the same way every time.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)
#: Failures that prove nothing reached the server.
NOTHING_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout)


def decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text


def error_for(response: httpx.Response) -> VTSRestException:
    """The exception for an error answer, carrying status, ``error`` and ``api_id``."""
    body = decode(response)
    error: str | None = None
    api_id: str | None = None
    if isinstance(body, dict):
        raw_error = body.get("error")
        if raw_error is None and "detail" in body:
            raw_error = body["detail"]
        error = raw_error if isinstance(raw_error, str) or raw_error is None else str(raw_error)
        api_id = body.get("api_id") if isinstance(body.get("api_id"), str) else None
    elif isinstance(body, str) and body.strip():
        error = body.strip()[:500]
    status = response.status_code
    cls = exception_class_for(status)
    message = f"HTTP {status}: {error or response.reason_phrase}"
    if api_id:
        message += f" (api_id {api_id})"
    kwargs: dict[str, Any] = {"status": status, "error": error, "api_id": api_id, "body": body}
    if cls is RateLimitError:
        return RateLimitError(
            message, retry_after=parse_retry_after(response.headers.get("Retry-After")), **kwargs
        )
    return cls(message, **kwargs)


def result(response: httpx.Response, parse: Callable[[dict[str, Any]], T]) -> T:
    """Turn an answer into the call's result, or raise its exception."""
    if response.status_code >= 400:
        raise error_for(response)
    body = decode(response)
    if not isinstance(body, dict):
        raise VTSRestException(
            f"HTTP {response.status_code}: the server did not answer a JSON object",
            status=response.status_code,
            body=body,
        )
    return parse(body)


def resolve_url(config: Config, url: str) -> str:
    """An absolute URL for a link the server sent (``meta.next``, ``recording_url``)."""
    return urljoin(config.base_url + "/", url)


def same_origin(config: Config, url: str) -> bool:
    """Credentials only ever go to the configured service, never to another host."""
    a, b = urlsplit(config.base_url), urlsplit(url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)
