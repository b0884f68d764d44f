"""Tolerant readers for the shapes real clients send (docs/reference.md#values).

Each reader takes the parameter name and the raw value from a JSON or form body and
returns a clean Python value or raises :class:`InvalidParameter` naming the parameter.
``None`` means "not given" everywhere: JSON ``null`` and an empty form field both unset.
"""

from __future__ import annotations

from typing import Any

from . import errors, outbound
from . import text as text_rule

MAX_URL_LENGTH = outbound.MAX_URL_LENGTH
#: the integer rule: digits counted before ``int()`` (which is quadratic in them and
#: refuses more than 4,300), and every integer inside the databases' 64-bit range
MAX_DIGITS = 18


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
    """An integer given as a number, a digit string or an integral float.

    One rule for every integer parameter: at most :data:`MAX_DIGITS` digits (a longer
    one is outside any range the API has, and is refused before ``int()`` sees it).
    """
    if is_unset(value):
        return None
    if isinstance(value, bool):
        raise errors.invalid(name, "must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        body = text[1:] if text[:1] in "+-" else text
        if not is_number(body):
            raise errors.invalid(name, "must be an integer")
        if len(body) > MAX_DIGITS:
            raise errors.out_of_range(name)
        number = int(text)
    else:
        raise errors.invalid(name, "must be an integer")
    if abs(number) >= 10**MAX_DIGITS:
        raise errors.out_of_range(name)
    return number


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
    """An http(s) URL of an acceptable shape (:func:`outbound.parse`). Whether its target
    may be reached is the API's second check, which knows the operator's settings."""
    if is_unset(value):
        return None
    if not isinstance(value, str):
        raise errors.invalid(name, "must be a valid http or https URL")
    text = value.strip()
    if len(text) >= MAX_URL_LENGTH:
        raise errors.invalid(name, f"must be shorter than {MAX_URL_LENGTH} characters")
    try:
        outbound.parse(text)
    except outbound.UnsafeUrl as exc:
        if exc.reason.startswith(("scheme", "has no host", "malformed", "not a URL")):
            raise errors.invalid(name, "must be a valid http or https URL") from None
        raise errors.invalid(name, f"must be a valid http or https URL ({exc.reason})") from None
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
    """A name or identifier: at most ``max_length`` characters, no control characters."""
    if is_unset(value):
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise errors.invalid(name, "must be a string")
    result = str(value).strip()
    if len(result) > max_length:
        raise errors.invalid(name, f"must be at most {max_length} characters")
    why = text_rule.problem(result) or text_rule.control_problem(result)
    if why is not None:
        raise errors.invalid(name, why)
    return result
