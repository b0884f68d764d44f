"""SIP digest authentication (RFC 3261 §22, RFC 8760) without I/O, both ways.

Client side — a trunk that challenges us: :func:`parse_challenges` reads the
``WWW-Authenticate`` / ``Proxy-Authenticate`` values of a 401/407, :func:`best_challenge`
picks the strongest algorithm we support (SHA-512-256, SHA-256, MD5, RFC 8760 §2.4: the
first of the strongest), and a :class:`DigestClient` (one per trunk) answers it. The client
keeps the last challenge per realm, so every later request to that realm is authorized
up front with the same nonce and the next nonce count (``nc``) — RFC 7616 §3.4's nonce
reuse — until the server says ``stale=true`` or challenges again.

Server side — a trunk that must authenticate to us: :class:`DigestServer` issues nonces
that carry their own issue time and an HMAC over it (no nonce table to keep or share
between nodes), and checks an ``Authorization`` value against a password (or a stored
HA1). An expired nonce is answered with a fresh challenge marked ``stale=true``.

``qop=auth`` is used whenever the challenge offers it; ``auth-int`` is never chosen, and a
challenge offering only ``auth-int`` counts as unusable (we would have to hash the bodies
we relay), as does an algorithm we do not know.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from vts_masking.sip.message import split_commas

__all__ = [
    "ALGORITHMS",
    "Challenge",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "Verdict",
    "best_challenge",
    "digest_response",
    "format_params",
    "parse_auth_params",
    "parse_challenges",
]


def _h(name: str) -> Callable[[bytes], str]:
    def digest(data: bytes) -> str:
        return hashlib.new(name, data).hexdigest()

    return digest


def _sha512_256_available() -> bool:
    try:
        hashlib.new("sha512_256", b"")
    except ValueError:
        return False
    return True


#: algorithm name (upper case, as in the challenge) → hash of bytes to lower-case hex,
#: strongest first
ALGORITHMS: dict[str, Callable[[bytes], str]] = {}
if _sha512_256_available():
    ALGORITHMS["SHA-512-256"] = _h("sha512_256")
ALGORITHMS["SHA-256"] = _h("sha256")
ALGORITHMS["MD5"] = _h("md5")
_STRENGTH = {name: i for i, name in enumerate(ALGORITHMS)}


# --------------------------------------------------------------------------- parsing


def parse_auth_params(text: str) -> dict[str, str]:
    """``a="x, y", b=z`` → {"a": "x, y", "b": "z"} (names lower-cased, quotes removed)."""
    out: dict[str, str] = {}
    for part in split_commas(text):
        name, eq, value = part.partition("=")
        if not eq:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[name.strip().lower()] = value
    return out


def format_params(params: list[tuple[str, str, bool]]) -> str:
    """Write ``name=value`` pairs, quoted where ``True``, joined by ", "."""
    parts = []
    for name, value, quoted in params:
        if quoted:
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{name}={value}")
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``Digest`` challenge of a 401 (``www``) or 407 (``proxy``) response."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    proxy: bool = False

    @property
    def header(self) -> str:
        """The request header that answers it."""
        return "Proxy-Authorization" if self.proxy else "Authorization"

    @property
    def supported(self) -> bool:
        return self.algorithm in ALGORITHMS and (not self.qop or "auth" in self.qop)

    def to_header_value(self) -> str:
        params = [("realm", self.realm, True), ("nonce", self.nonce, True)]
        if self.opaque is not None:
            params.append(("opaque", self.opaque, True))
        params.append(("algorithm", self.algorithm, False))
        if self.qop:
            params.append(("qop", ",".join(self.qop), True))
        if self.stale:
            params.append(("stale", "true", False))
        return "Digest " + format_params(params)


def _split_schemes(value: str) -> list[tuple[str, str]]:
    """One header value may hold several challenges: ``Digest a=1, b=2, Digest a=3``."""
    out: list[tuple[str, str]] = []
    for part in split_commas(value):
        first, _, rest = part.partition(" ")
        if "=" not in first and first:  # a new scheme starts here
            out.append((first.lower(), rest.strip()))
        elif out:
            scheme, params = out[-1]
            out[-1] = (scheme, f"{params}, {part}" if params else part)
    return out


def parse_challenges(values: list[str], *, proxy: bool = False) -> list[Challenge]:
    """Every usable-looking ``Digest`` challenge in the header values (others skipped)."""
    out: list[Challenge] = []
    for value in values:
        for scheme, text in _split_schemes(value):
            if scheme != "digest":
                continue
            p = parse_auth_params(text)
            if "realm" not in p or "nonce" not in p:
                continue
            qop = tuple(q.strip().lower() for q in p.get("qop", "").split(",") if q.strip())
            out.append(
                Challenge(
                    realm=p["realm"],
                    nonce=p["nonce"],
                    algorithm=(p.get("algorithm") or "MD5").upper(),
                    qop=qop,
                    opaque=p.get("opaque"),
                    stale=p.get("stale", "").lower() == "true",
                    proxy=proxy,
                )
            )
    return out


def best_challenge(challenges: list[Challenge]) -> Challenge | None:
    """RFC 8760 §2.4: the strongest algorithm we support, first of equals (None: none)."""
    usable = [c for c in challenges if c.supported]
    if not usable:
        return None
    return min(usable, key=lambda c: _STRENGTH[c.algorithm])


# --------------------------------------------------------------------------- computing


def _ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    return ALGORITHMS[algorithm](f"{username}:{realm}:{password}".encode())


def digest_response(
    *,
    algorithm: str,
    ha1: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """RFC 3261 §22.4 / RFC 7616 §3.4.1 ``response`` from HA1 (qop ``auth`` or none)."""
    h = ALGORITHMS[algorithm]
    ha2 = h(f"{method}:{uri}".encode())
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())
    return h(f"{ha1}:{nonce}:{ha2}".encode())


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a trunk gave us. ``realm`` None: answer any realm it challenges with."""

    username: str
    password: str
    realm: str | None = None


