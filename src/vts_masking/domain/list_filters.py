"""List filters of sessions, calls and recordings: parsed and validated, no database
(docs/reference.md#lists-and-pagination).

Time filters follow the precision the value is written with. Times are stored with
microseconds but shown to the second, so a customer who copies a session's own
``created_time`` ("2026-11-26 13:32:21") into ``created_time__lte`` means "up to and
including that second", not "up to 13:32:21.000000". A value written to the second
therefore stands for the whole second (``__lte X`` is ``< X+1s``, ``__gt X`` is
``>= X+1s``, ``= X`` is the second), one written to the minute for the whole minute,
and one with a fractional part for that exact instant. The comparisons come out
normalised to ``gt``/``gte``/``lt``/``lte``/``eq`` on plain values, so every store
query applies them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import coerce, errors, phone

STATUSES = ("active", "in-progress", "expired", "all")
OPERATORS = ("", "__gt", "__gte", "__lt", "__lte")
# Each format with the span of time a value written in it stands for.
TIME_FORMATS = (
    ("%Y-%m-%d %H:%M:%S.%f", timedelta(0)),
    ("%Y-%m-%d %H:%M:%S", timedelta(seconds=1)),
    ("%Y-%m-%d %H:%M", timedelta(minutes=1)),
)
MAX_LIMIT = 20

# Integer filters compare with 32-bit columns (durations, cause codes): a value past them
# is refused, as PostgreSQL would fail the comparison. Days kept stay within a century,
# so that many days before now is still a date.
INT_FILTER_RANGE = (0, 2**31 - 1)
DAYS_FILTER_RANGE = (0, 36_500)

SESSION_TIMES = ("created_time", "expiry_time")
SESSION_INTEGERS = ("duration",)


@dataclass(frozen=True)
class Comparison:
    column: str  # the filter's name, e.g. created_time, end_time, bill_duration
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


def parse_time(name: str, value: Any) -> tuple[datetime, timedelta]:
    """A filter's time and the span it stands for (0 when written with a fraction)."""
    if isinstance(value, str):
        text = value.strip()
        for fmt, span in TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if not TIME_YEARS[0] <= parsed.year <= TIME_YEARS[1]:
                raise errors.out_of_range(name)
            return parsed, span
    raise errors.invalid(name, "must be a time written YYYY-MM-DD HH:MM[:SS[.ffffff]]")


def time_comparisons(column: str, op: str, value: datetime, span: timedelta) -> list[Comparison]:
    """``column <op> value`` where ``value`` stands for ``[value, value + span)``."""
    if not span:
        return [Comparison(column, op, value)]
    end = value + span
    ranges = {
        "eq": [("gte", value), ("lt", end)],
        "gt": [("gte", end)],
        "gte": [("gte", value)],
        "lt": [("lt", value)],
        "lte": [("lt", end)],
    }
    return [Comparison(column, o, v) for o, v in ranges[op]]


def parse_comparisons(
    raw: Mapping[str, Any], times: tuple[str, ...], integers: tuple[str, ...] = ()
) -> tuple[Comparison, ...]:
    """Every ``<column>[__gt|__gte|__lt|__lte]`` filter of ``raw`` for the given columns."""
    found: list[Comparison] = []
    for column in (*times, *integers):
        for suffix in OPERATORS:
            name = column + suffix
            value = raw.get(name)
            if coerce.is_unset(value):
                continue
            op = suffix[2:] or "eq"
            if column in integers:
                low, high = DAYS_FILTER_RANGE if column in DAY_FILTERS else INT_FILTER_RANGE
                found.append(Comparison(column, op, coerce.bounded(name, value, low, high)))
            else:
                found += time_comparisons(column, op, *parse_time(name, value))
    return tuple(found)


def parse_paging(raw: Mapping[str, Any], max_limit: int = MAX_LIMIT) -> tuple[int, int]:
    limit = coerce.bounded("limit", raw.get("limit"), 1, max_limit)
    offset = coerce.integer("offset", raw.get("offset"))
    if offset is not None and offset < 0:
        raise errors.out_of_range("offset")
    return (max_limit if limit is None else limit), (offset or 0)


def parse_number(raw: Mapping[str, Any], name: str) -> str | None:
    """An exact-number filter, in any number format (``None`` when not given)."""
    value = raw.get(name)
    return None if coerce.is_unset(value) else phone.normalize_lenient(str(value))


def parse_session_filters(raw: Mapping[str, Any]) -> SessionFilters:
    status = coerce.choice("status", raw.get("status"), STATUSES, upper=False) or "all"
    subaccount = coerce.text("subaccount", raw.get("subaccount"), 20)
    limit, offset = parse_paging(raw)
    return SessionFilters(
        first_party=parse_number(raw, "first_party"),
        second_party=parse_number(raw, "second_party"),
        virtual_number=parse_number(raw, "virtual_number"),
        status=status,
        subaccount=subaccount,
        comparisons=parse_comparisons(raw, SESSION_TIMES, SESSION_INTEGERS),
        limit=limit,
        offset=offset,
    )


# -- filters on what this service does not keep ----------------------------------------

# The family's filters on data a masking service has no such thing as. Ignoring one would
# answer every object as if it matched, so each is refused, naming the filter.
UNKEPT_CALL_FILTERS = ("hangup_source",)
UNKEPT_RECORDING_FILTERS = ("conference_name", "conference_uuid", "mpc_name", "mpc_uuid")
UNKEPT_NUMBER_FILTERS = (
    *(f"renewal_date{op}" for op in OPERATORS),
    "tendlc_registration_status",
    "tendlc_campaign_id",
    "toll_free_sms_verification",
    "toll_free_sms_verification_order_status",
    "cnam_lookup",
)


