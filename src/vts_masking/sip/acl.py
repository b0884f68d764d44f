"""Who may send us SIP: an allow-list of addresses and networks, checked per message.

The SIP edge masks calls for whoever its carriers deliver; a request that does not come
from a carrier (an INVITE with a forged party ``From`` sent straight to our port) must not
reach routing. :class:`AccessList` answers ``allows(ip)`` from the trunks' addresses and
networks, extra networks the operator lists, and — for a developer's machine — loopback
(on by default, ``allow_loopback=False`` in production tests and deployments that want it
strict). The transport answers refused requests ``403`` statelessly and counts them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["AccessList", "parse_network"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> Network:
    """``"203.0.113.7"``, ``"203.0.113.0/24"``, ``"2001:db8::/32"`` → a network.

    Raises ``ValueError`` with the offending text for anything else."""
    text = text.strip()
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or network: {text!r}") from None


@dataclass(slots=True)
class AccessList:
    """Allowed sources. ``allow_any``: no filtering (an operator's explicit choice)."""

    networks: list[Network] = field(default_factory=list)
    allow_loopback: bool = True
    allow_any: bool = False
    #: requests refused, by source address (for metrics and the operator's eyes)
    refused: dict[str, int] = field(default_factory=dict)
    _cache: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[str], *, allow_loopback: bool = True) -> AccessList:
        nets: list[Network] = []
        allow_any = False
        for entry in entries:
            if entry.strip().lower() in ("any", "*"):
                allow_any = True
                continue
            nets.append(parse_network(entry))
        return cls(nets, allow_loopback=allow_loopback, allow_any=allow_any)

    def add(self, entry: str) -> None:
        self.networks.append(parse_network(entry))
        self._cache.clear()

    def allows(self, ip: str) -> bool:
        if self.allow_any:
            return True
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False  # not an address at all: never from a carrier
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        ok = (self.allow_loopback and addr.is_loopback) or any(
            addr in net for net in self.networks if net.version == addr.version
        )
        if len(self._cache) < 4096:  # a flood from many sources must not grow it forever
            self._cache[ip] = ok
        return ok

    def count_refused(self, ip: str) -> None:
        if ip in self.refused or len(self.refused) < 1024:
            self.refused[ip] = self.refused.get(ip, 0) + 1
        else:
            self.refused["other"] = self.refused.get("other", 0) + 1

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())
