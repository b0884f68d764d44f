"""SIP messages without I/O: parse bytes into requests and responses, and write them back.

The model is deliberately small and fast, in the spirit of h11: a message is a start line,
an ordered list of headers and a body. Headers are kept as text and parsed into structured
values (Via, name-addr, URI, CSeq) only when asked, because a B2BUA touches few of them.

``parse_message`` raises only :class:`SipParseError` (a ``ValueError``) on anything it cannot
read; when the start line and header block were readable, the error carries the partly
parsed message in ``partial`` so the transport can still answer ``400`` to a bad request.
:class:`StreamFramer` cuts a TCP byte stream into messages using Content-Length.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from ..domain.coerce import is_number

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "Headers",
    "NameAddr",
    "Request",
    "Response",
    "SipParseError",
    "SipURI",
    "StreamFramer",
    "Via",
    "canonical_name",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "reason_phrase",
]

MAGIC_COOKIE = "z9hG4bK"
SIP_VERSION = "SIP/2.0"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024


class SipParseError(ValueError):
    """Anything malformed. ``partial`` is the message as far as it could be read, if any."""

    def __init__(self, reason: str, partial: Request | Response | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial


# Compact forms (RFC 3261 §7.3.3 and later RFCs) mapped to the canonical lower-case name.
COMPACT_FORMS = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
}

# How we write header names we generate ourselves.
_PRETTY = {
    "via": "Via",
    "from": "From",
    "to": "To",
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "contact": "Contact",
    "content-length": "Content-Length",
    "content-type": "Content-Type",
    "max-forwards": "Max-Forwards",
    "www-authenticate": "WWW-Authenticate",
    "record-route": "Record-Route",
    "route": "Route",
    "rseq": "RSeq",
    "rack": "RAck",
    "mime-version": "MIME-Version",
    "p-asserted-identity": "P-Asserted-Identity",
    "remote-party-id": "Remote-Party-ID",
    "user-agent": "User-Agent",
}

# Headers whose value is a comma-separated list that may be split into several entries.
_LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "content-encoding",
        "p-asserted-identity",
    }
)

_REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def reason_phrase(status: int) -> str:
    """The usual reason phrase for a status code."""
    return _REASONS.get(status, "Unknown")


_CANONICAL: dict[str, str] = {}


def canonical_name(name: str) -> str:
    """Lower-case full header name for any spelling or compact form."""
    try:
        return _CANONICAL[name]
    except KeyError:
        pass
    low = name.strip().lower()
    key = COMPACT_FORMS.get(low, low)
    if len(_CANONICAL) < 4096:  # bounded: header names come from the network
        _CANONICAL[name] = key
    return key


def _pretty(key: str) -> str:
    p = _PRETTY.get(key)
    if p is None:
        p = "-".join(part.capitalize() for part in key.split("-"))
    return p


# Identifiers straight from os.urandom: what secrets.token_hex reads too, without its
# SystemRandom frames (several a call, a measurable share at hundreds of calls a second).
def new_branch() -> str:
    """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
    return MAGIC_COOKIE + os.urandom(8).hex()


def new_tag() -> str:
    return os.urandom(6).hex()


def new_call_id(host: str = "") -> str:
    cid = os.urandom(12).hex()
    return f"{cid}@{host}" if host else cid


