"""List filters as SQL: the one place comparisons parsed by ``domain.list_filters`` turn
into conditions, for every list (sessions, calls, recordings)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement

from ..domain.list_filters import Comparison

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def comparison_conditions(
    columns: Mapping[str, Any], comparisons: Iterable[Comparison]
) -> list[ColumnElement[bool]]:
    """``columns`` maps a filter's name to the column it compares."""
    return [OPERATORS[c.op](columns[c.column], c.value) for c in comparisons]
