"""Typed results: JSON objects with attribute access, ``[...]`` access and ``.raw``.

Every result is a read-only mapping over the server's JSON object. Fields the class
annotates are converted to their Python type (``record`` to ``bool``, ``created_time`` to
an aware UTC ``datetime``, amounts to ``Decimal``, nested objects to their own classes);
fields the class does not know are kept as sent, so a newer server never breaks an older
SDK. ``.raw`` is the JSON object exactly as decoded, ``print(result)`` shows it as
indented JSON.

Conversion is tolerant the way the API is: ``"true"``/``"false"`` strings, digit strings
and the legacy documentation's ``"null"`` strings are understood; a value that cannot be
converted is kept as sent rather than failing the call.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Union

__all__ = [
    "Account",
    "AccountResponse",
    "Call",
    "CallList",
    "CallResponse",
    "DeleteResponse",
    "Interaction",
    "ListMeta",
    "ListPage",
    "ListResponse",
    "LiveCall",
    "LiveCallList",
    "MaskingSession",
    "MaskingSessionCreateResponse",
    "MaskingSessionList",
    "MaskingSessionResponse",
    "MaskingSessionUpdateResponse",
    "Number",
    "NumberAddResponse",
    "NumberDeleteResponse",
    "NumberList",
    "NumberResponse",
    "Recording",
    "RecordingList",
    "RecordingResponse",
    "Subaccount",
    "SubaccountCreateResponse",
    "SubaccountList",
    "SubaccountResponse",
    "VTSObject",
    "VTSResponse",
]

_NULLS = ("null", "none", "")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")


class _Unconvertible(Exception):
    pass


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NULLS)


def to_bool(value: Any) -> bool | None:
    if _is_null(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Unconvertible


def to_int(value: Any) -> int | None:
    if _is_null(value):
        return None
    if isinstance(value, bool):
        raise _Unconvertible
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise _Unconvertible


def to_decimal(value: Any) -> Decimal | None:
    if _is_null(value):
        return None
    if isinstance(value, bool):
        raise _Unconvertible
    try:
        # str() first: a JSON float's repr is the shortest literal that round-trips,
        # so Decimal(str(0.1)) is Decimal("0.1"), not the binary approximation.
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise _Unconvertible from exc


def to_datetime(value: Any) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` (UTC, the API's form) to an aware UTC datetime."""
    if _is_null(value):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise _Unconvertible
    text = value.strip()
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _Unconvertible from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_date(value: Any) -> date | None:
    """``YYYY-MM-DD`` (the family's ``created``, ``added_on``) to a ``date``."""
    if _is_null(value):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise _Unconvertible
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise _Unconvertible from exc


def to_str(value: Any) -> str | None:
    # Only the legacy documentation's "null": an empty or "None" text may be real data.
    if value is None or value == "null":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        # PINs and numbers may arrive as JSON numbers; the SDK always hands out text.
        return str(value)
    raise _Unconvertible


