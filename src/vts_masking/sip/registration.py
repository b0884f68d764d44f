"""Registration to a trunk (RFC 3261 §10) as a state machine without I/O.

A :class:`Registration` builds the REGISTER requests for one trunk and reads their
responses; the caller sends what it returns, feeds back responses and time-outs, and
calls :meth:`on_timer` at :meth:`next_deadline` — time is always passed in (monotonic
seconds), as in :mod:`vts_masking.sip.transaction`.

- One Call-ID and From tag for the life of the binding, CSeq + 1 per REGISTER (§10.2.4).
- 401/407 are answered with the trunk's :class:`~vts_masking.sip.digest.DigestClient`;
  a second challenge to one REGISTER (not ``stale``) is a failure, not a loop.
- 423 Interval Too Brief: the next REGISTER asks for the registrar's ``Min-Expires``.
- 2xx: the granted expiry is our Contact's ``expires`` (else ``Expires``, else what we
  asked); the refresh is due well before it (half-way for short bindings, 30 s ahead for
  long ones) so a lost REGISTER can still be retried inside the binding.
- Anything else, or no answer at all (Timer F): back-off, doubling from ``backoff_base``
  up to ``backoff_max`` with jitter (RFC 5626 §4.5's shape), then try again, forever.

Counters (``attempts``, ``successes``, ``failures``, ``challenges``) and :meth:`status`
feed the metrics page and ``vts-masking trunks status``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vts_masking.sip.digest import parse_challenges
from vts_masking.sip.message import (
    Headers,
    Request,
    Response,
    SipParseError,
    new_call_id,
    new_tag,
    parse_name_addr,
)
from vts_masking.sip.trunks import Trunk

__all__ = ["Registration", "refresh_delay"]


def refresh_delay(granted: float) -> float:
    """Seconds after a 2xx to refresh a binding granted for ``granted`` seconds."""
    return max(granted / 2, granted - 30)


@dataclass(slots=True)
class _Attempt:
    cseq: int
    answered: int = 0  # challenges this attempt already answered (a refusal is not retried)


class Registration:
    """Keeps one trunk's binding alive. ``via()`` gives a fresh Via for each REGISTER,
    ``contact`` is our Contact URI (``<sip:user@host:port>``)."""

    def __init__(
        self,
        trunk: Trunk,
        *,
        via: Callable[[], str],
        contact: str,
        backoff_base: float = 5.0,
        backoff_max: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        if trunk.credentials is None:
            raise ValueError(f"trunk {trunk.name}: registration needs credentials")
        self.trunk = trunk
        self.via = via
        self.contact = contact
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._rng = rng or random.Random()
        user = trunk.credentials.username
        self.aor = trunk.aor or f"{trunk.scheme}:{user}@{trunk.host}"
        self.registrar = trunk.registrar or f"{trunk.scheme}:{_host(trunk.host)}:{trunk.port}"
        self.call_id = new_call_id()
        self.tag = new_tag()
        self.cseq = 0
        self.requested = trunk.register_expires
        self.state = "idle"  # idle, registering, registered, backoff, unregistering, stopped
        self.granted: float | None = None
        self.expires_at: float | None = None  # the binding holds until then
        self.last_status: int | None = None
        self.last_error: str = ""
        self.consecutive_failures = 0
        self.attempts = 0
        self.successes = 0
        self.failures = 0
        self.challenges = 0
        self._due: float | None = None  # the next REGISTER (refresh or retry)
        self._attempt: _Attempt | None = None

    # -- inputs
    def start(self, now: float) -> list[Request]:
        """Register now (also after :meth:`stop`)."""
        return self._send(now, fresh=True)

    def stop(self, now: float) -> list[Request]:
        """Remove the binding (``Expires: 0``) if we hold one; no more refreshes."""
        held = self.expires_at is not None and self.expires_at > now
        self._due = None
        if not held:
            self.state = "stopped"
            return []
        self.state = "unregistering"
        return [self._request(0, self._next_cseq(fresh=True))]

    def on_response(self, response: Response, now: float) -> list[Request]:
        status = response.status
        attempt = self._attempt
        if status < 200 or attempt is None or response.cseq.number != attempt.cseq:
            return []  # provisional, or an answer to a REGISTER we no longer wait for
        self.last_status = status
        if self.state == "unregistering":
            self.state = "stopped"
            self.expires_at = None
            self._attempt = None
            return []
        if 200 <= status < 300:
            granted = self._granted(response)
            self.successes += 1
            self.consecutive_failures = 0
            self.last_error = ""
            self.state = "registered"
            self.granted = granted
            self.expires_at = now + granted
            self._due = now + refresh_delay(granted)
            self._attempt = None
            return []
        if status in (401, 407) and self.trunk.digest is not None:
            self.challenges += 1
            header = "proxy-authenticate" if status == 407 else "www-authenticate"
            challenges = parse_challenges(response.headers.get_all(header), proxy=status == 407)
            answer = self.trunk.digest.answer(
                challenges, "REGISTER", self.registrar, answered=attempt.answered
            )
            if answer is None:
                return self._fail(now, f"{status}: credentials refused")
            attempt.answered += 1
            return [self._request(self.requested, self._next_cseq(), [answer])]
        if status == 423:
            minimum = (response.headers.get("min-expires") or "").strip()
            if minimum.isascii() and minimum.isdigit() and int(minimum) > self.requested:
                self.requested = min(int(minimum), 86400)
                return [self._request(self.requested, self._next_cseq(fresh=True))]
        return self._fail(now, f"{status} {response.reason}")

    def on_timeout(self, now: float) -> list[Request]:
        """Our REGISTER got no final answer (Timer F, or the connection failed)."""
        if self.state == "unregistering":
            self.state = "stopped"
            self.expires_at = None
            return []
        return self._fail(now, "no answer")

    def next_deadline(self) -> float | None:
        return self._due

    def on_timer(self, now: float) -> list[Request]:
        if self._due is None or now < self._due:
            return []
        return self._send(now, fresh=True)

    # -- reading
    def registered(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at > now

    def status(self, now: float) -> dict[str, Any]:
        return {
            "trunk": self.trunk.name,
            "state": self.state,
            "registered": self.registered(now),
            "expires_in": round(self.expires_at - now, 1) if self.registered(now) else None,
            "next_register_in": round(max(0.0, self._due - now), 1) if self._due else None,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "attempts": self.attempts,
            "successes": self.successes,
            "failures": self.failures,
            "challenges": self.challenges,
        }

    # -- internals
    def _send(self, now: float, *, fresh: bool) -> list[Request]:
        self._due = None
        if self.state != "registered":
            self.state = "registering"
        return [self._request(self.requested, self._next_cseq(fresh=fresh))]

    def _next_cseq(self, *, fresh: bool = False) -> int:
        self.cseq += 1
        if fresh or self._attempt is None:
            self._attempt = _Attempt(self.cseq)
        else:
            self._attempt.cseq = self.cseq
        return self.cseq

    def _request(
        self, expires: int, cseq: int, auth: list[tuple[str, str]] | None = None
    ) -> Request:
        self.attempts += 1
        h = Headers()
        h.add("Via", self.via())
        h.add("Max-Forwards", "70")
        h.add("From", f"<{self.aor}>;tag={self.tag}")
        h.add("To", f"<{self.aor}>")
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{cseq} REGISTER")
        h.add("Contact", self.contact)
        h.add("Expires", str(expires))
        if auth is None and self.trunk.digest is not None:
            # nonce reuse: the registrar need not challenge every refresh
            auth = self.trunk.digest.preauthorize("REGISTER", self.registrar)
        for name, value in auth or ():
            h.add(name, value)
        return Request("REGISTER", self.registrar, h)

    def _granted(self, response: Response) -> float:
        ours = _contact_uri(self.contact)
        for value in response.headers.get_all("contact"):
            try:
                na = parse_name_addr(value)
            except SipParseError:
                continue
            if _same_contact(str(na.uri), ours):
                exp = na.params.get("expires")
                if exp and exp.isascii() and exp.isdigit():
                    return float(exp)
        header = (response.headers.get("expires") or "").strip()
        if header.isascii() and header.isdigit():
            return float(header)
        return float(self.requested)

    def _fail(self, now: float, why: str) -> list[Request]:
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = why
        self._attempt = None
        if self.trunk.digest is not None:
            self.trunk.digest.forget()  # the next try starts from a fresh challenge
        self.state = "backoff"
        wait = min(self.backoff_max, self.backoff_base * 2 ** (self.consecutive_failures - 1))
        wait *= 0.5 + self._rng.random() / 2
        if self.expires_at is not None and self.expires_at > now:
            # a binding still held: retry sooner than it lapses if we can
            wait = min(wait, max(1.0, (self.expires_at - now) / 2))
        self._due = now + wait
        return []


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _contact_uri(contact: str) -> str:
    try:
        return str(parse_name_addr(contact).uri)
    except SipParseError:
        return contact.strip("<>")


def _same_contact(a: str, b: str) -> bool:
    """Registrars echo our Contact with parameters of their own: compare user@host:port."""

    def core(u: str) -> str:
        return u.split(";", 1)[0].lower()

    return core(a) == core(b)
