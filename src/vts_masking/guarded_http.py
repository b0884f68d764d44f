"""The guarded HTTP client of everything the service fetches or sends to a
URL a customer chose — event callbacks and recording callbacks (the delivery worker), a
number's ``answer_url`` (:mod:`vts_masking.calls.application`) and play URLs
(:mod:`vts_masking.media.prompt`). Without care each is a way to make the service send
requests into the operator's own network (SSRF). The rules
(docs/calls.md#delivery-and-signatures), whose pure half is
:mod:`vts_masking.domain.outbound` (the API applies it too, and refuses such URLs with a 400
before they are stored):

* only ``http`` and ``https`` URLs with a host, of an unambiguous shape (no control
  characters, no numeric host that parsers read differently, such as ``0177.0.0.1``);
* every address the host resolves to must be public: loopback, link-local, private,
  site-local, shared (CGNAT), multicast, reserved, documentation and unspecified
  addresses are refused, including IPv4 addresses hidden inside IPv6 (mapped,
  compatible, 6to4, NAT64) — unless the operator allows private targets
  (``--allow-private-callbacks``; ``VTS_PROMPTS_ALLOW_PRIVATE`` for play URLs); a name
  that does not resolve is not connected to at all;
* no proxies from the environment, no redirects (play URLs: at most three, each hop
  checked the same way, as each connects through the same backend), bounded time-outs
  and response size (each user sets those on its client).

DNS rebinding: the check is made *inside the connection*, not before it. The transport's
network backend resolves the host once, vets every address, and then connects to the
vetted address itself, so there is no second lookup an attacker's DNS could answer
differently. TLS still uses the URL's host name for SNI and certificate checks, and the
connection pool is keyed by host name, so pinning does not mix up virtual hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import httpx

from .domain import outbound

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = outbound.SCHEMES
is_public = outbound.is_public  # the one address rule (domain/outbound.py)


class UnsafeTarget(Exception):
    """The target is not allowed; sending to it later would not change that."""


def check_url(url: str) -> tuple[str, int]:
    """Raise :class:`UnsafeTarget` unless ``url`` has an acceptable shape
    (:func:`vts_masking.domain.outbound.parse`); return its host and port."""
    try:
        target = outbound.parse(url)
    except outbound.UnsafeUrl as exc:
        raise UnsafeTarget(f"refused: URL {exc.reason}") from None
    return target.host, target.port


def check_addresses(host: str, addresses: Iterable[str]) -> list[str]:
    """Return the addresses if every one is public, else raise :class:`UnsafeTarget`.

    All must pass: a name that resolves to one public and one private address could
    otherwise be steered to the private one on a retry.
    """
    vetted = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            raise UnsafeTarget(f"refused: {host} resolves to {text!r}") from None
        if not is_public(ip):
            raise UnsafeTarget(f"refused: {host} resolves to non-public address {ip}")
        vetted.append(str(ip))
    if not vetted:
        raise UnsafeTarget(f"refused: {host} did not resolve")
    return vetted


async def resolve(host: str, port: int) -> list[str]:
    """Addresses for ``host`` (a literal address resolves to itself, without DNS)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the address check and pinning described above."""

    def __init__(self, *, allow_private: bool, inner: httpcore.AsyncNetworkBackend | None = None):
        self.allow_private = allow_private
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self.allow_private:
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = await asyncio.wait_for(resolve(host, port), timeout)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        vetted = check_addresses(host, addresses)
        last: Exception | None = None
        for address in vetted:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise UnsafeTarget("refused: unix sockets are not callback targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over :class:`GuardedBackend`, never through an env proxy.

    httpx has no public hook for the network backend, so the connection pool is rebuilt
    with the same settings httpx would use (``tests/integration/events`` exercise it, so a
    change in httpx's internals shows up as a failing test, not a silent hole).
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        limits: httpx.Limits,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(limits=limits, trust_env=False, verify=verify)
        ssl_context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify, trust_env=False)
        )
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=GuardedBackend(allow_private=allow_private),
        )


def make_client(
    *,
    allow_private: bool,
    concurrency: int,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    verify: ssl.SSLContext | bool = True,
    max_redirects: int = 0,
    user_agent: str = "vts-masking-events/1",
) -> httpx.AsyncClient:
    """A guarded HTTP client: no env proxies, bounded waits, and no redirects unless
    ``max_redirects`` (every hop connects through the guarded backend)."""
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=30
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_private=allow_private, limits=limits, verify=verify),
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
        ),
        follow_redirects=max_redirects > 0,
        max_redirects=max(max_redirects, 1),
        trust_env=False,
        headers={"User-Agent": user_agent},
    )


class ClientPool:
    """``concurrency`` request slots spread over several small guarded clients.

    httpcore's connection pool does work proportional to its connections and queued
    requests on every request, so one client with 64 connections spends most of its time
    in bookkeeping (bench/events measured ~300 req/s against ~1,200 req/s for sixteen
    clients of four connections, same machine, same run). Each slot is one request in
    flight on one client; a client keeps alive connections to the hosts it served last.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        concurrency: int,
        per_client: int = 4,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
    ) -> None:
        per_client = max(1, min(per_client, concurrency))
        ssl_context = httpx.create_ssl_context(trust_env=False)  # one CA load for all
        self.clients = [
            make_client(
                allow_private=allow_private,
                concurrency=per_client,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                verify=ssl_context,
            )
            for _ in range(math.ceil(concurrency / per_client))
        ]
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for _ in range(per_client):
            for client in self.clients:  # interleaved: load spreads over every client
                if self._free.qsize() < concurrency:
                    self._free.put_nowait(client)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[httpx.AsyncClient]:
        """Wait for a free slot; yields the client to send one request with."""
        client = await self._free.get()
        try:
            yield client
        finally:
            self._free.put_nowait(client)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