# --------------------------------------------------------------------------- helpers


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    if "," not in value:
        v = value.strip()
        return [v] if v else []
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            part = value[start:i].strip()
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = value[start:].strip()
    if part:
        out.append(part)
    return out


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ``;a=b;c`` (leading semicolon optional) into an ordered dict, names lower-cased."""
    params: dict[str, str | None] = {}
    for raw in text.split(";"):
        raw = raw.strip()
        if not raw:
            continue
        name, eq, val = raw.partition("=")
        name = name.strip().lower()
        if not name:
            raise SipParseError("empty parameter name")
        params[name] = val.strip() if eq else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


# --------------------------------------------------------------------------- URI


@dataclass(slots=True)
class SipURI:
    """A SIP/SIPS URI (or any other scheme, kept opaque in ``host``)."""

    scheme: str = "sip"
    user: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        if self.scheme not in ("sip", "sips"):
            # tel: and friends: user holds the number, params kept.
            return f"{self.scheme}:{self.user or self.host}{format_params(self.params)}"
        s = self.scheme + ":"
        if self.user is not None:
            s += self.user
            if self.password is not None:
                s += ":" + self.password
            s += "@"
        s += self.host
        if self.port is not None:
            s += f":{self.port}"
        s += format_params(self.params)
        if self.headers:
            s += "?" + self.headers
        return s

    @property
    def hostport(self) -> tuple[str, int]:
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        return host, self.port or (5061 if self.scheme == "sips" else 5060)


_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._\-]+)(?::([0-9]{1,5}))?$")


def parse_uri(text: str) -> SipURI:
    """Parse ``sip:user:pw@host:port;params?headers`` (also sips:, tel:)."""
    text = text.strip()
    scheme, colon, rest = text.partition(":")
    scheme = scheme.lower()
    if not colon or not scheme or not rest or not scheme.isascii() or not scheme.isalpha():
        raise SipParseError(f"bad URI {text[:60]!r}")
    if scheme not in ("sip", "sips"):
        number, _, ptext = rest.partition(";")
        return SipURI(scheme=scheme, user=number, host="", params=parse_params(ptext))
    headers = None
    if "?" in rest:
        rest, _, headers = rest.partition("?")
    user = password = None
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        if ":" in userinfo:
            user, _, password = userinfo.partition(":")
        else:
            user = userinfo
    hostport, _, ptext = rest.partition(";")
    m = _HOST_RE.match(hostport)
    if m is None:
        raise SipParseError(f"bad host in URI {text[:60]!r}")
    port = int(m.group(2)) if m.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise SipParseError("bad port in URI")
    return SipURI(scheme, user, m.group(1), port, parse_params(ptext), headers, password)


class NameAddr:
    """A From/To/Contact/Route value: optional display name, URI, header parameters.

    The URI may be given as text and is then parsed on first use of :attr:`uri` (raising
    :class:`SipParseError` there if bad): most From/To values are only read for their tag.
    """

    __slots__ = ("_uri", "_uri_text", "display", "params")

    def __init__(
        self,
        uri: SipURI | str,
        display: str | None = None,
        params: dict[str, str | None] | None = None,
    ) -> None:
        if isinstance(uri, str):
            self._uri: SipURI | None = None
            self._uri_text = uri
        else:
            self._uri = uri
            self._uri_text = ""
        self.display = display
        self.params = params if params is not None else {}

    @property
    def uri(self) -> SipURI:
        if self._uri is None:
            self._uri = parse_uri(self._uri_text)
        return self._uri

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def without_tag(self) -> NameAddr:
        params = {k: v for k, v in self.params.items() if k != "tag"}
        return NameAddr(
            self._uri if self._uri is not None else self._uri_text, self.display, params
        )

    def __str__(self) -> str:
        disp = f'"{self.display}" ' if self.display else ""
        uri = self._uri_text if self._uri is None else str(self._uri)
        return f"{disp}<{uri}>{format_params(self.params)}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NameAddr) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"


def parse_name_addr(text: str) -> NameAddr:
    """Parse name-addr (``"Bob" <sip:b@h>;tag=1``) or addr-spec (``sip:b@h;tag=1``)."""
    text = text.strip()
    if not text:
        raise SipParseError("empty address")
    lt = text.find("<")
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("unclosed <")
        display = text[:lt].strip()
        if display.startswith('"'):
            if len(display) < 2 or not display.endswith('"'):
                raise SipParseError("bad quoted display name")
            display = display[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        utext = text[lt + 1 : gt].strip()
        if ":" not in utext:
            raise SipParseError("bad URI in address")
        params = parse_params(text[gt + 1 :])
        return NameAddr(utext, display or None, params)
    # addr-spec: parameters after the URI belong to the header, not the URI.
    utext, _, ptext = text.partition(";")
    if "?" in utext or "," in utext or " " in utext:
        raise SipParseError("addr-spec must be in angle brackets")
    if ":" not in utext:
        raise SipParseError("bad URI in address")
    return NameAddr(utext.strip(), None, parse_params(ptext))


# --------------------------------------------------------------------------- Via, CSeq


@dataclass(slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> tuple[str, int]:
        default = 5061 if self.transport == "TLS" else 5060
        return self.host.lower(), self.port or default

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


def parse_via(text: str) -> Via:
    proto, _, rest = text.strip().partition(" ")
    parts = proto.split("/")
    if len(parts) != 3 or parts[0].strip().upper() != "SIP" or not parts[2].strip():
        raise SipParseError("bad Via protocol")
    rest = rest.strip()
    hostport, _, ptext = rest.partition(";")
    m = _HOST_RE.match(hostport.strip())
    if m is None:
        raise SipParseError("bad Via sent-by")
    port = int(m.group(2)) if m.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise SipParseError("bad Via port")
    return Via(parts[2].strip().upper(), m.group(1), port, parse_params(ptext))


class CSeq(NamedTuple):
    """CSeq value; a tuple of atoms, so the garbage collector does not track it."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(text: str) -> CSeq:
    num, _, method = text.strip().partition(" ")
    method = method.strip()
    if not is_number(num) or len(num) > 10 or not method or not _TOKEN_RE.match(method):
        raise SipParseError("bad CSeq")
    n = int(num)
    if n >= 2**31:
        raise SipParseError("CSeq out of range")
    return CSeq(n, method)


