"""``vts.RestClient`` and ``vts.AsyncRestClient``: credentials, HTTP, retries, results.

Both clients have the same surface (``client.masking_sessions``, ``client.numbers``,
``client.subaccounts``, ``client.calls``, ``client.recordings``, ``client.account``); the
async one's methods are awaited. See ``docs/sdk.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import IO, Any, TypeVar

import httpx

from . import _async_resources as aio
from . import _resources as sync
from ._base import (
    NOTHING_SENT_ERRORS,
    RETRYABLE_ERRORS,
    Call,
    RetryPolicy,
    build_call,
    client_kwargs,
    error_for,
    request_kwargs,
    resolve_config,
    resolve_url,
    result,
    retry_delay,
    same_origin,
)
from .exceptions import VTSConnectionError, VTSRestException
from .models import ListPage, MaskingSessionList, Recording, RecordingResponse

__all__ = ["AsyncRestClient", "RestClient"]

T = TypeVar("T")
logger = logging.getLogger("vts")

_CHUNK = 64 * 1024


def _transport_failure(call: Call, exc: Exception) -> VTSConnectionError:
    return VTSConnectionError(f"{call.method} {call.url} failed: {type(exc).__name__}: {exc}")


def _next_offset(page: ListPage | MaskingSessionList, offset: int) -> int | None:
    objects = page.objects
    if not objects or page.meta.get("next") is None:
        return None
    return offset + len(objects)


class _Destination:
    """Where a download goes: a path (written to ``<path>.part``, renamed when complete) or
    a binary file object (rewound on a retry when it can be)."""

    def __init__(self, destination: str | os.PathLike[str] | IO[bytes]) -> None:
        self.path: str | None = None
        self.file: IO[bytes] | None = None
        self.start = 0
        if isinstance(destination, str | os.PathLike):
            self.path = os.fspath(destination)
        else:
            self.file = destination
            self.start = destination.tell() if destination.seekable() else -1

    def open(self) -> IO[bytes]:
        if self.path is not None:
            return open(self.path + ".part", "wb")
        assert self.file is not None
        return self.file

    def rewind(self, handle: IO[bytes], written: int) -> bool:
        """Prepare a retry; False when bytes already went somewhere that cannot rewind."""
        if self.path is not None:
            handle.seek(0)
            handle.truncate()
            return True
        if written == 0:
            return True
        if self.start < 0:
            return False
        handle.seek(self.start)
        handle.truncate()
        return True

    def finish(self, handle: IO[bytes]) -> None:
        if self.path is not None:
            handle.close()
            os.replace(self.path + ".part", self.path)

    def abort(self, handle: IO[bytes]) -> None:
        if self.path is not None:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path + ".part")


class _ClientBase:
    def __init__(
        self,
        auth_id: str | None,
        auth_token: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        backoff_factor: float,
        backoff_max: float,
        max_retry_after: float,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self._config = resolve_config(
            auth_id,
            auth_token,
            base_url,
            timeout,
            RetryPolicy(
                max_retries=max_retries,
                backoff_factor=backoff_factor,
                backoff_max=backoff_max,
                max_retry_after=max_retry_after,
            ),
        )

    @property
    def auth_id(self) -> str:
        return self._config.auth_id

    @property
    def base_url(self) -> str:
        return self._config.base_url

    def __repr__(self) -> str:
        # Never the token.
        return f"{type(self).__name__}(auth_id={self.auth_id!r}, base_url={self.base_url!r})"


class RestClient(_ClientBase):
    """The synchronous client.

    >>> client = vts.RestClient(auth_id="MA...", auth_token="...")
    >>> client.masking_sessions.update_masking_session(
    ...     session_uuid="...", call_time_limit=3600, record=True)

    Credentials fall back to ``VTS_AUTH_ID``/``VTS_AUTH_TOKEN`` and the URL to
    ``VTS_API_URL`` (default ``http://127.0.0.1:8080``). Every call (POSTs and DELETEs
    carry an ``Idempotency-Key`` the service replays) is retried up to ``max_retries`` times on
    connection errors, 429 and 5xx, with exponential back-off and jitter, honouring
    ``Retry-After``. ``proxies`` is a proxy URL or a mapping of URL patterns to proxy URLs.
    ``http_client`` lets you bring your own ``httpx.Client`` (you then close it).
    """

    def __init__(
        self,
        auth_id: str | None = None,
        auth_token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 5.0,
        max_retries: int = 2,
        proxies: str | Mapping[str, str] | None = None,
        backoff_factor: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            auth_id,
            auth_token,
            base_url,
            timeout,
            max_retries,
            backoff_factor,
            backoff_max,
            max_retry_after,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            **client_kwargs(timeout, proxies, httpx.HTTPTransport)
        )
        self._sleep: Callable[[float], None] = time.sleep
        self.masking_sessions = sync.MaskingSessions(self)
        self.numbers = sync.Numbers(self)
        self.subaccounts = sync.Subaccounts(self)
        self.calls = sync.Calls(self)
        self.recordings = sync.Recordings(self)
        self.account = sync.Accounts(self)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        parse: Callable[[dict[str, Any]], T],
    ) -> T:
        call = build_call(
            self._config,
            method,
            path,
            params=params,
            body=body,
        )
        return result(self._send(call), parse)

    def _send(self, call: Call) -> httpx.Response:
        retry_number = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.url, **request_kwargs(self._config, call)
                )
            except RETRYABLE_ERRORS as exc:
                retry_number += 1
                sent = not isinstance(exc, NOTHING_SENT_ERRORS)
                delay = retry_delay(self._config.retry, call, retry_number, None, sent=sent)
                if delay is None:
                    raise _transport_failure(call, exc) from exc
                logger.info("retrying %s %s in %.2fs after %r", call.method, call.url, delay, exc)
                self._sleep(delay)
                continue
            except httpx.HTTPError as exc:
                raise _transport_failure(call, exc) from exc
            if response.status_code >= 400:
                retry_number += 1
                delay = retry_delay(self._config.retry, call, retry_number, response)
                if delay is not None:
                    logger.info(
                        "retrying %s %s in %.2fs after HTTP %s",
                        call.method,
                        call.url,
                        delay,
                        response.status_code,
                    )
                    self._sleep(delay)
                    continue
            return response

    def _paginate(
        self, path: str, params: Mapping[str, Any], parse: Callable[[dict[str, Any]], Any]
    ) -> Iterator[Any]:
        params = dict(params)
        offset: int | None = int(params.pop("offset", 0) or 0)
        while offset is not None:
            page = self._request("GET", path, params={**params, "offset": offset}, parse=parse)
            yield from page.objects
            offset = _next_offset(page, offset)

    def _download(self, path: str, destination: str | os.PathLike[str] | IO[bytes]) -> Recording:
        recording = self._request("GET", path, parse=RecordingResponse)
        call = _media_call(self, recording)
        target = _Destination(destination)
        handle = target.open()
        retry_number = 0
        try:
            while True:
                written = 0
                try:
                    with self._http.stream(
                        "GET", call.url, **_media_kwargs(self, call)
                    ) as response:
                        if response.status_code >= 400:
                            response.read()
                            retry_number += 1
                            delay = retry_delay(self._config.retry, call, retry_number, response)
                            if delay is None:
                                raise error_for(response)
                            self._sleep(delay)
                            continue
                        for chunk in response.iter_bytes(_CHUNK):
                            handle.write(chunk)
                            written += len(chunk)
                except RETRYABLE_ERRORS as exc:
                    retry_number += 1
                    delay = retry_delay(self._config.retry, call, retry_number, None)
                    if delay is None or not target.rewind(handle, written):
                        raise _transport_failure(call, exc) from exc
                    self._sleep(delay)
                    continue
                target.finish(handle)
                return recording
        except BaseException:
            target.abort(handle)
            raise


class AsyncRestClient(_ClientBase):
    """The asynchronous client: the same surface as :class:`RestClient`, awaited.

    >>> async with vts.AsyncRestClient() as client:
    ...     session = await client.masking_sessions.get_masking_session(uuid)
    """

    def __init__(
        self,
        auth_id: str | None = None,
        auth_token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 5.0,
        max_retries: int = 2,
        proxies: str | Mapping[str, str] | None = None,
        backoff_factor: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            auth_id,
            auth_token,
            base_url,
            timeout,
            max_retries,
            backoff_factor,
            backoff_max,
            max_retry_after,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            **client_kwargs(timeout, proxies, httpx.AsyncHTTPTransport)
        )
        self._sleep: Callable[[float], Any] = asyncio.sleep
        self.masking_sessions = aio.AsyncMaskingSessions(self)
        self.numbers = aio.AsyncNumbers(self)
        self.subaccounts = aio.AsyncSubaccounts(self)
        self.calls = aio.AsyncCalls(self)
        self.recordings = aio.AsyncRecordings(self)
        self.account = aio.AsyncAccounts(self)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncRestClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        parse: Callable[[dict[str, Any]], T],
    ) -> T:
        call = build_call(
            self._config,
            method,
            path,
            params=params,
            body=body,
        )
        return result(await self._send(call), parse)

    async def _send(self, call: Call) -> httpx.Response:
        retry_number = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.url, **request_kwargs(self._config, call)
                )
            except RETRYABLE_ERRORS as exc:
                retry_number += 1
                sent = not isinstance(exc, NOTHING_SENT_ERRORS)
                delay = retry_delay(self._config.retry, call, retry_number, None, sent=sent)
                if delay is None:
                    raise _transport_failure(call, exc) from exc
                logger.info("retrying %s %s in %.2fs after %r", call.method, call.url, delay, exc)
                await self._sleep(delay)
                continue
            except httpx.HTTPError as exc:
                raise _transport_failure(call, exc) from exc
            if response.status_code >= 400:
                retry_number += 1
                delay = retry_delay(self._config.retry, call, retry_number, response)
                if delay is not None:
                    logger.info(
                        "retrying %s %s in %.2fs after HTTP %s",
                        call.method,
                        call.url,
                        delay,
                        response.status_code,
                    )
                    await self._sleep(delay)
                    continue
            return response

    async def _paginate(
        self, path: str, params: Mapping[str, Any], parse: Callable[[dict[str, Any]], Any]
    ) -> AsyncIterator[Any]:
        params = dict(params)
        offset: int | None = int(params.pop("offset", 0) or 0)
        while offset is not None:
            page = await self._request(
                "GET", path, params={**params, "offset": offset}, parse=parse
            )
            for item in page.objects:
                yield item
            offset = _next_offset(page, offset)

    async def _download(
        self, path: str, destination: str | os.PathLike[str] | IO[bytes]
    ) -> Recording:
        recording = await self._request("GET", path, parse=RecordingResponse)
        call = _media_call(self, recording)
        target = _Destination(destination)
        handle = target.open()
        retry_number = 0
        try:
            while True:
                written = 0
                try:
                    async with self._http.stream(
                        "GET", call.url, **_media_kwargs(self, call)
                    ) as response:
                        if response.status_code >= 400:
                            await response.aread()
                            retry_number += 1
                            delay = retry_delay(self._config.retry, call, retry_number, response)
                            if delay is None:
                                raise error_for(response)
                            await self._sleep(delay)
                            continue
                        async for chunk in response.aiter_bytes(_CHUNK):
                            handle.write(chunk)
                            written += len(chunk)
                except RETRYABLE_ERRORS as exc:
                    retry_number += 1
                    delay = retry_delay(self._config.retry, call, retry_number, None)
                    if delay is None or not target.rewind(handle, written):
                        raise _transport_failure(call, exc) from exc
                    await self._sleep(delay)
                    continue
                target.finish(handle)
                return recording
        except BaseException:
            target.abort(handle)
            raise


def _media_call(client: _ClientBase, recording: Recording) -> Call:
    url = recording.get("recording_url")
    if not isinstance(url, str) or not url:
        raise VTSRestException(
            f"Recording {recording.get('recording_id')!r} has no recording_url to download"
        )
    return Call(method="GET", url=resolve_url(client._config, url), retryable=True)


def _media_kwargs(client: _ClientBase, call: Call) -> dict[str, Any]:
    kwargs = request_kwargs(client._config, call)
    kwargs["headers"]["Accept"] = "*/*"
    if not same_origin(client._config, call.url):
        # The media may live elsewhere (a CDN, object storage): never send it our token.
        del kwargs["auth"]
    return kwargs
