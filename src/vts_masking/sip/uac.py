"""What a user agent does with the responses it must act on, as pure functions.

- **Resubmission** (RFC 3261 §8.1.3.5, §22.2): a request challenged with 401/407, or an
  INVITE redirected by 3xx, goes again as a new transaction — new branch, CSeq + 1, same
  Call-ID, From and To — with credentials (replacing any it carried) or a new target.
  CANCEL and ACK are never resubmitted (§9.2: a CANCEL cannot be challenged).
- **Reliable provisional responses** (RFC 3262): reading ``RSeq``, writing ``RAck``,
  deciding whether a provisional must be sent reliably to a UAC.
- **Session timers** (RFC 4028): reading ``Session-Expires``/``Min-SE`` of a request and
  choosing what our 2xx says (interval, refresher, ``Require: timer``).

The B2BUA (``calls/b2bua.py``) keeps per-leg state and decides *when*; these decide the
bytes, so the rules are read and tested in one place, without sockets or sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vts_masking.sip.digest import Challenge, parse_challenges
from vts_masking.sip.message import Headers, Request, Response, parse_name_addr

__all__ = [
    "MIN_SE",
    "SessionTimer",
    "auth_headers",
    "challenges_of",
    "negotiate_session_timer",
    "parse_rack",
    "rack_value",
    "redirect_targets",
    "requires",
    "resubmit",
    "rseq_of",
    "session_expires_of",
    "supports",
    "wants_reliable",
]

#: our Min-SE (RFC 4028 §4 recommends 90 s as the floor)
MIN_SE = 90
_AUTH_HEADERS = ("authorization", "proxy-authorization")


def supports(message: Request | Response, option: str) -> bool:
    """The option tag is in ``Supported`` or ``Require`` (compact ``k`` included)."""
    option = option.lower()
    return any(
        v.strip().lower() == option
        for name in ("supported", "require")
        for v in message.headers.get_all(name)
    )


def requires(message: Request | Response, option: str) -> bool:
    option = option.lower()
    return any(v.strip().lower() == option for v in message.headers.get_all("require"))


# --------------------------------------------------------------------------- resubmission


def challenges_of(response: Response) -> list[Challenge]:
    """The digest challenges of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate)."""
    if response.status == 407:
        return parse_challenges(response.headers.get_all("proxy-authenticate"), proxy=True)
    return parse_challenges(response.headers.get_all("www-authenticate"))


def resubmit(
    request: Request,
    via: str,
    cseq: int,
    *,
    auth: list[tuple[str, str]] | None = None,
    uri: str | None = None,
) -> Request:
    """A copy of ``request`` as a new transaction: top Via ``via``, CSeq ``cseq``, and
    ``auth`` headers replacing those of the same names (others kept: a request may answer
    a proxy and the UAS at once), or Request-URI ``uri`` (a redirect)."""
    if request.method in ("ACK", "CANCEL"):
        raise ValueError(f"{request.method} is never resubmitted")
    h = Headers()
    replaced = {name.lower() for name, _ in auth or ()}
    via_done = False
    for name, value in request.headers:
        key = name.lower()
        if key in ("via", "v"):
            if not via_done:
                h.add("Via", via)
                via_done = True
            continue
        if key == "cseq":
            h.add("CSeq", f"{cseq} {request.method}")
            continue
        if key in _AUTH_HEADERS and key in replaced:
            continue
        h.add(name, value)
    for name, value in auth or ():
        h.add(name, value)
    return Request(request.method, uri or request.uri, h, request.body)


def auth_headers(request: Request) -> list[tuple[str, str]]:
    """The credentials a request carries (an ACK for its 2xx carries the same, §22.1)."""
    return [
        (("Proxy-Authorization" if n == "proxy-authorization" else "Authorization"), v)
        for n in _AUTH_HEADERS
        for v in request.headers.get_all(n)
    ]


def redirect_targets(response: Response) -> list[str]:
    """The ``sip:``/``sips:`` Contact URIs of a 3xx, highest ``q`` first (§8.1.3.4)."""
    out: list[tuple[float, int, str]] = []
    for i, value in enumerate(response.headers.get_all("contact")):
        try:
            na = parse_name_addr(value)
            uri = na.uri
        except ValueError:
            continue
        if uri.scheme.lower() not in ("sip", "sips"):
            continue
        try:
            q = float(na.params.get("q") or 1.0)
        except ValueError:
            q = 1.0
        out.append((-q, i, str(uri)))
    return [u for _q, _i, u in sorted(out)]


# --------------------------------------------------------------------------- 100rel


def rseq_of(response: Response) -> int | None:
    """The RSeq of a reliable provisional response (None: not one, or unreadable)."""
    if not (100 < response.status < 200) or not requires(response, "100rel"):
        return None
    value = (response.headers.get("rseq") or "").strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**32:
        return None
    return int(value)


def rack_value(rseq: int, invite: Request) -> str:
    """The RAck of our PRACK for provisional ``rseq`` to ``invite`` (RFC 3262 §7.2)."""
    return f"{rseq} {invite.cseq.number} INVITE"


def parse_rack(value: str | None) -> tuple[int, int, str] | None:
    parts = (value or "").split()
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts[:2]):
        return None
    return int(parts[0]), int(parts[1]), parts[2].upper()


def wants_reliable(invite: Request, status: int, has_sdp: bool) -> bool:
    """Send this provisional to the UAC reliably? When it requires 100rel, every 1xx but
    100; when it only supports it, those carrying SDP (early media must not be lost)."""
    if status <= 100 or status >= 200:
        return False
    if requires(invite, "100rel"):
        return True
    return has_sdp and supports(invite, "100rel")


# --------------------------------------------------------------------------- session timers


@dataclass(frozen=True, slots=True)
class SessionTimer:
    """What our 2xx says: ``interval`` seconds, refreshed by ``refresher``."""

    interval: int
    refresher: Literal["uac", "uas"]
    require: bool  # the UAC supports timer: put it in Require

    def header(self) -> str:
        return f"{self.interval};refresher={self.refresher}"


def session_expires_of(message: Request | Response) -> tuple[int, str | None] | None:
    value = message.headers.get("session-expires")
    if value is None:
        return None
    head, _, params = value.partition(";")
    head = head.strip()
    if not (head.isascii() and head.isdigit()):
        return None
    refresher = None
    for p in params.split(";"):
        k, _, v = p.partition("=")
        if k.strip().lower() == "refresher" and v.strip().lower() in ("uac", "uas"):
            refresher = v.strip().lower()
    return int(head), refresher


def negotiate_session_timer(request: Request) -> SessionTimer | int | None:
    """RFC 4028 §9 for an INVITE (or re-INVITE/UPDATE) we answer: None when it asks for
    no timer, an ``int`` (our Min-SE) when its interval is too brief (answer 422 with
    ``Min-SE``), else the :class:`SessionTimer` our 2xx carries. We never shorten the
    interval; the refresher is whom the request names, else the UAC if it supports
    timers (it will refresh), else us."""
    se = session_expires_of(request)
    if se is None:
        return None
    interval, refresher = se
    uac_timer = supports(request, "timer")
    if interval < MIN_SE:
        return MIN_SE
    if refresher is None:
        refresher = "uac" if uac_timer else "uas"
    if refresher == "uac" and not uac_timer:
        refresher = "uas"  # §9: a UAC that does not support timers cannot refresh
    return SessionTimer(interval, refresher, uac_timer)  # type: ignore[arg-type]
