"""Phone numbers: tolerant parsing, strict E.164 storage, country lookup."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from . import text as text_rule

# Separators people write inside a number; stripped before the digit rule applies.
_STRIP = re.compile(r"[\s\-().]")
_NON_DIGITS = re.compile(r"[^0-9]")
MAX_INPUT = 64  # characters: the longest formatted E.164 number is far shorter


class InvalidNumber(ValueError):
    """The text is not a valid phone number in international form."""


@lru_cache(maxsize=65536)
def _parse(text: str) -> tuple[str, str | None]:
    # The phone-number rule: after the separators are stripped, an optional "+" (or
    # "00") and ASCII digits only. str.isdigit() would take Arabic-Indic or full-width
    # digits (phonenumbers then quietly maps them to ASCII), and "-1415…" is a negative
    # number, not a phone number.
    stripped = text.strip()
    if len(stripped) > MAX_INPUT or stripped.startswith("-"):
        raise InvalidNumber(text)
    cleaned = _STRIP.sub("", stripped)
    if cleaned.startswith("00"):
        cleaned = cleaned[2:]
    if not cleaned.startswith("+"):
        cleaned = "+" + cleaned
    digits = cleaned[1:]
    if not (digits.isascii() and digits.isdigit()) or not 4 <= len(cleaned) <= 16:
        raise InvalidNumber(text)
    try:
        parsed = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(text) from exc
    # is_valid_number(parsed) is exactly these two calls; the region is found once
    # rather than twice (it showed in the profile of a session create: issue 15)
    region = phonenumbers.region_code_for_number(parsed)
    if not phonenumbers.is_valid_number_for_region(parsed, region):
        raise InvalidNumber(text)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, region


def normalize(text: str) -> str:
    """Return ``text`` as E.164 with a leading ``+``; raise :class:`InvalidNumber`.

    Accepts the shapes real clients send: with or without ``+``, spaces, dashes,
    brackets, or a ``00`` international prefix.
    """
    return _parse(str(text))[0]


def country_of(e164: str) -> str | None:
    """ISO 3166 region of a valid number (``"US"``, ``"GB"``), used by geomatch."""
    return _parse(e164)[1]


def normalize_lenient(text: str) -> str:
    """Best-effort E.164 for numbers that arrive from the SIP edge or list filters.

    Invalid numbers are kept as ``+digits`` so that a lookup simply finds nothing
    instead of failing.
    """
    try:
        return normalize(text)
    except InvalidNumber:
        kept = str(text)[:MAX_INPUT]
        digits = _NON_DIGITS.sub("", kept)
        if digits:
            return "+" + digits
        # A lookup key must be storable text (a SIP From user may hold NUL or bytes
        # that are not UTF-8): such a key matches nothing, as it should.
        return kept if text_rule.problem(kept) is None else ""
