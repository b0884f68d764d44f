"""The allocation rule (docs/reference.md#allocation) expressed as binding keys.

A session *binds* keys on its virtual number; the store keeps a unique index on
(number, key) over live bindings, so the database itself refuses a second holder:

* each registered party's E.164 number — the rule that (virtual number, caller) names
  one session. A party key outlives the session by its cool-off period;
* ``"*"`` for a single-party session without PIN authentication — at most one per number;
* ``"pin:<digits>"`` for each PIN of a PIN session — PINs unique per number.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

SINGLE_PARTY_KEY = "*"
PIN_PREFIX = "pin:"


def pin_key(pin: str) -> str:
    return PIN_PREFIX + pin


@dataclass(frozen=True)
class Binding:
    key: str
    blocked_until: datetime


def session_bindings(
    *,
    parties: tuple[str, ...],
    single_party: bool,
    pin_required: bool,
    pins: tuple[str | None, ...],
    ends_at: datetime,
    cooloff_seconds: int,
) -> list[Binding]:
    """Every key a session holds on its number and until when it holds it."""
    cooloff_end = ends_at + timedelta(seconds=cooloff_seconds)
    keys = [Binding(p, cooloff_end) for p in parties]
    if single_party and len(parties) == 1 and not pin_required:
        keys.append(Binding(SINGLE_PARTY_KEY, ends_at))
    if pin_required:
        keys.extend(Binding(pin_key(p), ends_at) for p in pins if p)
    return keys


def generate_pin(length: int) -> str:
    """A uniformly random PIN of ``length`` digits (leading zeros allowed)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def spread_start() -> float:
    """Where in the pool's random order a search starts, so load spreads evenly.

    Each number carries a fixed random ``spread`` value; allocation walks the pool in
    that order from a random point and wraps around, so every free number is reachable
    (completeness) and no number is systematically first (spread).
    """
    return secrets.randbelow(1 << 30) / float(1 << 30)
