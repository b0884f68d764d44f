"""Binding keys, PINs and billing: the pure halves of allocation and money."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from vts_masking.domain import allocation
from vts_masking.domain.billing import RateTable, parse_rates
from vts_masking.domain.phone import country_of, normalize
from vts_masking.domain.views import effective_status

END = datetime(2026, 1, 1, 12, 0)


def test_two_party_session_binds_both_parties_through_the_cooloff() -> None:
    keys = allocation.session_bindings(
        parties=("+1", "+2"),
        single_party=False,
        pin_required=False,
        pins=(None, None),
        ends_at=END,
        cooloff_seconds=60,
    )
    assert {(b.key, b.blocked_until) for b in keys} == {
        ("+1", END + timedelta(seconds=60)),
        ("+2", END + timedelta(seconds=60)),
    }


def test_single_party_without_pin_takes_the_numbers_wildcard() -> None:
    keys = allocation.session_bindings(
        parties=("+1",),
        single_party=True,
        pin_required=False,
        pins=(None, None),
        ends_at=END,
        cooloff_seconds=0,
    )
    assert [b.key for b in keys] == ["+1", allocation.SINGLE_PARTY_KEY]


def test_pin_session_binds_its_pins_not_the_wildcard() -> None:
    keys = allocation.session_bindings(
        parties=("+1",),
        single_party=True,
        pin_required=True,
        pins=("1234", "5678"),
        ends_at=END,
        cooloff_seconds=0,
    )
    assert [b.key for b in keys] == ["+1", "pin:1234", "pin:5678"]


def test_generated_pin_has_the_length_asked() -> None:
    assert all(
        len(allocation.generate_pin(n)) == n and allocation.generate_pin(n).isdigit()
        for n in range(4, 16)
    )


def test_spread_start_is_in_unit_interval() -> None:
    assert all(0 <= allocation.spread_start() < 1 for _ in range(100))


def test_billing_rounds_up_to_the_increment_and_uses_longest_prefix() -> None:
    table = RateTable(
        default_rate=Decimal("0.02"), increment=60, rates=parse_rates("1=0.01,1415=0.005")
    )
    assert table.billed_duration(0) == 0
    assert table.billed_duration(1) == 60 and table.billed_duration(61) == 120
    assert table.amount("+14155550001", 61) == (120, Decimal("0.01000"))
    assert table.amount("+12125550001", 30) == (60, Decimal("0.01000"))
    assert table.amount("+442071838750", 60) == (60, Decimal("0.02000"))


def test_phone_country_and_normalisation() -> None:
    assert normalize("0044 20 7183 8750") == "+442071838750"
    assert country_of("+442071838750") == "GB"


def test_effective_status() -> None:
    later = END + timedelta(seconds=1)
    assert effective_status("active", 0, later, END) == "active"
    assert effective_status("active", 0, END, END) == "expired"
    assert effective_status("active", 1, END, later) == "in-progress"
    assert effective_status("expired", 0, later, END) == "expired"
