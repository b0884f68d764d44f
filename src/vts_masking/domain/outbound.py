"""Where the service may send a request on a customer's behalf: the one outbound-URL rule.

Callback URLs, recording callback URLs, play (prompt) URLs and a number's ``answer_url``
are chosen by customers, so each is a way to make the service send requests into the
operator's own network (SSRF). This module is the pure half of the guard, shared by the
API (which refuses a bad URL with a 400 naming the parameter) and by every fetcher
(which checks again at connection time, because DNS answers change):

* :func:`parse` — the *shape* of a URL, refused whatever the operator allows: http or
  https only, a host, a valid port, no whitespace, control characters or backslashes,
  and no host that different parsers read differently. ``0177.0.0.1``, ``127.1``,
  ``0x7f.0.0.1`` and ``2130706433`` are all 127.0.0.1 to the C resolver and to browsers
  but a *name* to Python's ``ipaddress``; ``%31%32%37.0.0.1`` is a name here and an
  address after percent-decoding elsewhere. Such hosts are never a customer's real
  endpoint, so they are refused outright.
* :func:`is_public` — whether an address may be reached without the operator's consent
  (``--allow-private-callbacks``): loopback, private, shared (CGNAT), link-local,
  site-local (``fec0::/10``), multicast, reserved, documentation, benchmarking and
  unspecified addresses are not, and neither is any IPv4 address carried inside IPv6
  (IPv4-mapped, IPv4-compatible, 6to4, NAT64 ``64:ff9b::/96``) whose IPv4 is not.
* :func:`host_problem` — a literal address or a name that is non-public by definition
  (``localhost``, ``*.localhost``, RFC 6761), decided without DNS.

No I/O here: resolving names is the fetchers' job (:mod:`vts_masking.guarded_http`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")
MAX_URL_LENGTH = 1000

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215 local-use NAT64: translates to whatever the operator's translator maps.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
# The last label decides whether WHATWG URL parsers (and inet_aton) read a host as IPv4.
_NUMERIC_LABEL = re.compile(r"^(?:0[xX][0-9A-Fa-f]*|[0-9]+)$")


class UnsafeUrl(ValueError):
    """The URL is malformed or names a target the service must not reach."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """Where a URL points: scheme, host (lower-cased, IPv6 without brackets), port, and
    the address when the host is a literal one."""

    scheme: str
    host: str
    port: int
    address: IPAddress | None


def parse(url: str) -> Target:
    """The target of an http(s) URL; :class:`UnsafeUrl` when its shape is not acceptable."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("not a URL")
    if len(url) >= MAX_URL_LENGTH:
        raise UnsafeUrl(f"longer than {MAX_URL_LENGTH - 1} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UnsafeUrl("contains whitespace or control characters")
    if text.problem(url) is not None:
        raise UnsafeUrl("is not valid Unicode text")
    if "\\" in url:
        raise UnsafeUrl("contains a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError as exc:
        raise UnsafeUrl(f"malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsafeUrl(f"scheme {scheme or '(none)'!r} is not http or https")
    if not hostname:
        raise UnsafeUrl("has no host")
    if port is not None and not 0 < port < 65536:
        raise UnsafeUrl("has an invalid port")
    default = 443 if scheme == "https" else 80
    return Target(scheme, hostname, port or default, _literal(parts.netloc, hostname))


def _literal(netloc: str, host: str) -> IPAddress | None:
    """The address of a literal host, ``None`` for a name; refuses ambiguous hosts."""
    if netloc.rpartition("@")[2].startswith("["):
        if "%" in host:
            raise UnsafeUrl("IPv6 zone identifiers are not allowed")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeUrl("has an invalid IPv6 address") from None
    name = host[:-1] if host.endswith(".") else host
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeUrl("has an invalid host name") from None
    labels = name.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        try:
            return ipaddress.IPv4Address(name)  # strict: four decimal parts, no leading 0
        except ValueError:
            raise UnsafeUrl(f"host {host!r} is an ambiguous numeric address") from None
    if not all(_LABEL.match(label) for label in labels) or len(name) > 253:
        raise UnsafeUrl("has an invalid host name")
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``ip`` really reaches, for IPv6 forms that carry one."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """True for an address a customer's URL may reach without the operator's consent."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        # Packets to these reach the IPv4 address inside (ipaddress calls the mapped and
        # NAT64 ranges "reserved" or "global" whatever they hold), so that address decides.
        return is_public(inner)
    if isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or ip in _NAT64_LOCAL):
        return False  # deprecated site-local and local-use NAT64 are "global" to ipaddress
    return (
        ip.is_global  # excludes private, loopback, link-local, shared, documentation …
        and not ip.is_multicast  # 224.0.0.0/4 and ff00::/8 count as "global" to ipaddress
        and not ip.is_reserved
        and not ip.is_unspecified
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_private
    )


def host_problem(target: Target) -> str | None:
    """Why ``target`` is non-public without asking DNS (``None``: a name to resolve, or a
    public address)."""
    if target.address is not None:
        if not is_public(target.address):
            return f"{target.address} is not a public address"
        return None
    name = target.host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return f"{target.host} is a loopback name"
    return None
