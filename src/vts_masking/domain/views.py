"""How a stored session reads to the customer (spec §2.4), as pure functions of its row."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# The validated parameters kept in the row's JSON ``params`` column, in response order.
PARAM_FIELDS = (
    "initiate_call_to_first_party",
    "record",
    "record_file_format",
    "recording_callback_url",
    "recording_callback_method",
    "callback_url",
    "callback_method",
    "session_expiry",
    "call_time_limit",
    "ring_timeout",
    "first_party_play_url",
    "second_party_play_url",
    "geomatch",
    "subaccount",
    "create_session_with_single_party",
    "virtual_number_cooloff_period",
    "is_pin_authentication_required",
    "force_pin_authentication",
    "generate_pin",
    "generate_pin_length",
    "first_party_pin",
    "second_party_pin",
    "pin_prompt_play",
    "pin_retry",
    "pin_retry_wait",
    "incorrect_pin_play",
    "unknown_caller_play",
)


def fmt_time(value: datetime | None) -> str | None:
    return value.strftime(TIME_FORMAT) if value is not None else None


def fmt_money(value: Decimal | None) -> str:
    """Money goes out as a decimal string so no binary float ever touches it."""
    return f"{(value or Decimal(0)):.5f}"


def effective_status(status: str, active_calls: int, expiry_time: datetime, now: datetime) -> str:
    """``in-progress`` while a call is up; ``expired`` as soon as expiry passes."""
    if active_calls > 0:
        return "in-progress"
    if status == "expired" or expiry_time <= now:
        return "expired"
    return "active"


def session_view(
    row: Mapping[str, Any],
    now: datetime,
    interactions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full session object every response carries."""
    params = json.loads(row["params"])
    amount = row["amount"] or Decimal(0)
    total_call_amount = row["total_call_amount"] or Decimal(0)
    view: dict[str, Any] = {
        "session_uuid": row["uuid"],
        "virtual_number": row["virtual_number"],
        "status": effective_status(row["status"], row["active_calls"], row["expiry_time"], now),
        "first_party": row["first_party"],
        "second_party": row["second_party"],
    }
    for name in PARAM_FIELDS:
        view[name] = params.get(name)
    view.update(
        {
            "created_time": fmt_time(row["created_time"]),
            "modified_time": fmt_time(row["modified_time"]),
            "expiry_time": fmt_time(row["expiry_time"]),
            "duration": row["duration"],
            "last_interaction_time": fmt_time(row["last_interaction_time"]),
            "amount": fmt_money(amount),
            "total_call_count": row["total_call_count"],
            "total_call_amount": fmt_money(total_call_amount),
            "total_call_billed_duration": row["total_call_billed_duration"],
            "total_session_amount": fmt_money(amount + total_call_amount),
            "interaction": interactions if interactions else None,
        }
    )
    return view


def interaction_view(
    row: Mapping[str, Any],
    *,
    account_path: str,
    first_call_uuid: str | None,
    second_call_uuid: str | None,
    recording_uuid: str | None,
) -> dict[str, Any]:
    """One call on a session (calls.md §3); resource URLs are relative to the API root."""

    def call_url(uuid: str | None) -> str | None:
        return f"{account_path}Call/{uuid}/" if uuid else None

    return {
        "start_time": fmt_time(row["start_time"]),
        "end_time": fmt_time(row["end_time"]),
        "duration": row["duration"],
        "type": "call",
        "first_party_resource_url": call_url(first_call_uuid),
        "second_party_resource_url": call_url(second_call_uuid),
        "first_party_status": row["first_party_status"],
        "second_party_status": row["second_party_status"],
        "recording_resource_url": (
            f"{account_path}Recording/{recording_uuid}/" if recording_uuid else None
        ),
        "call_billed_duration": row["call_billed_duration"],
        "total_call_amount": fmt_money(row["total_call_amount"]),
        "total_call_count": row["total_call_count"],
    }


def account_path(auth_id: str) -> str:
    return f"/v1/Account/{auth_id}/"


def compact(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in items if v is not None}


def event_view(row: Any, *, with_params: bool = False) -> dict[str, Any]:
    """One outbox row as operators (CLI) and customers (the session's event log) see it."""
    view: dict[str, Any] = {
        "id": row.id,
        "session_uuid": getattr(row, "session_uuid", None),
        "sequence_number": row.seq,
        "event_name": row.event_name,
        "status": row.status,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "method": row.method,
        "url": row.url,
        "created_time": fmt_time(row.created_time),
        "next_attempt_time": fmt_time(row.next_attempt_at),
        "delivered_time": fmt_time(row.delivered_time),
    }
    if with_params:
        view["params"] = json.loads(row.params)
    return view
