"""A small SDP (RFC 4566) model: parse and serialise. No I/O.

It reads what a phone sent (lines it does not model are kept verbatim, in order) and
writes what the service builds. It decides nothing about what may cross between the legs
of a call: the allow-list in :mod:`vts_masking.media.crossing` reads a parsed SDP into
plain values and writes a new one for the other leg; nothing parsed here is sent on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.coerce import is_number

__all__ = ["Media", "SdpError", "SessionDescription", "parse_sdp", "rewrite_origin"]


class SdpError(ValueError):
    """A body that is not SDP we can read."""


@dataclass(slots=True)
class Media:
    """One ``m=`` section: its media line fields and its own lines (c=, a=, b=, ...)."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: str | None = None  # the address of this section's c= line, if any
    connection_prefix: str = "IN IP4"
    lines: list[tuple[str, str]] = field(default_factory=list)  # other lines, in order

    @property
    def attributes(self) -> list[str]:
        return [v for t, v in self.lines if t == "a"]

    @property
    def direction(self) -> str:
        for a in self.attributes:
            if a in ("sendrecv", "sendonly", "recvonly", "inactive"):
                return a
        return "sendrecv"


@dataclass(slots=True)
class SessionDescription:
    version: str = "0"
    origin: str = "- 0 0 IN IP4 0.0.0.0"
    name: str = "-"
    connection: str | None = None  # session-level c= address
    connection_prefix: str = "IN IP4"
    lines: list[tuple[str, str]] = field(default_factory=list)  # session-level others
    media: list[Media] = field(default_factory=list)

    def set_origin(self, session_id: int | str, version: int | str, address: str) -> None:
        """Replace o= entirely with ours: username ``-``, our id/version, our address."""
        self.origin = f"- {session_id} {version} {_addr_prefix(address)} {address}"

    def set_connection(self, address: str, media_index: int | None = None) -> None:
        """Point the session (``None``) or one media stream at ``address``."""
        if media_index is None:
            self.connection = address
            self.connection_prefix = _addr_prefix(address)
            for m in self.media:
                if m.connection is not None:
                    m.connection = address
                    m.connection_prefix = self.connection_prefix
        else:
            m = self.media[media_index]
            m.connection = address
            m.connection_prefix = _addr_prefix(address)

    def media_address(self, index: int) -> tuple[str | None, int]:
        """Where stream ``index`` wants to receive: (address, port)."""
        m = self.media[index]
        return (m.connection or self.connection), m.port

    def to_bytes(self) -> bytes:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.name or '-'}"]
        # RFC 4566 order: v o s i u e p c b z k a t r m; keep i/u/e/p before c, the rest after.
        before = [(t, v) for t, v in self.lines if t in "iuep"]
        after = [(t, v) for t, v in self.lines if t not in "iuep"]
        out += [f"{t}={v}" for t, v in before]
        if self.connection is not None:
            out.append(f"c={self.connection_prefix} {self.connection}")
        out += [f"{t}={v}" for t, v in after]
        for m in self.media:
            ports = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
            out.append(f"m={m.kind} {ports} {m.proto} {' '.join(m.formats)}".rstrip())
            info = [(t, v) for t, v in m.lines if t == "i"]
            rest = [(t, v) for t, v in m.lines if t != "i"]
            out += [f"{t}={v}" for t, v in info]
            if m.connection is not None:
                out.append(f"c={m.connection_prefix} {m.connection}")
            out += [f"{t}={v}" for t, v in rest]
        return ("\r\n".join(out) + "\r\n").encode()

    __bytes__ = to_bytes


def _is_number(text: str) -> bool:
    return is_number(text) and len(text) <= 9


def _addr_prefix(address: str) -> str:
    return "IN IP6" if ":" in address else "IN IP4"


def _parse_c(value: str) -> tuple[str, str]:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError("bad c= line")
    # Drop a multicast TTL suffix (addr/ttl) only for IPv4 multicast; keep it otherwise.
    return f"{parts[0]} {parts[1]}", parts[2]


def parse_sdp(body: bytes | str) -> SessionDescription:
    """Parse an SDP body; raises :class:`SdpError` on anything it cannot read."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    except UnicodeDecodeError as exc:
        raise SdpError("SDP is not UTF-8") from exc
    sd = SessionDescription()
    seen_v = False
    current: Media | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"bad SDP line {line[:40]!r}")
        t, v = line[0], line[2:]
        if t == "v":
            seen_v = True
            sd.version = v
        elif t == "m":
            parts = v.split()
            if len(parts) < 3:
                raise SdpError("bad m= line")
            port_s, _, count = parts[1].partition("/")
            if not _is_number(port_s) or (count and not _is_number(count)):
                raise SdpError("bad m= port")
            current = Media(
                parts[0], int(port_s), parts[2], parts[3:], int(count) if count else None
            )
            sd.media.append(current)
        elif t == "c":
            prefix, addr = _parse_c(v)
            if current is None:
                sd.connection_prefix, sd.connection = prefix, addr
            else:
                current.connection_prefix, current.connection = prefix, addr
        elif current is not None:
            current.lines.append((t, v))
        elif t == "o":
            sd.origin = v
        elif t == "s":
            sd.name = v
        else:
            sd.lines.append((t, v))
    if not seen_v:
        raise SdpError("no v= line")
    return sd


def rewrite_origin(body: bytes, session_id: int, version: int, address: str) -> bytes:
    """Return ``body`` with its o= line replaced by ours; other lines unchanged."""
    sd = parse_sdp(body)
    sd.set_origin(session_id, version, address)
    return sd.to_bytes()