@dataclass(slots=True)
class _Nonce:
    challenge: Challenge
    count: int = 0


@dataclass(slots=True)
class DigestClient:
    """Answers one trunk's challenges; remembers them to authorize later requests.

    ``cnonce`` makes client nonces (injectable for tests). Counters (``challenges``,
    ``answered``, ``rejected``) feed the trunk's metrics.
    """

    credentials: Credentials
    cnonce: Callable[[], str] = field(default=lambda: secrets.token_hex(8))
    _nonces: dict[tuple[str, bool], _Nonce] = field(default_factory=dict)
    challenges: int = 0
    answered: int = 0
    rejected: int = 0

    def answer(
        self, challenges: list[Challenge], method: str, uri: str, *, answered: int = 0
    ) -> tuple[str, str] | None:
        """(header name, value) answering a 401/407 to ``method uri``; None if we should
        give up: no usable challenge, another realm than ours, or credentials already
        refused — ``answered`` is how many challenges this request (its chain of
        resubmissions) has answered, and a new challenge after one of ours is a refusal
        unless it says ``stale=true`` (RFC 3261 §22.2: never retry refused credentials).
        A challenge to a request we preauthorized from a remembered nonce is answered."""
        self.challenges += 1
        chosen = best_challenge(challenges)
        creds = self.credentials
        if chosen is None or (creds.realm is not None and chosen.realm != creds.realm):
            self.rejected += 1
            return None
        if answered >= (3 if chosen.stale else 1):
            self.rejected += 1
            self._nonces.pop((chosen.realm, chosen.proxy), None)
            return None
        self._nonces[(chosen.realm, chosen.proxy)] = _Nonce(chosen)
        self.answered += 1
        return self._authorize(self._nonces[(chosen.realm, chosen.proxy)], method, uri)

    def preauthorize(self, method: str, uri: str) -> list[tuple[str, str]]:
        """Headers authorizing a new request with the nonces we already hold (nonce reuse,
        the next ``nc``), so the trunk need not challenge every request."""
        return [self._authorize(n, method, uri) for n in self._nonces.values()]

    def forget(self) -> None:
        self._nonces.clear()

    def _authorize(self, state: _Nonce, method: str, uri: str) -> tuple[str, str]:
        c = state.challenge
        creds = self.credentials
        ha1 = _ha1(c.algorithm, creds.username, c.realm, creds.password)
        params = [
            ("username", creds.username, True),
            ("realm", c.realm, True),
            ("nonce", c.nonce, True),
            ("uri", uri, True),
        ]
        if "auth" in c.qop:
            state.count += 1
            nc = f"{state.count:08x}"
            cnonce = self.cnonce()
            response = digest_response(
                algorithm=c.algorithm,
                ha1=ha1,
                method=method,
                uri=uri,
                nonce=c.nonce,
                qop="auth",
                nc=nc,
                cnonce=cnonce,
            )
            params += [
                ("response", response, True),
                ("algorithm", c.algorithm, False),
                ("cnonce", cnonce, True),
                ("qop", "auth", False),
                ("nc", nc, False),
            ]
        else:
            response = digest_response(
                algorithm=c.algorithm, ha1=ha1, method=method, uri=uri, nonce=c.nonce, qop=None
            )
            params += [("response", response, True), ("algorithm", c.algorithm, False)]
        if c.opaque is not None:
            params.append(("opaque", c.opaque, True))
        return c.header, "Digest " + format_params(params)


