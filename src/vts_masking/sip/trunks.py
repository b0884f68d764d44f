"""Trunks as configuration: where outbound legs go, who may call in, how each authenticates.

A :class:`Trunk` is one carrier connection: its address and transport (UDP, TCP or TLS),
the credentials we answer its challenges with, whether we register to it, the networks it
calls us from, the credentials it must answer *our* challenges with (optional), the virtual
numbers or prefixes it serves, TLS verification and SRTP policy, and how many 3xx
redirects we follow for it. A :class:`TrunkTable` holds them all: an outbound leg leaves
through the trunk serving its caller ID (the virtual number, longest prefix first) or the
default trunk; an inbound request is tied to a trunk by its source address.

The operator writes them in a TOML file (``VTS_SIP_TRUNKS_FILE``; format in
``deploy/README.md``); ``serve --sip-trunk host:port`` is the one-trunk case.
Secrets may stay out of the file: ``password_env = "NAME"`` reads an environment variable.
Errors name the trunk and the field (:class:`TrunkConfigError`), never a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vts_masking.sip.acl import AccessList, parse_network
from vts_masking.sip.digest import Credentials, DigestClient, DigestServer

__all__ = [
    "Trunk",
    "TrunkConfigError",
    "TrunkTable",
    "load_trunks",
    "parse_target",
]

Addr = tuple[str, int]
Transport = Literal["udp", "tcp", "tls"]
SrtpPolicy = Literal["off", "offer", "require"]
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}


class TrunkConfigError(ValueError):
    """A trunks file (or option) that cannot be used; the message says where and why."""


def parse_target(text: str, transport: str = "udp") -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` → (host, port), port defaulting by transport."""
    text = text.strip()
    default = DEFAULT_PORTS.get(transport, 5060)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:  # no port, or a bare IPv6 address
            host, port = text, ""
    if not host:
        raise ValueError(f"no host in {text!r}")
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"bad port in {text!r}")
    return host, int(port) if port else default


@dataclass(slots=True)
class Trunk:
    """One carrier connection (see the module docstring and deploy/README.md)."""

    name: str
    host: str
    port: int
    transport: Transport = "udp"
    numbers: tuple[str, ...] = ()  # E.164 prefixes without "+", longest match wins
    default: bool = False
    inbound: tuple[str, ...] = ()  # networks it calls from (default: its own address)
    credentials: Credentials | None = None
    register: bool = False
    register_expires: int = 600
    registrar: str | None = None  # Request-URI of REGISTER (default sip:host:port)
    aor: str | None = None  # address-of-record (default sip:username@host)
    inbound_credentials: dict[str, str] = field(default_factory=dict)  # user → password
    inbound_realm: str = "vts-masking"
    tls_verify: bool = True
    tls_ca_file: str | None = None
    tls_server_name: str | None = None
    srtp: SrtpPolicy = "off"
    max_redirects: int = 0
    from_domain: str | None = None  # the host of our From URI (default: our address)
    # runtime (not configuration)
    digest: DigestClient | None = None
    digest_server: DigestServer | None = None
    addresses: tuple[str, ...] = ()  # resolved source addresses (ACL, source matching)

    def __post_init__(self) -> None:
        if self.credentials is not None and self.digest is None:
            self.digest = DigestClient(self.credentials)
        if self.inbound_credentials and self.digest_server is None:
            self.digest_server = DigestServer(self.inbound_realm, self.inbound_credentials)

    @property
    def addr(self) -> Addr:
        return self.host, self.port

    @property
    def scheme(self) -> str:
        return "sips" if self.transport == "tls" else "sip"

    def uri(self, user: str | None = None) -> str:
        """A URI at this trunk (``sips:`` over TLS, ``transport=tcp`` over TCP)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        at = f"{user}@" if user else ""
        tp = ";transport=tcp" if self.transport == "tcp" else ""
        return f"{self.scheme}:{at}{host}:{self.port}{tp}"

    def serves(self, number: str) -> int:
        """Length of the longest of our prefixes ``number`` starts with (-1: none)."""
        digits = number.lstrip("+")
        best = -1
        for prefix in self.numbers:
            if digits.startswith(prefix) and len(prefix) > best:
                best = len(prefix)
        return best


@dataclass(slots=True)
class TrunkTable:
    """Every trunk, the outbound choice and the inbound access list built from them."""

    trunks: list[Trunk]
    acl: AccessList

    def __post_init__(self) -> None:
        if not self.trunks:
            raise TrunkConfigError("no trunk configured")

    @property
    def default(self) -> Trunk:
        for t in self.trunks:
            if t.default:
                return t
        return self.trunks[0]

    def for_caller_id(self, number: str | None) -> Trunk:
        """The trunk an outbound leg presenting ``number`` leaves through."""
        best, best_len = self.default, -1
        if number:
            for t in self.trunks:
                n = t.serves(number)
                if n > best_len:
                    best, best_len = t, n
        return best

    def for_source(self, ip: str) -> Trunk | None:
        """The trunk a request from ``ip`` belongs to (None: not one of theirs)."""
        for t in self.trunks:
            if ip in t.addresses:
                return t
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for t in self.trunks:
            for entry in t.inbound:
                if addr in parse_network(entry):
                    return t
        return None

    def for_name(self, name: str) -> Trunk | None:
        return next((t for t in self.trunks if t.name == name), None)

    @classmethod
    def single(
        cls,
        addr: Addr,
        transport: Transport = "udp",
        *,
        allow: tuple[str, ...] = (),
        allow_loopback: bool = True,
    ) -> TrunkTable:
        """Today's one-trunk case (``--sip-trunk``): IP-authenticated, the default."""
        trunk = Trunk("default", addr[0], addr[1], transport, default=True)
        return cls.build([trunk], allow=allow, allow_loopback=allow_loopback)

    @classmethod
    def build(
        cls,
        trunks: list[Trunk],
        *,
        allow: tuple[str, ...] = (),
        allow_loopback: bool = True,
        resolve: bool = True,
    ) -> TrunkTable:
        acl = AccessList.of(allow, allow_loopback=allow_loopback)
        for t in trunks:
            if not t.addresses:
                t.addresses = _resolve(t.host) if resolve else (t.host,)
            entries = t.inbound or t.addresses
            for entry in entries:
                try:
                    acl.add(entry)
                except ValueError as exc:
                    raise TrunkConfigError(f"trunk {t.name!r}: inbound: {exc}") from None
        return cls(trunks, acl)


