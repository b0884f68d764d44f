"""Event payloads sent to the customer's callback URLs (docs/calls.md#events).

Every session event carries the same base parameters; a parameter that does not apply
to an event (``CallUUID`` of ``SessionCreated``) is sent as an empty string, so a
receiver can always read every documented key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SESSION_EVENTS = (
    "SessionCreated",
    "SessionVirtualNumberAnswer",
    "SessionFirstPartyInitiated",
    "SessionFirstPartyRinging",
    "SessionFirstPartyAnswer",
    "SessionFirstPartyComplete",
    "SessionFirstPartyHangup",
    "SessionFirstPartyFailed",
    "SessionSecondPartyInitiated",
    "SessionSecondPartyRing",
    "SessionSecondPartyRinging",
    "SessionSecondPartyAnswer",
    "SessionSecondPartyComplete",
    "SessionSecondPartyHangup",
    "SessionSecondPartyFailed",
    "SessionPartiesHangup",
    "SessionPinAuthenticationStatus",
    "SessionTimeout",
    "SessionVirtualNumberReplaced",
)
RECORDING_EVENTS = (
    "SessionRecordingInitiated",
    "SessionRecordingCompleted",
    "SessionRecordingFailed",
)

# Events with an older and a newer name: both are sent (customers listen for either).
ALIASES = {
    "SessionSecondPartyRinging": ("SessionSecondPartyRing", "SessionSecondPartyRinging"),
    "SessionFirstPartyComplete": ("SessionFirstPartyHangup", "SessionFirstPartyComplete"),
    "SessionSecondPartyComplete": ("SessionSecondPartyHangup", "SessionSecondPartyComplete"),
}


def base_params(
    *,
    event_name: str,
    timestamp: datetime,
    session_uuid: str,
    virtual_number: str,
    first_party: str | None,
    second_party: str | None,
    sequence: int,
    from_number: str | None = None,
    to_number: str | None = None,
    call_uuid: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    params: dict[str, Any] = {
        "EventName": event_name,
        "EventTimestamp": timestamp.strftime("%Y-%m-%d %H:%M:%S"),
        "SessionUUID": session_uuid,
        "VirtualNumber": virtual_number,
        "FirstParty": first_party or "",
        "SecondParty": second_party or "",
        "From": from_number or "",
        "To": to_number or "",
        "CallUUID": call_uuid or "",
        "SequenceNumber": sequence,
    }
    for key, value in (extra or {}).items():
        if value is not None:
            params[key] = value
    return {k: ("" if v is None else str(v)) for k, v in params.items()}


def is_recording_event(name: str) -> bool:
    return name in RECORDING_EVENTS
