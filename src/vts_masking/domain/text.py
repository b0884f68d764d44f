"""The one rule for text that comes in through the API (issue 11): what a string may hold.

Every string of a request — JSON keys and values at any depth, form fields, query
parameters — must be a sequence of Unicode *scalar values* without NUL:

* a lone surrogate (``"\\udc80"`` written in raw JSON) is not text: it cannot be encoded
  as UTF-8, so storing it would break every later read of the row (PostgreSQL refuses
  it, ``json.dumps`` of an event payload and the HTTP delivery of it fail);
* NUL cannot be stored in PostgreSQL ``text`` and ends strings in C libraries (the
  resolver, libsndfile), so ``"http://example.com\\x00.evil/"`` would mean one thing
  here and another there.

:func:`problem` names what is wrong with a string (or ``None``); the API boundary
(:mod:`vts_masking.api.parsing`) applies it to everything before any reader sees it.

Parameters that are *identifiers or names* (subaccount names, number aliases, auth ids,
filters) additionally hold no control characters (:func:`control_problem`): a name is
shown in consoles, logs and CSV exports, where a newline forges a line and a bidi
override disguises the text after it.
"""

from __future__ import annotations

import unicodedata

# Bidi embedding/override/isolate controls (format characters, category Cf) that
# reorder what is displayed after them — the "Trojan Source" characters.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Categories refused in names: C0/C1 controls, line and paragraph separators.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def problem(value: str) -> str | None:
    """Why ``value`` is not acceptable request text, as the end of an error sentence."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (no unpaired surrogates)"
    return None


def control_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable as a name or identifier (``None`` when it is)."""
    if value.isascii():
        if value.isprintable():
            return None
        return "must not contain control characters"
    for ch in value:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _CONTROL_CATEGORIES:
            return "must not contain control characters"
    return None
