"""List filters for sessions (spec §2.3): parsed and validated, no database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import coerce, errors, phone

STATUSES = ("active", "in-progress", "expired", "all")
OPERATORS = ("", "__gt", "__gte", "__lt", "__lte")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
MAX_LIMIT = 20


@dataclass(frozen=True)
class Comparison:
    column: str  # created_time | expiry_time | duration
    op: str  # eq | gt | gte | lt | lte
    value: Any


@dataclass(frozen=True)
class SessionFilters:
    first_party: str | None = None
    second_party: str | None = None
    virtual_number: str | None = None
    status: str = "all"
    subaccount: str | None = None
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)
    limit: int = MAX_LIMIT
    offset: int = 0


# Filter times are compared with a second (or more) added or taken off: at the edges
# of datetime's range (year 9999) that overflows, so the range is refused up front.
TIME_YEARS = (1900, 9998)


def parse_time(name: str, value: Any) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        for fmt in TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if not TIME_YEARS[0] <= parsed.year <= TIME_YEARS[1]:
                raise errors.out_of_range(name)
            return parsed
    raise errors.invalid(name, "must be a time written YYYY-MM-DD HH:MM[:SS[.ffffff]]")


def parse_paging(raw: Mapping[str, Any], max_limit: int = MAX_LIMIT) -> tuple[int, int]:
    limit = coerce.bounded("limit", raw.get("limit"), 1, max_limit)
    offset = coerce.integer("offset", raw.get("offset"))
    if offset is not None and offset < 0:
        raise errors.out_of_range("offset")
    return (max_limit if limit is None else limit), (offset or 0)


def parse_session_filters(raw: Mapping[str, Any]) -> SessionFilters:
    numbers: dict[str, str | None] = {}
    for name in ("first_party", "second_party", "virtual_number"):
        value = raw.get(name)
        numbers[name] = None if coerce.is_unset(value) else phone.normalize_lenient(str(value))
    status = coerce.choice("status", raw.get("status"), STATUSES, upper=False) or "all"
    comparisons: list[Comparison] = []
    for column in ("created_time", "expiry_time", "duration"):
        for suffix in OPERATORS:
            name = column + suffix
            value = raw.get(name)
            if coerce.is_unset(value):
                continue
            op = suffix[2:] or "eq"
            if column == "duration":
                # a duration is stored as a 32-bit integer (PostgreSQL's INTEGER): beyond
                # it a filter is outside the allowed range, not a database error
                parsed: Any = coerce.bounded(name, value, 0, 2**31 - 1)
            else:
                parsed = parse_time(name, value)
            comparisons.append(Comparison(column, op, parsed))
    subaccount = coerce.text("subaccount", raw.get("subaccount"), 20)
    limit, offset = parse_paging(raw)
    return SessionFilters(
        first_party=numbers["first_party"],
        second_party=numbers["second_party"],
        virtual_number=numbers["virtual_number"],
        status=status,
        subaccount=subaccount,
        comparisons=tuple(comparisons),
        limit=limit,
        offset=offset,
    )
