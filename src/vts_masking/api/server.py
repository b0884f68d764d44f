"""How the HTTP API is served: uvicorn with time limits on what a client may hold open.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but
only once a response has been sent: a connection that sends nothing, or trickles its
request headers a byte at a time, is kept open forever (each costs a file descriptor
and a protocol object, so a few thousand of them starve the service). uvicorn has no
header read timeout, so :func:`protocol_class` adds one to its own protocol class:

* **header deadline** — from the moment a connection opens, and again from the end of
  each response, the next request's headers must be complete within
  ``http_header_timeout`` seconds, however the bytes trickle in; otherwise the
  connection is closed;
* **connection cap** — past ``http_max_connections`` open connections a new one is
  closed at once (and uvicorn's ``limit_concurrency`` answers 503 past as many
  requests in flight);
* the request *body* has its own deadline where it is read
  (:func:`vts_masking.api.parsing.read_body`), and its size limit is applied while it
  streams in.

:func:`uvicorn_config` is the one place these settings meet uvicorn's, used by
``vts-masking serve`` and by the tests' live service alike.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import uvicorn

from ..config import Settings


def _base_protocol() -> type[asyncio.Protocol]:
    # What uvicorn's http="auto" picks: httptools when installed, else h11.
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


class CoalescingTransport:
    """A transport whose writes of one moment leave in one ``send``.

    uvicorn writes a response's head and its body with two ``transport.write`` calls,
    one after the other in the same step of the response task; each was a ``send``
    system call of its own (on loopback, the receiving side's TCP work runs inside it),
    and the profile of a session read put one in six of the process's samples there
    (issue 15). Writes are gathered and sent at the end of the loop's current step
    (``call_soon``), or at once when the transport is closed; the rest is the wrapped
    transport's.
    """

    __slots__ = ("_buffer", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._buffer: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._buffer:
            self._loop.call_soon(self._flush)
        self._buffer.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        if not self._buffer:
            return
        data = b"".join(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()  # what was written goes out before the FIN
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._buffer.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._buffer))

    def __getattr__(self, name: str) -> Any:  # everything else: the real transport's
        return getattr(self._transport, name)


def protocol_class(
    header_timeout: float, max_connections: int, base: type[asyncio.Protocol] | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with a header deadline and a connection cap (see above)."""
    parent: Any = base or _base_protocol()

    class GuardedHttp(parent):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(CoalescingTransport(transport))
            if len(self.connections) > max_connections:
                transport.close()
                return
            self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            super().data_received(data)
            if self.cycle is not cycle:  # a request's headers are complete
                self._disarm_header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_deadline()  # the next request's headers, from now

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm_header_deadline(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            busy = self.cycle is not None and not self.cycle.response_complete
            if not busy and not self.transport.is_closing():
                self.transport.close()

    GuardedHttp.__name__ = f"Guarded{parent.__name__}"
    return GuardedHttp


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` with the service's HTTP limits applied."""
    options.setdefault("host", settings.host)
    options.setdefault("port", settings.port)
    return uvicorn.Config(
        app,
        http=protocol_class(settings.http_header_timeout, settings.http_max_connections),
        timeout_keep_alive=settings.http_keepalive_timeout,
        # uvicorn counts connections too (>= its limit answers 503); ours close above
        # the cap already, so this one bites on requests in flight only
        limit_concurrency=settings.http_max_connections + 1,
        **options,
    )