# --------------------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :meth:`DigestServer.check` found. Not ``ok``: challenge again, with
    ``stale=true`` when ``stale`` (right password, expired nonce: RFC 7616 §3.3)."""

    ok: bool
    username: str | None = None
    stale: bool = False
    reason: str = ""


class DigestServer:
    """Challenges requests and checks their answers (a UAS: 401 + ``WWW-Authenticate``).

    Nonces are ``<issued>.<random>.<hmac>``: valid for ``lifetime`` seconds of the
    monotonic time passed in, checkable by any node that shares ``secret``. Replays within
    the lifetime are accepted (no nonce-count table): a replayed INVITE is still a call
    from an address the access list already admitted, and refusing it would need state
    shared between nodes.
    """

    def __init__(
        self,
        realm: str,
        users: dict[str, str],
        *,
        secret: bytes | None = None,
        lifetime: float = 300.0,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
    ) -> None:
        self.realm = realm
        self.users = dict(users)
        self.secret = secret or secrets.token_bytes(32)
        self.lifetime = lifetime
        self.algorithms = tuple(a for a in algorithms if a in ALGORITHMS) or ("MD5",)

    def _sign(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    def new_nonce(self, now: float) -> str:
        body = f"{now:.3f}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}"

    def challenges(self, now: float, *, stale: bool = False) -> list[Challenge]:
        """One challenge per algorithm (strongest first, RFC 8760 §2.4), one nonce."""
        nonce = self.new_nonce(now)
        return [
            Challenge(self.realm, nonce, algorithm=a, qop=("auth",), stale=stale)
            for a in self.algorithms
        ]

    def _nonce_age(self, nonce: str, now: float) -> float | None:
        body, _, sig = nonce.rpartition(".")
        issued, _, _rand = body.partition(".")
        if not body or not hmac.compare_digest(sig, self._sign(body)):
            return None
        try:
            return now - float(issued)
        except ValueError:
            return None

    def check(self, method: str, authorization: str | None, now: float) -> Verdict:
        """Check an ``Authorization`` value (None: none sent) for ``method``."""
        if not authorization or not authorization.lower().startswith("digest "):
            return Verdict(False, reason="no credentials")
        p = parse_auth_params(authorization[7:])
        username = p.get("username", "")
        algorithm = (p.get("algorithm") or "MD5").upper()
        password = self.users.get(username)
        if password is None or p.get("realm") != self.realm or algorithm not in self.algorithms:
            return Verdict(False, username, reason="unknown user, realm or algorithm")
        nonce = p.get("nonce", "")
        age = self._nonce_age(nonce, now)
        if age is None or age < 0:
            return Verdict(False, username, reason="not our nonce")
        qop = p.get("qop")
        if qop not in (None, "auth"):
            return Verdict(False, username, reason="unsupported qop")
        expected = digest_response(
            algorithm=algorithm,
            ha1=_ha1(algorithm, username, self.realm, password),
            method=method,
            uri=p.get("uri", ""),
            nonce=nonce,
            qop=qop,
            nc=p.get("nc", ""),
            cnonce=p.get("cnonce", ""),
        )
        if not hmac.compare_digest(expected, p.get("response", "").lower()):
            return Verdict(False, username, reason="wrong response")
        if age > self.lifetime:
            # right password, old nonce: the client retries at once with a fresh one
            return Verdict(False, username, stale=True, reason="stale nonce")
        return Verdict(True, username)
