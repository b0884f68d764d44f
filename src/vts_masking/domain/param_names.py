"""The parameter names official SDKs really send, mapped to the API's own names.

One mapping for every resource, applied to a request's parameters before anything reads
them (``canonical``). It exists because customers' working code wins over the letter of
the API's documentation: the official Node SDK takes camelCase options and turns them into
snake_case with lodash's ``snakeCase`` plus a few rewrites of its own (``rest/utils.js``,
``camelCaseRequestWrapper``), which produces names no documentation lists:

- ``subAccount`` becomes ``sub_account`` and ``geoMatch`` becomes ``geo_match``;
- ``createdTimeEquals`` becomes ``created_times``: its rewrite of ``_equal`` to nothing
  runs before the one of ``_equals``, leaving the ``s`` (``expiryTimeEquals``,
  ``durationEquals``, ``endTimeEquals``… alike);
- a filter written in snake case, ``created_time__lte``, comes out as
  ``created_time_lte``: ``snakeCase`` collapses the double underscore (the SDK keeps it
  only for a fixed list of names: ``end_time__*``, ``bill_duration__*``, ``add_time__*``).

The official Go SDK tags its single-party flag ``create_session_with_single_Party``.
When a request carries both an alias and the API's own name, the API's own name wins
(unless it is unset: ``null`` or empty, which means "not given").
Other unknown keys stay as they are (and are ignored, as the API does with unknown keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .coerce import is_unset

# Every name that takes the family's comparison suffixes, in any list.
COMPARABLE = (
    "created_time",
    "expiry_time",
    "duration",
    "initiation_time",
    "answer_time",
    "end_time",
    "bill_duration",
    "add_time",
)
COMPARISONS = ("gt", "gte", "lt", "lte")

ALIASES: dict[str, str] = {
    "sub_account": "subaccount",
    "geo_match": "geomatch",
    "create_session_with_single_Party": "create_session_with_single_party",
    **{f"{name}s": name for name in COMPARABLE},
    **{f"{name}_{op}": f"{name}__{op}" for name in COMPARABLE for op in COMPARISONS},
}


def canonical(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with every alias renamed to the API's own name."""
    params = dict(raw)
    for alias, name in ALIASES.items():
        if alias in params:
            value = params.pop(alias)
            if is_unset(params.get(name)):
                params[name] = value
    return params