def _plain(value: Any) -> Any:
    """Wrap nested JSON objects (and lists of them) of fields no class annotates."""
    if isinstance(value, dict):
        return VTSObject(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _converter_for(hint: Any) -> Callable[[Any], Any] | None:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _converter_for(members[0]) if len(members) == 1 else None
    if origin is list:
        (item,) = typing.get_args(hint)
        item_converter = _converter_for(item)
        if item_converter is None:
            return None
        return _list_converter(item_converter)
    simple: dict[Any, Callable[[Any], Any]] = {
        bool: to_bool,
        int: to_int,
        Decimal: to_decimal,
        datetime: to_datetime,
        date: to_date,
        str: to_str,
    }
    if hint in simple:
        return simple[hint]
    if isinstance(hint, type) and issubclass(hint, VTSObject):
        return _object_converter(hint)
    return None


def _object_converter(cls: type[VTSObject]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if _is_null(value):
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise _Unconvertible from exc
        if isinstance(value, dict):
            return cls(value)
        raise _Unconvertible

    return convert


def _list_converter(item: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if _is_null(value):
            return None
        if isinstance(value, str):
            # The legacy documentation shows JSON text ("{}") where a list belongs.
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise _Unconvertible from exc
        if isinstance(value, dict):
            value = [value] if value else []
        if isinstance(value, list):
            return [item(element) for element in value]
        raise _Unconvertible

    return convert


class VTSObject(Mapping[str, Any]):
    """A JSON object from the API: ``obj.field``, ``obj["field"]``, ``obj.raw``."""

    _converters: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    _data: dict[str, Any]
    _raw: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._converters = {}

    @classmethod
    def _field_converters(cls) -> dict[str, Callable[[Any], Any]]:
        # Resolved lazily: annotations may name classes defined later in this module.
        if "_resolved" not in cls.__dict__:
            hints = typing.get_type_hints(cls)
            converters: dict[str, Callable[[Any], Any]] = {}
            for name, hint in hints.items():
                if name.startswith("_") or typing.get_origin(hint) is ClassVar:
                    continue
                converter = _converter_for(hint)
                if converter is not None:
                    converters[name] = converter
            cls._converters = converters
            cls._resolved = True  # type: ignore[attr-defined]
        return cls._converters

    def __init__(self, raw: Mapping[str, Any]) -> None:
        converters = self._field_converters()
        data: dict[str, Any] = {}
        for key, value in raw.items():
            converter = converters.get(key)
            if converter is None:
                data[key] = _plain(value)
                continue
            try:
                data[key] = converter(value)
            except _Unconvertible:
                data[key] = _plain(value)
        object.__setattr__(self, "_raw", dict(raw))
        object.__setattr__(self, "_data", data)

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object exactly as the server sent it."""
        return self._raw

    def to_dict(self) -> dict[str, Any]:
        """The converted values as a plain dict (nested objects as dicts too)."""
        return {key: _to_plain(value) for key, value in self._data.items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.__dict__["_data"][name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!s} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._data))

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self._data.items())
        return f"{type(self).__name__}({fields})"

    def __str__(self) -> str:
        return json.dumps(self._raw, indent=2, default=str)


def _to_plain(value: Any) -> Any:
    if isinstance(value, VTSObject):
        return value.to_dict()
    if isinstance(value, list):
        return [_to_plain(item) for item in value]
    return value


class VTSResponse(VTSObject):
    """Any answer of the API: it always carries ``api_id``."""

    api_id: str
    message: str


class DeleteResponse(VTSResponse):
    """``{api_id, message}``, e.g. ``Session expired``."""


class Interaction(VTSObject):
    """One call on a session (docs/reference.md#the-session-object)."""

    start_time: datetime | None
    end_time: datetime | None
    duration: int | None
    type: str
    first_party_resource_url: str | None
    second_party_resource_url: str | None
    first_party_status: str | None
    second_party_status: str | None
    recording_resource_url: str | None
    call_billed_duration: int | None
    total_call_amount: Decimal | None
    total_call_count: int | None


class MaskingSession(VTSObject):
    """A masking session (docs/reference.md#the-session-object)."""

    session_uuid: str
    status: str
    first_party: str | None
    second_party: str | None
    virtual_number: str
    initiate_call_to_first_party: bool
    record: bool
    record_file_format: str | None
    recording_callback_url: str | None
    recording_callback_method: str | None
    callback_url: str | None
    callback_method: str | None
    session_expiry: int
    call_time_limit: int
    ring_timeout: int
    first_party_play_url: str | None
    second_party_play_url: str | None
    geomatch: bool
    subaccount: str | None
    create_session_with_single_party: bool
    virtual_number_cooloff_period: int
    is_pin_authentication_required: bool
    force_pin_authentication: bool
    generate_pin: bool
    generate_pin_length: int | None
    first_party_pin: str | None
    second_party_pin: str | None
    pin_prompt_play: str | None
    pin_retry: int | None
    pin_retry_wait: int | None
    incorrect_pin_play: str | None
    unknown_caller_play: str | None
    created_time: datetime
    modified_time: datetime | None
    expiry_time: datetime | None
    duration: int | None
    last_interaction_time: datetime | None
    amount: Decimal | None
    total_call_count: int
    total_call_amount: Decimal
    total_call_billed_duration: int
    total_session_amount: Decimal | None
    interaction: list[Interaction] | None
    resource_uri: str | None


class MaskingSessionCreateResponse(VTSResponse):
    """``create_masking_session``: ``{api_id, session_uuid, virtual_number, message, session}``."""

    session_uuid: str
    virtual_number: str
    session: MaskingSession


class MaskingSessionResponse(VTSResponse):
    """``get_masking_session``: ``{api_id, response}``; ``.session`` is ``.response``."""

    response: MaskingSession

    @property
    def session(self) -> MaskingSession:
        return typing.cast(MaskingSession, self._data["response"])


class MaskingSessionUpdateResponse(MaskingSession):
    """``update_masking_session``: the session's fields at the top level (as the seed
    shows), plus ``api_id``, ``message`` and the same object under ``session``."""

    api_id: str
    message: str
    session: MaskingSession


class ListMeta(VTSObject):
    """Paging of a list: ``limit``, ``offset``, ``next``/``previous`` (relative URLs or
    ``None``), ``total_count``."""

    limit: int
    offset: int
    next: str | None
    previous: str | None
    total_count: int


class ListPage(VTSObject):
    """One page of a list: ``meta`` and ``objects``."""

    meta: ListMeta
    objects: list[Any]


class ListResponse(ListPage):
    """``{api_id, meta, objects}``: a page of every list but the sessions'."""

    api_id: str


class MaskingSessionPage(ListPage):
    objects: list[MaskingSession]


class MaskingSessionList(VTSResponse):
    """``list_masking_session``: ``{api_id, response: {meta, objects}}`` (only sessions
    wrap what they answer in ``response``); ``.meta`` and ``.objects`` reach inside, the
    objects are :class:`MaskingSession`."""

    response: MaskingSessionPage

    @property
    def meta(self) -> ListMeta:
        return typing.cast(ListMeta, self._data["response"]["meta"])

    @property
    def objects(self) -> list[MaskingSession]:
        return typing.cast(list[MaskingSession], self._data["response"]["objects"])


class Account(VTSObject):
    """An account, main or sub (``client.account.get()``)."""

    auth_id: str
    name: str
    account_type: str
    enabled: bool
    parent_auth_id: str | None
    city: str | None
    address: str | None
    timezone: str | None
    created_time: datetime | None
    modified_time: datetime | None
    resource_uri: str | None


class AccountResponse(Account):
    """``client.account.get()`` and ``update()``: the account's fields at the top level
    with ``api_id`` (and ``message`` for an update)."""

    api_id: str
    message: str | None


class Subaccount(VTSObject):
    """A subaccount as its main account reads it. ``created``/``modified`` are the dates
    the family's SDKs know, ``created_time``/``modified_time`` the full times."""

    auth_id: str
    name: str
    enabled: bool
    account: str | None
    account_type: str
    parent_auth_id: str | None
    created: date | None
    modified: date | None
    created_time: datetime | None
    modified_time: datetime | None
    resource_uri: str | None


class SubaccountCreateResponse(VTSResponse):
    """``{api_id, message, auth_id, auth_token}``: the token is shown this once."""

    auth_id: str
    auth_token: str


class SubaccountResponse(Subaccount):
    """``subaccounts.get()`` and ``update()``: the subaccount's fields with ``api_id``
    (and ``message`` for an update)."""

    api_id: str
    message: str | None


class SubaccountList(ListResponse):
    objects: list[Subaccount]


class Number(VTSObject):
    """A virtual number of the pool (``sub_account``/``active``/``added_on`` are the
    family's names of ``subaccount``/``in_service``/``added_time``)."""

    number: str
    alias: str | None
    country: str | None
    number_type: str | None
    sub_account: str | None
    subaccount: str | None
    app_id: str | None
    answer_url: str | None
    active: bool
    in_service: bool
    state: str
    active_sessions: int
    voice_enabled: bool
    sms_enabled: bool
    mms_enabled: bool
    added_on: date | None
    added_time: datetime | None
    resource_uri: str | None


class NumberAddResponse(VTSResponse):
    """``{api_id, message, numbers}``: the numbers added, in E.164."""

    numbers: list[str]


class NumberResponse(Number):
    """``numbers.get()`` and ``update()``: the number's fields with ``api_id`` (and
    ``message`` for an update)."""

    api_id: str
    message: str | None


class NumberDeleteResponse(VTSResponse):
    """``{api_id, message, state}``: ``removed``, or ``draining`` when asked to drain."""

    state: str


class NumberList(ListResponse):
    objects: list[Number]


class Call(VTSObject):
    """One call leg's record (docs/reference.md#calls), in the family's CDR shape:
    ``bill_duration`` is the seconds talked, ``billed_duration`` the seconds billed
    (rounded up to the billing increment), ``parent_call_uuid`` the call's first leg."""

    call_uuid: str
    parent_call_uuid: str | None
    session_uuid: str | None
    party: str | None
    call_direction: str | None
    from_number: str | None
    to_number: str | None
    call_status: str | None
    initiation_time: datetime | None
    answer_time: datetime | None
    end_time: datetime | None
    call_duration: int | None
    bill_duration: int | None
    billed_duration: int | None
    total_amount: Decimal | None
    total_rate: Decimal | None
    hangup_cause_name: str | None
    hangup_cause_code: int | None
    hangup_source: str | None
    resource_uri: str | None


class CallResponse(Call):
    """``calls.get()``: the leg's fields with ``api_id``."""

    api_id: str


class CallList(ListResponse):
    objects: list[Call]


class LiveCall(VTSResponse):
    """A leg still up (``calls.get_live()``): ``call_status`` is ``ringing`` or
    ``in-progress``, ``session_start`` when it began."""

    call_uuid: str
    request_uuid: str | None
    session_uuid: str | None
    call_status: str
    direction: str | None
    to: str | None
    caller_name: str | None
    session_start: datetime | None


class LiveCallList(VTSResponse):
    """``calls.list_live()``: ``{api_id, calls}``, the uuids of the legs still up."""

    calls: list[str]


class Recording(VTSObject):
    """A recording's metadata; ``recording_url`` is the media file (an absolute URL,
    like ``recording_resource_url``)."""

    recording_id: str
    session_uuid: str | None
    call_uuid: str | None
    from_number: str | None
    to_number: str | None
    recording_type: str | None
    recording_format: str | None
    recording_status: str | None
    add_time: datetime | None
    recording_start_time: datetime | None
    recording_end_time: datetime | None
    recording_start_ms: int | None
    recording_end_ms: int | None
    recording_duration_ms: int | None
    rounded_recording_duration: int | None
    recording_storage_duration: int | None
    recording_size: int | None
    recording_url: str | None
    recording_resource_url: str | None
    resource_uri: str | None


class RecordingResponse(Recording):
    """``recordings.get()``: the recording's fields with ``api_id``."""

    api_id: str


class RecordingList(ListResponse):
    objects: list[Recording]
