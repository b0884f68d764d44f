"""Time filters take the precision they are written with (domain/list_filters.py)."""

from __future__ import annotations

from datetime import datetime

import pytest

from vts_masking.domain.errors import InvalidParameter
from vts_masking.domain.list_filters import Comparison, parse_call_filters, parse_comparisons

X = datetime(2026, 1, 2, 3, 4, 5)
NEXT = datetime(2026, 1, 2, 3, 4, 6)


def ops(**raw: object) -> set[tuple[str, datetime]]:
    return {(c.op, c.value) for c in parse_comparisons(raw, ("created_time",))}


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        ("", {("gte", X), ("lt", NEXT)}),
        ("__gt", {("gte", NEXT)}),
        ("__gte", {("gte", X)}),
        ("__lt", {("lt", X)}),
        ("__lte", {("lt", NEXT)}),
    ],
)
def test_a_value_to_the_second_stands_for_the_whole_second(suffix: str, expected: set) -> None:
    assert ops(**{f"created_time{suffix}": "2026-01-02 03:04:05"}) == expected


def test_a_value_to_the_minute_stands_for_the_whole_minute() -> None:
    assert ops(created_time__lte="2026-01-02 03:04") == {("lt", datetime(2026, 1, 2, 3, 5))}


def test_a_value_with_a_fraction_is_exact() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 120000)
    assert ops(created_time__lte="2026-01-02 03:04:05.12") == {("lte", at)}
    assert ops(created_time="2026-01-02 03:04:05.12") == {("eq", at)}


def test_integers_compare_as_given() -> None:
    found = parse_comparisons({"duration__gte": "60"}, (), ("duration",))
    assert found == (Comparison("duration", "gte", 60),)


def test_call_status_is_a_view_or_a_leg_state() -> None:
    view, filters = parse_call_filters({"status": "LIVE"})
    assert (view, filters.live, filters.call_status) == ("live", True, None)
    view, filters = parse_call_filters({"status": "busy"})
    assert (view, filters.live, filters.call_status) == (None, False, "busy")


def test_a_number_prefix_keeps_only_digits() -> None:
    _, filters = parse_call_filters({"from_number": "+1 (415) 555", "to_number": "44"})
    assert (filters.from_prefix, filters.to_prefix) == ("+1415555", "+44")
    with pytest.raises(InvalidParameter):
        parse_call_filters({"to_number": "1²"})
