"""Tolerant readers for the shapes real clients send (spec §1 "must tolerate").

Each reader takes the parameter name and the raw value from a JSON or form body and
returns a clean Python value or raises :class:`InvalidParameter` naming the parameter.
``None`` means "not given" everywhere: JSON ``null`` and an empty form field both unset.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from . import errors

MAX_URL_LENGTH = 1000


def is_number(text: str) -> bool:
    """Only ASCII digits: ``str.isdigit()`` alone accepts "²", which ``int()`` refuses."""
    return text.isascii() and text.isdigit()


def is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def boolean(name: str, value: Any) -> bool | None:
    if is_unset(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    raise errors.invalid(name, "must be true or false")


def integer(name: str, value: Any) -> int | None:
    if is_unset(value):
        return None
    if isinstance(value, bool):
        raise errors.invalid(name, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        body = text[1:] if text[:1] in "+-" else text
        if is_number(body):
            return int(text)
    raise errors.invalid(name, "must be an integer")


def bounded(name: str, value: Any, low: int, high: int) -> int | None:
    number = integer(name, value)
    if number is not None and not low <= number <= high:
        raise errors.out_of_range(name)
    return number


def choice(name: str, value: Any, allowed: tuple[str, ...], *, upper: bool) -> str | None:
    if is_unset(value):
        return None
    if isinstance(value, str):
        text = value.strip().upper() if upper else value.strip().lower()
        if text in allowed:
            return text
    raise errors.allowed_values(name, allowed)


def url(name: str, value: Any) -> str | None:
    if is_unset(value):
        return None
    if not isinstance(value, str):
        raise errors.invalid(name, "must be a valid http or https URL")
    text = value.strip()
    if len(text) >= MAX_URL_LENGTH:
        raise errors.invalid(name, f"must be shorter than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise errors.invalid(name, "must be a valid http or https URL")
    if any(ch.isspace() for ch in text):
        raise errors.invalid(name, "must be a valid http or https URL")
    return text


def digits(name: str, value: Any, low: int, high: int) -> str | None:
    if is_unset(value):
        return None
    if isinstance(value, bool):
        raise errors.invalid(name, f"must be {low} to {high} digits")
    text = str(value).strip() if isinstance(value, int | str) else None
    if text is None or not is_number(text) or not low <= len(text) <= high:
        raise errors.invalid(name, f"must be {low} to {high} digits")
    return text


def text(name: str, value: Any, max_length: int = 255) -> str | None:
    if is_unset(value):
        return None
    if not isinstance(value, str | int):
        raise errors.invalid(name, "must be a string")
    result = str(value).strip()
    if len(result) > max_length:
        raise errors.invalid(name, f"must be at most {max_length} characters")
    return result
