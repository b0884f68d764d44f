"""How stored rows read to the customer, as pure functions of them: the session object
(docs/reference.md#the-session-object) and the other resources in the shapes the family's
official SDKs expect (their own test fixtures: top-level objects, family field names beside
ours)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import phonenumbers

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
    api_root: str,
    first_call_uuid: str | None,
    second_call_uuid: str | None,
    recording_uuid: str | None,
) -> dict[str, Any]:
    """One call on a session (docs/reference.md#the-session-object). ``api_root`` is the
    account's URL (``absolute(base_url, account_path(auth_id))``): the links are absolute."""

    def call_url(uuid: str | None) -> str | None:
        return f"{api_root}Call/{uuid}/" if uuid else None

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
            f"{api_root}Recording/{recording_uuid}/" if recording_uuid else None
        ),
        "call_billed_duration": row["call_billed_duration"],
        "total_call_amount": fmt_money(row["total_call_amount"]),
        "total_call_count": row["total_call_count"],
    }


def account_path(auth_id: str) -> str:
    return f"/v1/Account/{auth_id}/"


def absolute(base_url: str, path: str) -> str:
    """A path of the API as a URL customers can fetch (``base_url`` is the service's
    public URL, e.g. ``https://masking.example.com``; every URL the API returns is
    absolute, as in callbacks). ``resource_uri`` and ``meta.next`` stay relative, as the
    family's official SDKs expect them."""
    return base_url.rstrip("/") + path


def fmt_date(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d") if value is not None else None


# -- the other resources, in the family's shapes (the official SDKs' fixtures) ----------


def account_view(row: Any, *, parent_auth_id: str | None) -> dict[str, Any]:
    """``GET .../`` and account updates: the account itself (main or sub)."""
    return {
        "auth_id": row.auth_id,
        "name": row.name,
        "account_type": "subaccount" if parent_auth_id else "main",
        "enabled": bool(row.enabled),
        "parent_auth_id": parent_auth_id,
        "city": row.city,
        "address": row.address,
        "timezone": "UTC",  # every time the API shows is UTC
        "created_time": fmt_time(row.created_time),
        "modified_time": fmt_time(row.modified_time),
        "resource_uri": account_path(row.auth_id),
    }


def subaccount_view(row: Any, main_auth_id: str) -> dict[str, Any]:
    """A subaccount as its main account reads it: the family's fields (``account``,
    ``created``, ``modified`` as dates, ``resource_uri`` under the main account) and ours.
    The auth token is not among them: it is shown once, when the subaccount is made."""
    main = account_path(main_auth_id)
    return {
        "auth_id": row.auth_id,
        "name": row.name,
        "enabled": bool(row.enabled),
        "account": main,
        "account_type": "subaccount",
        "parent_auth_id": main_auth_id,
        "created": fmt_date(row.created_time),
        "modified": fmt_date(row.modified_time),
        "created_time": fmt_time(row.created_time),
        "modified_time": fmt_time(row.modified_time),
        "resource_uri": f"{main}Subaccount/{row.auth_id}/",
    }


_NUMBER_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "tollfree",
    phonenumbers.PhoneNumberType.FIXED_LINE: "local",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "local",
}


def number_type(e164: str) -> str:
    """The family's ``number_type``: local, mobile, tollfree, or national for the rest."""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "national"
    return _NUMBER_TYPES.get(phonenumbers.number_type(parsed), "national")


def number_view(
    row: Mapping[str, Any], account_root: str, subaccount: str | None
) -> dict[str, Any]:
    """A number of the pool. The family's names (``sub_account``, ``active``,
    ``added_on``, ``number_type``, the ``*_enabled`` flags: voice only, a masking pool
    carries no messages) beside ours (``subaccount``, ``in_service``, ``state``…)."""
    in_service = row["state"] == "in_service"
    return {
        "number": row["number"],
        "alias": row["alias"],
        "country": row["country"],
        "number_type": row.get("number_type") or number_type(row["number"]),
        "sub_account": subaccount,
        "subaccount": subaccount,
        "app_id": row["app_id"],
        "answer_url": row["answer_url"],
        "active": in_service,
        "in_service": in_service,
        "state": row["state"],
        "active_sessions": row["active_sessions"],
        "voice_enabled": True,
        "sms_enabled": False,
        "mms_enabled": False,
        "added_on": fmt_date(row["added_time"]),
        "added_time": fmt_time(row["added_time"]),
        "resource_uri": f"{account_root}Number/{row['number']}/",
    }


