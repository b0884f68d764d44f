"""Outbound safety for callbacks: where the service may send a customer's events.

A callback URL is chosen by the customer, so without care it is a way to make the service
send requests into the operator's own network (SSRF). The rules (calls.md §4):

* only ``http`` and ``https`` URLs with a host;
* every address the host resolves to must be public: loopback, link-local, private,
  shared (CGNAT), multicast, reserved, documentation and unspecified addresses are
  refused, including IPv4 addresses hidden inside IPv6 (mapped, 6to4, NAT64) — unless the
  operator passes ``--allow-private-callbacks``;
* no proxies from the environment, no redirects, bounded time-outs and response size
  (the worker sets those on its client).

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
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(Exception):
    """The callback target is not allowed; delivering it later would not change that."""


def check_url(url: str) -> tuple[str, int]:
    """Raise :class:`UnsafeTarget` unless ``url`` is http(s) with a host; return host, port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"refused: malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeTarget(f"refused: scheme {scheme or '(none)'!r} is not http or https")
    if not parts.hostname:
        raise UnsafeTarget("refused: URL has no host")
    return parts.hostname, port or (443 if scheme == "https" else 80)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """True for an address a customer's callback may reach without the operator's consent."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        # Packets to these reach the IPv4 address inside (ipaddress calls the mapped and
        # NAT64 ranges "reserved" whatever they hold), so that address decides.
        return is_public(inner)
    return (
        ip.is_global  # excludes private, loopback, link-local, shared, documentation …
        and not ip.is_multicast  # 224.0.0.0/4 counts as "global" to ipaddress
        and not ip.is_reserved
        and not ip.is_unspecified
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_private
    )


def check_addresses(host: str, addresses: Iterable[str]) -> list[str]:
    """Return the addresses if every one is public, else raise :class:`UnsafeTarget`.

    All must pass: a name that resolves to one public and one private address could
    otherwise be steered to the private one on a retry.
    """
    vetted = []
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
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
) -> httpx.AsyncClient:
    """The worker's HTTP client: guarded, no redirects, no env proxies, bounded waits."""
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=30
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_private=allow_private, limits=limits, verify=verify),
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
        ),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "vts-masking-events/1"},
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
