"""Billing: billed duration and amount of an answered leg.

What is billed: docs/calls.md#interactions-call-records-and-money.

Decimal only. The rate table maps destination prefixes (E.164 digits, no ``+``) to a
per-minute rate; the longest matching prefix wins, else the default rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

AMOUNT_QUANTUM = Decimal("0.00001")


@dataclass(frozen=True)
class RateTable:
    default_rate: Decimal = Decimal("0.01000")
    increment: int = 60
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def rate_for(self, number: str) -> Decimal:
        digits = number.lstrip("+")
        for cut in range(len(digits), 0, -1):
            rate = self.rates.get(digits[:cut])
            if rate is not None:
                return rate
        return self.default_rate

    def billed_duration(self, seconds: int) -> int:
        """Answered seconds rounded up to the billing increment (0 stays 0)."""
        if seconds <= 0:
            return 0
        return -(-seconds // self.increment) * self.increment

    def amount(self, number: str, seconds: int) -> tuple[int, Decimal]:
        billed = self.billed_duration(seconds)
        value = self.rate_for(number) * Decimal(billed) / Decimal(60)
        return billed, value.quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_UP)


def parse_rates(spec: str) -> dict[str, Decimal]:
    """Parse ``"1=0.0085,44=0.012"`` (prefix=rate per minute) into a mapping."""
    rates: dict[str, Decimal] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        prefix, _, rate = item.partition("=")
        rates[prefix.strip().lstrip("+")] = Decimal(rate.strip())
    return rates