_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")


# --------------------------------------------------------------------------- headers


class Headers:
    """Ordered, case-insensitive, multi-valued headers. Entries are ``(key, name, value)``.

    Entries are tuples of strings on purpose: the garbage collector stops tracking such
    tuples, and a busy B2BUA holds tens of thousands of messages in its transactions.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        key = canonical_name(name)
        self._items.append((key, name if key != name else _pretty(key), str(value)))

    def insert(self, name: str, value: str) -> None:
        """Add before every other header of the same name (a new top Via, say)."""
        key = canonical_name(name)
        for i, item in enumerate(self._items):
            if item[0] == key:
                self._items.insert(i, (key, _pretty(key), str(value)))
                return
        self.add(name, value)

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical_name(name)
        for item in self._items:
            if item[0] == key:
                return item[2]
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, comma lists split into entries for list headers."""
        key = canonical_name(name)
        values = [item[2] for item in self._items if item[0] == key]
        if key in _LIST_HEADERS:
            return [part for v in values for part in split_commas(v)]
        return values

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` by one (keeps the first position)."""
        key = canonical_name(name)
        for i, item in enumerate(self._items):
            if item[0] == key:
                self._items[i] = (key, item[1], str(value))
                self._items[i + 1 :] = [it for it in self._items[i + 1 :] if it[0] != key]
                return
        self.add(name, value)

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self._items = [it for it in self._items if it[0] != key]

    def remove_first(self, name: str) -> None:
        """Drop the first entry (for list headers: the first comma element)."""
        key = canonical_name(name)
        for i, item in enumerate(self._items):
            if item[0] == key:
                parts = split_commas(item[2]) if key in _LIST_HEADERS else [item[2]]
                if len(parts) > 1:
                    self._items[i] = (key, item[1], ", ".join(parts[1:]))
                else:
                    del self._items[i]
                return

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = canonical_name(name)
        return any(item[0] == key for item in self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for item in self._items:
            yield item[1], item[2]

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        h = Headers()
        h._items = list(self._items)
        return h

    def __repr__(self) -> str:
        return f"Headers({[(n, v) for n, v in self]!r})"


# --------------------------------------------------------------------------- messages


class _Message:
    __slots__ = ("_cseq", "_from", "_to", "_vias", "body", "headers")

    headers: Headers
    body: bytes

    def _init_cache(self) -> None:
        self._vias: list[Via] | None = None
        self._cseq: CSeq | None = None
        self._from: NameAddr | None = None
        self._to: NameAddr | None = None

    def invalidate(self) -> None:
        """Forget parsed header values after editing ``headers`` directly."""
        self._init_cache()

    # Structured access; each raises SipParseError when the header is missing or bad.
    @property
    def vias(self) -> list[Via]:
        if self._vias is None:
            values = self.headers.get_all("via")
            if not values:
                raise SipParseError("missing Via")
            self._vias = [parse_via(v) for v in values]
        return self._vias

    @property
    def top_via(self) -> Via:
        if self._vias is not None:
            return self._vias[0]
        values = self.headers.get_all("via")
        if not values:
            raise SipParseError("missing Via")
        return parse_via(values[0])

    @property
    def cseq(self) -> CSeq:
        if self._cseq is None:
            v = self.headers.get("cseq")
            if v is None:
                raise SipParseError("missing CSeq")
            self._cseq = parse_cseq(v)
        return self._cseq

    @property
    def from_(self) -> NameAddr:
        if self._from is None:
            v = self.headers.get("from")
            if v is None:
                raise SipParseError("missing From")
            self._from = parse_name_addr(v)
        return self._from

    @property
    def to(self) -> NameAddr:
        if self._to is None:
            v = self.headers.get("to")
            if v is None:
                raise SipParseError("missing To")
            self._to = parse_name_addr(v)
        return self._to

    @property
    def call_id(self) -> str:
        v = self.headers.get("call-id")
        if not v:
            raise SipParseError("missing Call-ID")
        return v

    @property
    def contact(self) -> NameAddr | None:
        values = self.headers.get_all("contact")
        if not values or values[0] == "*":
            return None
        return parse_name_addr(values[0])

    @property
    def content_type(self) -> str | None:
        v = self.headers.get("content-type")
        return v.split(";", 1)[0].strip().lower() if v else None

    def set_from(self, value: NameAddr) -> None:
        self.headers.set("From", str(value))
        self._from = None

    def set_to(self, value: NameAddr) -> None:
        self.headers.set("To", str(value))
        self._to = None

    def _head_lines(self) -> list[str]:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        lines = self._head_lines()
        for key, name, value in self.headers._items:
            if key != "content-length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("")
        lines.append("")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    __bytes__ = to_bytes


class Request(_Message):
    __slots__ = ("method", "uri", "version")

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body
        self._init_cache()

    def _head_lines(self) -> list[str]:
        return [f"{self.method} {self.uri} {self.version}"]

    @property
    def parsed_uri(self) -> SipURI:
        return parse_uri(self.uri)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(_Message):
    __slots__ = ("reason", "status", "version")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.status = status
        self.reason = reason if reason is not None else reason_phrase(status)
        self.version = version
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body
        self._init_cache()

    def _head_lines(self) -> list[str]:
        return [f"{self.version} {self.status} {self.reason}"]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    body: bytes = b"",
    extra: Iterable[tuple[str, str]] = (),
) -> Response:
    """A response to ``request`` (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied."""
    h = Headers()
    items = request.headers._items
    for key, name, value in items:
        if key == "via":
            h._items.append((key, name, value))
    for key in ("from", "to", "call-id", "cseq"):
        for k, _name, value in items:
            if k == key:
                if key == "to" and to_tag is not None and status != 100:
                    to = request.to
                    if to.tag is None:
                        value = f"{value};tag={to_tag}"
                h._items.append((k, _pretty(k), value))
                break
    for name, value in extra:
        h.add(name, value)
    return Response(status, reason, h, body)


# --------------------------------------------------------------------------- parsing

_REQUIRED = ("via", "from", "to", "call-id", "cseq")


def _decode(data: bytes) -> str:
    # SIP is UTF-8; surrogateescape keeps arbitrary bytes round-trippable without raising.
    return data.decode("utf-8", "surrogateescape")


def _parse_head(head: str) -> Request | Response:
    lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
    start = lines[0]
    if start.startswith("SIP/"):
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        if version.upper() != SIP_VERSION or len(code) != 3 or not is_number(code):
            raise SipParseError("bad status line")
        status = int(code)
        if not 100 <= status <= 699:
            raise SipParseError("status out of range")
        msg: Request | Response = Response(status, reason.strip())
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2].upper() != SIP_VERSION:
            raise SipParseError("bad request line")
        method, uri = parts[0], parts[1]
        if not method or not _TOKEN_RE.match(method) or not uri or ":" not in uri:
            raise SipParseError("bad request line")
        msg = Request(method, uri)
    items = msg.headers._items
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            # Folded continuation of the previous header (RFC 3261 §7.3.1).
            if not items:
                raise SipParseError("continuation line before any header")
            k, n, v = items[-1]
            items[-1] = (k, n, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or not _TOKEN_RE.match(name):
            raise SipParseError("bad header line", msg)
        key = name.lower()
        key = COMPACT_FORMS.get(key, key)
        items.append((key, name, value.strip()))
    return msg


def _check(msg: Request | Response) -> None:
    """Validate what every layer above relies on, so they never meet a bad value later."""
    present = {item[0] for item in msg.headers._items}
    for key in _REQUIRED:
        if key not in present:
            raise SipParseError(f"missing {key}", msg)
    try:
        msg.vias  # noqa: B018 - every Via parsed (and cached) for validation
        cseq = msg.cseq
        msg.from_  # noqa: B018
        msg.to  # noqa: B018
    except SipParseError as exc:
        raise SipParseError(exc.reason, msg) from None
    if not msg.call_id:
        raise SipParseError("empty Call-ID", msg)
    if isinstance(msg, Request) and cseq.method != msg.method:
        raise SipParseError("CSeq method does not match request method", msg)


def parse_message(data: bytes) -> Request | Response:
    """Parse one complete message (a UDP datagram or a framed TCP message)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SipParseError("not bytes")
    data = bytes(data)
    # Tolerate leading CRLFs (keep-alives) before the start line (RFC 3261 §7.5).
    data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end = data.find(b"\n\n")
        sep = 2
        if end < 0:
            raise SipParseError("no end of headers")
    if end > MAX_HEADER_BYTES:
        raise SipParseError("headers too large")
    msg = _parse_head(_decode(data[:end]))
    body = data[end + sep :]
    cl = msg.headers.get("content-length")
    if cl is not None:
        cl = cl.strip()
        if not is_number(cl) or len(cl) > 9:
            raise SipParseError("bad Content-Length", msg)
        n = int(cl)
        if n > len(body):
            raise SipParseError("truncated body", msg)
        body = body[:n]
    msg.body = body
    _check(msg)
    return msg


_CL_RE = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$")


class StreamFramer:
    """Cut a stream of bytes (TCP) into SIP messages using Content-Length.

    ``feed(data)`` returns the complete messages now available. A garbled stream raises
    :class:`SipParseError`; the connection is then best closed, as its framing is lost.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Request | Response]:
        self._buf += data
        out: list[Request | Response] = []
        buf = self._buf
        while True:
            # Skip CRLF keep-alives between messages (RFC 5626 uses CRLFCRLF pings).
            i = 0
            while i < len(buf) and buf[i] in (13, 10):
                i += 1
            if i:
                del buf[:i]
            if not buf:
                break
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEADER_BYTES:
                    raise SipParseError("headers too large")
                break
            head = bytes(buf[:end])
            m = _CL_RE.search(head)
            digits = m.group(1) if m else b"0"
            # digits counted before int(): 5,000 of them made int() raise ValueError
            if len(digits) > 9:
                raise SipParseError("bad Content-Length")
            length = int(digits)
            if length > MAX_BODY_BYTES:
                raise SipParseError("body too large")
            total = end + 4 + length
            if len(buf) < total:
                break
            chunk = bytes(buf[:total])
            del buf[:total]
            out.append(parse_message(chunk))
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)
