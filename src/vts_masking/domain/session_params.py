"""Masking session parameters: defaults, bounds and cross-field rules.

The rules as customers read them: docs/reference.md#create and #update.

Pure functions from a raw request mapping to validated values; every refusal is an
:class:`~vts_masking.domain.errors.InvalidParameter` carrying the exact customer-facing text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import coerce, errors, phone

SESSION_EXPIRY = (1, 2_592_000, 3600)
CALL_TIME_LIMIT = (1, 14_400, 3600)
RING_TIMEOUT = (1, 300, 120)
COOLOFF = (0, 3600, 0)
PIN_LENGTH = (4, 15, 4)
PIN_RETRY = (0, 5, 1)
PIN_RETRY_WAIT = (5, 10, 5)
FORMATS = ("mp3", "wav")
METHODS = ("GET", "POST")

# URL parameters by what the service does with them: sends events to, or fetches audio
# from (the outbound-URL guard applies the operator's setting for each kind).
CALLBACK_URLS = ("callback_url", "recording_callback_url")
PLAY_URLS = (
    "first_party_play_url",
    "second_party_play_url",
    "pin_prompt_play",
    "incorrect_pin_play",
    "unknown_caller_play",
)

# Keys an update may change; every other known session key is accepted and ignored.
UPDATABLE = (
    "session_expiry",
    "call_time_limit",
    "ring_timeout",
    "record",
    "record_file_format",
    "recording_callback_url",
    "recording_callback_method",
    "callback_url",
    "callback_method",
    "first_party_play_url",
    "second_party_play_url",
)


@dataclass(frozen=True)
class CreateParams:
    """A validated create request, defaults applied."""

    first_party: str | None
    second_party: str | None
    session_expiry: int = 3600
    call_time_limit: int = 3600
    ring_timeout: int = 120
    record: bool = False
    record_file_format: str = "mp3"
    recording_callback_url: str | None = None
    recording_callback_method: str = "POST"
    callback_url: str | None = None
    callback_method: str = "POST"
    first_party_play_url: str | None = None
    second_party_play_url: str | None = None
    initiate_call_to_first_party: bool = False
    geomatch: bool = True
    subaccount: str | None = None
    virtual_number_cooloff_period: int = 0
    create_session_with_single_party: bool = False
    is_pin_authentication_required: bool = False
    generate_pin: bool = False
    generate_pin_length: int = 4
    first_party_pin: str | None = None
    second_party_pin: str | None = None
    pin_prompt_play: str | None = None
    pin_retry: int = 1
    pin_retry_wait: int = 5
    incorrect_pin_play: str | None = None
    unknown_caller_play: str | None = None
    force_pin_authentication: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parties(self) -> tuple[str, ...]:
        return tuple(p for p in (self.first_party, self.second_party) if p)

    @property
    def is_single_party(self) -> bool:
        """Only one party registered (docs/calls.md#single-party-sessions)."""
        return len(self.parties) == 1

    @property
    def geo_party(self) -> str | None:
        """The party whose country the virtual number must match."""
        return self.first_party or self.second_party


def _party(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if coerce.is_unset(value):
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise errors.invalid(name, "is not a valid phone number")
    try:
        return phone.normalize(str(value))
    except phone.InvalidNumber:
        raise errors.invalid(name, "is not a valid phone number") from None


def _bounded(raw: Mapping[str, Any], name: str, spec: tuple[int, int, int]) -> int:
    low, high, default = spec
    value = coerce.bounded(name, raw.get(name), low, high)
    return default if value is None else value


def _flag(raw: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = coerce.boolean(name, raw.get(name))
    return default if value is None else value


def parse_create(raw: Mapping[str, Any]) -> CreateParams:
    """Validate a create body (already decoded from JSON or form) into :class:`CreateParams`."""
    single = _flag(raw, "create_session_with_single_party")
    first = _party(raw, "first_party")
    second = _party(raw, "second_party")
    if first is None and (not single or second is None):
        raise errors.missing("first_party")
    if second is None and not single:
        raise errors.missing("second_party")
    if first is not None and first == second:
        raise errors.invalid("second_party", "must be different from first_party")

    expiry_raw = coerce.integer("session_expiry", raw.get("session_expiry"))
    if expiry_raw == 0:  # some SDKs send 0 for "unset"
        expiry = SESSION_EXPIRY[2]
    else:
        expiry = _bounded(raw, "session_expiry", SESSION_EXPIRY)

    pin_required = _flag(raw, "is_pin_authentication_required")
    generate = _flag(raw, "generate_pin")
    pin_length = _bounded(raw, "generate_pin_length", PIN_LENGTH)
    first_pin = coerce.digits("first_party_pin", raw.get("first_party_pin"), 4, 15)
    second_pin = coerce.digits("second_party_pin", raw.get("second_party_pin"), 4, 15)
    if first_pin is not None and first_pin == second_pin:
        raise errors.invalid("second_party_pin", "must be different from first_party_pin")
    prompt = coerce.url("pin_prompt_play", raw.get("pin_prompt_play"))
    if pin_required:
        if prompt is None:
            raise errors.missing("pin_prompt_play")
        if not generate:
            if first_pin is None and (second is not None or second_pin is None):
                raise errors.missing("first_party_pin")
            if second_pin is None and (first is not None and second is not None):
                raise errors.missing("second_party_pin")

    subaccount = coerce.text("subaccount", raw.get("subaccount"), 20)
    if subaccount is not None and not is_auth_id(subaccount, "SA"):
        raise errors.invalid("subaccount", "is not a valid subaccount auth id")

    known = {f for f in CreateParams.__dataclass_fields__ if f != "extra"}
    return CreateParams(
        first_party=first,
        second_party=second,
        session_expiry=expiry,
        call_time_limit=_bounded(raw, "call_time_limit", CALL_TIME_LIMIT),
        ring_timeout=_bounded(raw, "ring_timeout", RING_TIMEOUT),
        record=_flag(raw, "record"),
        record_file_format=coerce.choice(
            "record_file_format", raw.get("record_file_format"), FORMATS, upper=False
        )
        or "mp3",
        recording_callback_url=coerce.url(
            "recording_callback_url", raw.get("recording_callback_url")
        ),
        recording_callback_method=coerce.choice(
            "recording_callback_method", raw.get("recording_callback_method"), METHODS, upper=True
        )
        or "POST",
        callback_url=coerce.url("callback_url", raw.get("callback_url")),
        callback_method=coerce.choice(
            "callback_method", raw.get("callback_method"), METHODS, upper=True
        )
        or "POST",
        first_party_play_url=coerce.url("first_party_play_url", raw.get("first_party_play_url")),
        second_party_play_url=coerce.url("second_party_play_url", raw.get("second_party_play_url")),
        initiate_call_to_first_party=_flag(raw, "initiate_call_to_first_party"),
        geomatch=_flag(raw, "geomatch", default=True),
        subaccount=subaccount,
        virtual_number_cooloff_period=_bounded(raw, "virtual_number_cooloff_period", COOLOFF),
        create_session_with_single_party=single,
        is_pin_authentication_required=pin_required,
        generate_pin=generate,
        generate_pin_length=pin_length,
        first_party_pin=first_pin,
        second_party_pin=second_pin,
        pin_prompt_play=prompt,
        pin_retry=_bounded(raw, "pin_retry", PIN_RETRY),
        pin_retry_wait=_bounded(raw, "pin_retry_wait", PIN_RETRY_WAIT),
        incorrect_pin_play=coerce.url("incorrect_pin_play", raw.get("incorrect_pin_play")),
        unknown_caller_play=coerce.url("unknown_caller_play", raw.get("unknown_caller_play")),
        force_pin_authentication=_flag(raw, "force_pin_authentication"),
        extra={k: v for k, v in raw.items() if k not in known},
    )


@dataclass(frozen=True)
class UpdateParams:
    """The changes an update asks for (only keys that were given)."""

    changes: dict[str, Any]
    first_party: str | None = None
    second_party: str | None = None


def parse_update(raw: Mapping[str, Any]) -> UpdateParams:
    """Validate an update body; unknown and non-updatable keys are ignored
    (docs/reference.md#update)."""
    changes: dict[str, Any] = {}
    expiry = coerce.integer("session_expiry", raw.get("session_expiry"))
    if expiry not in (None, 0):  # 0 = "unset", as on create
        changes["session_expiry"] = _bounded(raw, "session_expiry", SESSION_EXPIRY)
    for name, spec in (("call_time_limit", CALL_TIME_LIMIT), ("ring_timeout", RING_TIMEOUT)):
        value = coerce.bounded(name, raw.get(name), spec[0], spec[1])
        if value is not None:
            changes[name] = value
    record = coerce.boolean("record", raw.get("record"))
    if record is not None:
        changes["record"] = record
    fmt = coerce.choice("record_file_format", raw.get("record_file_format"), FORMATS, upper=False)
    if fmt is not None:
        changes["record_file_format"] = fmt
    for name in ("recording_callback_method", "callback_method"):
        value = coerce.choice(name, raw.get(name), METHODS, upper=True)
        if value is not None:
            changes[name] = value
    for name in (
        "recording_callback_url",
        "callback_url",
        "first_party_play_url",
        "second_party_play_url",
    ):
        if name in raw:
            # An explicit null/empty clears a URL; anything else must be a valid URL.
            changes[name] = coerce.url(name, raw.get(name))
    return UpdateParams(
        changes=changes,
        first_party=_party(raw, "first_party"),
        second_party=_party(raw, "second_party"),
    )


def is_auth_id(value: str, prefix: str | None = None) -> bool:
    """``MA``/``SA`` + 18 upper-case letters or digits."""
    if len(value) != 20 or value[:2] not in ("MA", "SA"):
        return False
    if prefix is not None and value[:2] != prefix:
        return False
    rest = value[2:]
    return rest.isascii() and all(c.isdigit() or c.isupper() for c in rest)