def _resolve(host: str) -> tuple[str, ...]:
    """The trunk's addresses (its host may be a name); unresolvable: the name alone, which
    matches nothing, and the operator sees the warning when the edge starts."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
    except OSError:
        return ()
    return tuple(dict.fromkeys(str(i[4][0]) for i in infos))


# --------------------------------------------------------------------------- loading

_KEYS = {
    "name",
    "address",
    "transport",
    "numbers",
    "default",
    "inbound",
    "username",
    "password",
    "password_env",
    "realm",
    "register",
    "register_expires",
    "registrar",
    "aor",
    "inbound_username",
    "inbound_password",
    "inbound_password_env",
    "inbound_realm",
    "tls_verify",
    "tls_ca_file",
    "tls_server_name",
    "srtp",
    "max_redirects",
    "from_domain",
}


def _want(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise TrunkConfigError(f"{where}: expected {names}, got {value!r}")
    return value


def _secret(raw: Mapping[str, Any], key: str, env: Mapping[str, str], where: str) -> str | None:
    value = raw.get(key)
    env_name = raw.get(f"{key}_env")
    if value is not None and env_name is not None:
        raise TrunkConfigError(f"{where}: give {key} or {key}_env, not both")
    if env_name is not None:
        _want(env_name, str, f"{where}.{key}_env")
        if env_name not in env:
            raise TrunkConfigError(f"{where}.{key}_env: environment variable {env_name} is unset")
        return env[env_name]
    return None if value is None else _want(value, str, f"{where}.{key}")


def trunk_from_dict(
    raw: Mapping[str, Any], index: int, env: Mapping[str, str] | None = None
) -> Trunk:
    env = os.environ if env is None else env
    name = raw.get("name") or f"trunk{index + 1}"
    where = f"trunk {name!r}"
    _want(name, str, f"{where}.name")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise TrunkConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    transport = raw.get("transport", "udp")
    if transport not in DEFAULT_PORTS:
        raise TrunkConfigError(f"{where}.transport: one of udp, tcp, tls; got {transport!r}")
    if "address" not in raw:
        raise TrunkConfigError(f"{where}: address is required")
    try:
        host, port = parse_target(_want(raw["address"], str, f"{where}.address"), transport)
    except ValueError as exc:
        raise TrunkConfigError(f"{where}.address: {exc}") from None
    numbers = []
    for n in _want(raw.get("numbers", []), list, f"{where}.numbers"):
        digits = _want(n, str, f"{where}.numbers").strip().lstrip("+")
        if not (digits.isascii() and digits.isdigit()):
            raise TrunkConfigError(f"{where}.numbers: {n!r} is not a number prefix")
        numbers.append(digits)
    inbound = tuple(_want(x, str, f"{where}.inbound") for x in raw.get("inbound", []))
    for entry in inbound:
        try:
            parse_network(entry)
        except ValueError as exc:
            raise TrunkConfigError(f"{where}.inbound: {exc}") from None
    username = raw.get("username")
    password = _secret(raw, "password", env, where)
    credentials = None
    if username is not None or password is not None:
        if username is None or password is None:
            raise TrunkConfigError(f"{where}: username and password go together")
        realm = raw.get("realm")
        credentials = Credentials(
            _want(username, str, f"{where}.username"),
            password,
            None if realm is None else _want(realm, str, f"{where}.realm"),
        )
    register = bool(_want(raw.get("register", False), bool, f"{where}.register"))
    if register and credentials is None:
        raise TrunkConfigError(f"{where}: register = true needs username and password")
    expires = _want(raw.get("register_expires", 600), int, f"{where}.register_expires")
    if not 10 <= expires <= 86400:
        raise TrunkConfigError(f"{where}.register_expires: 10 to 86400 seconds, got {expires}")
    inbound_creds: dict[str, str] = {}
    in_user = raw.get("inbound_username")
    in_pass = _secret(raw, "inbound_password", env, where)
    if (in_user is None) != (in_pass is None):
        raise TrunkConfigError(f"{where}: inbound_username and inbound_password go together")
    if in_user is not None and in_pass is not None:
        inbound_creds[_want(in_user, str, f"{where}.inbound_username")] = in_pass
    srtp = raw.get("srtp", "off")
    if srtp not in ("off", "offer", "require"):
        raise TrunkConfigError(f"{where}.srtp: one of off, offer, require; got {srtp!r}")
    max_redirects = _want(raw.get("max_redirects", 0), int, f"{where}.max_redirects")
    if not 0 <= max_redirects <= 10:
        raise TrunkConfigError(f"{where}.max_redirects: 0 to 10, got {max_redirects}")
    opt = {
        k: _want(raw[k], str, f"{where}.{k}")
        for k in ("registrar", "aor", "tls_ca_file", "tls_server_name", "from_domain")
        if k in raw
    }
    return Trunk(
        name=name,
        host=host,
        port=port,
        transport=transport,
        numbers=tuple(numbers),
        default=bool(_want(raw.get("default", False), bool, f"{where}.default")),
        inbound=inbound,
        credentials=credentials,
        register=register,
        register_expires=expires,
        inbound_credentials=inbound_creds,
        inbound_realm=_want(raw.get("inbound_realm", "vts-masking"), str, f"{where}.inbound_realm"),
        tls_verify=bool(_want(raw.get("tls_verify", True), bool, f"{where}.tls_verify")),
        srtp=srtp,
        max_redirects=max_redirects,
        **opt,
    )


def load_trunks(
    path: str | Path,
    *,
    allow: tuple[str, ...] = (),
    allow_loopback: bool = True,
    env: Mapping[str, str] | None = None,
    resolve: bool = True,
) -> TrunkTable:
    """Read a trunks file (TOML: ``[[trunk]]`` tables) into a :class:`TrunkTable`."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise TrunkConfigError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TrunkConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"trunk"})
    if unknown:
        raise TrunkConfigError(f"{path}: unknown table(s) {', '.join(unknown)} (want [[trunk]])")
    raws = data.get("trunk", [])
    if not isinstance(raws, list) or not raws:
        raise TrunkConfigError(f"{path}: no [[trunk]] table")
    trunks = [trunk_from_dict(_want(r, dict, f"trunk {i + 1}"), i, env) for i, r in enumerate(raws)]
    names = [t.name for t in trunks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TrunkConfigError(f"{path}: trunk name(s) used twice: {', '.join(dupes)}")
    if sum(t.default for t in trunks) > 1:
        raise TrunkConfigError(f"{path}: more than one trunk has default = true")
    return TrunkTable.build(trunks, allow=allow, allow_loopback=allow_loopback, resolve=resolve)