def refuse_unkept(raw: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if not coerce.is_unset(raw.get(name)):
            raise errors.invalid(name, "is not kept by this service")


# -- calls and recordings ------------------------------------------------------------

CALL_TIMES = ("initiation_time", "answer_time", "end_time")
CALL_INTEGERS = ("bill_duration",)
# The family's live and queued views of ``GET .../Call/``, then the states a leg record
# can be in (``call_status``).
CALL_VIEWS = ("live", "queued")
CALL_STATUSES = ("ringing", "in-progress", "completed", "busy", "no-answer", "canceled", "failed")
RECORDING_TIMES = ("add_time",)
RECORDING_INTEGERS = ("recording_storage_duration",)  # whole days since add_time
DAY_FILTERS = RECORDING_INTEGERS


@dataclass(frozen=True)
class CallFilters:
    session_uuid: str | None = None
    subaccount: str | None = None
    call_direction: str | None = None
    from_prefix: str | None = None  # "+" and digits: the family matches a number or a prefix
    to_prefix: str | None = None
    call_status: str | None = None
    live: bool = False  # only legs still up (the family's status=live)
    parent_call_uuid: str | None = None
    hangup_cause_code: int | None = None
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)
    limit: int = MAX_LIMIT
    offset: int = 0


def parse_prefix(raw: Mapping[str, Any], name: str) -> str | None:
    """A number-or-prefix filter (``from_number``, ``to_number``) as ``+`` and digits;
    spaces, dashes and brackets are dropped as in any number the API reads."""
    value = coerce.text(name, raw.get(name), 32)
    if value is None:
        return None
    digits = "".join(ch for ch in value if ch not in " -().+")
    if not digits or not coerce.is_number(digits):
        raise errors.invalid(name, "must be a phone number or the first digits of one")
    return "+" + digits


def parse_call_filters(raw: Mapping[str, Any]) -> tuple[str | None, CallFilters]:
    """The family's view asked for (``live``/``queued``, or ``None`` for call records) and
    the filters. ``status`` takes either a view or a leg state."""
    status = coerce.choice("status", raw.get("status"), CALL_VIEWS + CALL_STATUSES, upper=False)
    view = status if status in CALL_VIEWS else None
    refuse_unkept(raw, UNKEPT_CALL_FILTERS)
    limit, offset = parse_paging(raw)
    return view, CallFilters(
        session_uuid=coerce.text("session_uuid", raw.get("session_uuid"), 36),
        subaccount=coerce.text("subaccount", raw.get("subaccount"), 20),
        call_direction=coerce.choice(
            "call_direction", raw.get("call_direction"), ("inbound", "outbound"), upper=False
        ),
        from_prefix=parse_prefix(raw, "from_number"),
        to_prefix=parse_prefix(raw, "to_number"),
        call_status=None if view else status,
        live=view == "live",
        parent_call_uuid=coerce.text("parent_call_uuid", raw.get("parent_call_uuid"), 36),
        hangup_cause_code=coerce.bounded(
            "hangup_cause_code", raw.get("hangup_cause_code"), *INT_FILTER_RANGE
        ),
        comparisons=parse_comparisons(raw, CALL_TIMES, CALL_INTEGERS),
        limit=limit,
        offset=offset,
    )


@dataclass(frozen=True)
class RecordingFilters:
    session_uuid: str | None = None
    call_uuid: str | None = None
    subaccount: str | None = None
    from_prefix: str | None = None
    to_prefix: str | None = None
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)
    limit: int = MAX_LIMIT
    offset: int = 0


def storage_days_as_times(
    comparisons: tuple[Comparison, ...], now: datetime
) -> tuple[Comparison, ...]:
    """``recording_storage_duration`` (whole days since ``add_time``) comparisons as
    ``add_time`` ones at ``now``: ``days > N`` is ``add_time <= now - (N+1) days``, and
    so on; the others pass through."""
    out: list[Comparison] = []
    for c in comparisons:
        if c.column != "recording_storage_duration":
            out.append(c)
            continue
        n = timedelta(days=c.value)
        day = timedelta(days=1)
        out += [
            Comparison("add_time", op, value)
            for op, value in {
                "gt": [("lte", now - n - day)],
                "gte": [("lte", now - n)],
                "lt": [("gt", now - n)],
                "lte": [("gt", now - n - day)],
                "eq": [("gt", now - n - day), ("lte", now - n)],
            }[c.op]
        ]
    return tuple(out)


def parse_recording_filters(raw: Mapping[str, Any]) -> RecordingFilters:
    refuse_unkept(raw, UNKEPT_RECORDING_FILTERS)
    limit, offset = parse_paging(raw)
    return RecordingFilters(
        session_uuid=coerce.text("session_uuid", raw.get("session_uuid"), 36),
        call_uuid=coerce.text("call_uuid", raw.get("call_uuid"), 36),
        subaccount=coerce.text("subaccount", raw.get("subaccount"), 20),
        from_prefix=parse_prefix(raw, "from_number"),
        to_prefix=parse_prefix(raw, "to_number"),
        comparisons=parse_comparisons(raw, RECORDING_TIMES, RECORDING_INTEGERS),
        limit=limit,
        offset=offset,
    )