def per_minute_rate(amount: Decimal | None, billed_duration: int) -> str | None:
    """The rate a leg was billed at (amount = rate × billed minutes), or ``None`` for a
    leg that was not billed."""
    if not billed_duration:
        return None
    return fmt_money((amount or Decimal(0)) * 60 / billed_duration)


def call_view(row: Mapping[str, Any], account_root: str) -> dict[str, Any]:
    """One call leg's record, in the family's CDR shape (``call_direction``,
    ``bill_duration`` = seconds talked, ``billed_duration`` = rounded up to the billing
    increment, ``total_rate``, ``parent_call_uuid`` = the interaction's first leg) plus
    ours (``session_uuid``, ``party``, ``call_status``)."""
    return {
        "call_uuid": row["uuid"],
        "parent_call_uuid": row.get("parent_call_uuid"),
        "session_uuid": row.get("session_uuid"),
        "party": row["party"],
        "call_direction": row["direction"],
        "from_number": row["from_number"],
        "to_number": row["to_number"],
        "call_status": row["status"],
        "initiation_time": fmt_time(row["initiation_time"]),
        "answer_time": fmt_time(row["answer_time"]),
        "end_time": fmt_time(row["end_time"]),
        "call_duration": row["duration"],
        "bill_duration": row["duration"],
        "billed_duration": row["billed_duration"],
        "total_amount": fmt_money(row["amount"]),
        "total_rate": per_minute_rate(row["amount"], row["billed_duration"]),
        "hangup_cause_name": row["hangup_cause"],
        "hangup_cause_code": row["hangup_cause_code"],
        "hangup_source": None,  # not recorded
        "resource_uri": f"{account_root}Call/{row['uuid']}/",
    }


def live_call_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A call leg still up, in the family's live-call shape (``GET Call/{uuid}/?status=live``)."""
    return {
        "call_uuid": row["uuid"],
        "request_uuid": row["uuid"],
        "session_uuid": row.get("session_uuid"),
        "call_status": row["status"],
        "direction": row["direction"],
        "from": row["from_number"],
        "to": row["to_number"],
        "caller_name": None,  # never shown: masking hides who calls
        "session_start": fmt_time(row["initiation_time"]),
    }


def _epoch_ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    return round((value - datetime(1970, 1, 1)).total_seconds() * 1000)


def recording_view(
    row: Mapping[str, Any], base_url: str, account_root: str, now: datetime
) -> dict[str, Any]:
    """A recording's metadata: the family's fields (``add_time``, ``recording_type``,
    ``recording_start_ms``/``recording_end_ms`` since the epoch, the call's numbers,
    ``rounded_recording_duration`` in whole minutes' seconds, ``recording_storage_duration``
    in whole days kept) and ours. ``recording_url``
    and ``recording_resource_url`` are absolute, as in the recording callbacks."""
    resource = f"{account_root}Recording/{row['uuid']}/"
    duration = float(row["duration"] or 0)
    return {
        "recording_id": row["uuid"],
        "session_uuid": row.get("session_uuid"),
        "call_uuid": row.get("call_uuid"),
        "from_number": row.get("from_number"),
        "to_number": row.get("to_number"),
        "recording_type": "call",
        "recording_format": row["format"],
        "recording_status": row["status"],
        "add_time": fmt_time(row["start_time"]),
        "recording_start_time": fmt_time(row["start_time"]),
        "recording_end_time": fmt_time(row["end_time"]),
        "recording_start_ms": _epoch_ms(row["start_time"]),
        "recording_end_ms": _epoch_ms(row["end_time"]),
        "recording_duration_ms": round(duration * 1000),
        "rounded_recording_duration": math.ceil(duration / 60) * 60,
        "recording_storage_duration": max((now - row["start_time"]).days, 0),
        "recording_size": row["size"],
        "recording_url": absolute(base_url, f"{resource}Media/"),
        "recording_resource_url": absolute(base_url, resource),
        "resource_uri": resource,
    }


def compact(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in items if v is not None}


def event_view(row: Any, *, with_params: bool = False) -> dict[str, Any]:
    """One outbox row as operators (CLI) and customers (the session's event log) see it;
    ``row`` carries ``session_uuid`` (joined from the session, ``None`` for none)."""
    view: dict[str, Any] = {
        "id": row.id,
        "session_uuid": row.session_uuid,
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
