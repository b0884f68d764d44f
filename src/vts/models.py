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
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Union

__all__ = [
    "Account",
    "AccountResponse",
    "Call",
    "CallResponse",
    "DeleteResponse",
    "Interaction",
    "ListMeta",
    "ListPage",
    "ListResponse",
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
    """One call on a session (``calls.md`` §3)."""

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
    """A masking session (``masking-api.md`` §2.4)."""

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
    """The ``response`` of a list: ``meta`` and ``objects``."""

    meta: ListMeta
    objects: list[Any]


class ListResponse(VTSResponse):
    """``{api_id, response: {meta, objects}}``; ``.meta`` and ``.objects`` reach inside."""

    response: ListPage

    @property
    def meta(self) -> ListMeta:
        return typing.cast(ListMeta, self._data["response"]["meta"])

    @property
    def objects(self) -> list[Any]:
        return typing.cast(list[Any], self._data["response"]["objects"])


class MaskingSessionPage(ListPage):
    objects: list[MaskingSession]


class MaskingSessionList(ListResponse):
    """``list_masking_session``: ``.objects`` are :class:`MaskingSession`."""

    response: MaskingSessionPage

    @property
    def objects(self) -> list[MaskingSession]:
        return typing.cast(list[MaskingSession], self._data["response"]["objects"])


class Account(VTSObject):
    """An account, main or sub (``client.account.get().response``)."""

    auth_id: str
    name: str
    account_type: str
    enabled: bool
    parent_auth_id: str | None
    created_time: datetime | None
    modified_time: datetime | None
    resource_uri: str | None


class AccountResponse(VTSResponse):
    """``{api_id, response: Account}``."""

    response: Account


class Subaccount(Account):
    """A subaccount (``account_type`` ``subaccount``)."""


class SubaccountCreateResponse(VTSResponse):
    """``{api_id, message, auth_id, auth_token}``: the token is shown this once."""

    auth_id: str
    auth_token: str


class SubaccountResponse(VTSResponse):
    """``{api_id, [message,] response: Subaccount}`` (get and update)."""

    response: Subaccount


class SubaccountPage(ListPage):
    objects: list[Subaccount]


class SubaccountList(ListResponse):
    response: SubaccountPage

    @property
    def objects(self) -> list[Subaccount]:
        return typing.cast(list[Subaccount], self._data["response"]["objects"])


class Number(VTSObject):
    """A virtual number of the pool."""

    number: str
    country: str | None
    alias: str | None
    app_id: str | None
    answer_url: str | None
    subaccount: str | None
    active_sessions: int
    in_service: bool
    state: str
    added_time: datetime | None
    resource_uri: str | None


class NumberAddResponse(VTSResponse):
    """``{api_id, message, numbers}``: the numbers added, in E.164."""

    numbers: list[str]


class NumberResponse(VTSResponse):
    """``{api_id, [message,] response: Number}`` (get and update)."""

    response: Number


class NumberDeleteResponse(VTSResponse):
    """``{api_id, message, state}``: ``removed``, or ``draining`` when asked to drain."""

    state: str


class NumberPage(ListPage):
    objects: list[Number]


class NumberList(ListResponse):
    response: NumberPage

    @property
    def objects(self) -> list[Number]:
        return typing.cast(list[Number], self._data["response"]["objects"])


class Call(VTSObject):
    """One call leg's record (``masking-api.md`` §5)."""

    call_uuid: str
    session_uuid: str | None
    party: str | None
    direction: str | None
    from_number: str | None
    to_number: str | None
    call_status: str | None
    initiation_time: datetime | None
    answer_time: datetime | None
    end_time: datetime | None
    call_duration: int | None
    bill_duration: int | None
    total_amount: Decimal | None
    hangup_cause_name: str | None
    hangup_cause_code: int | None
    resource_uri: str | None


class CallResponse(VTSResponse):
    """``{api_id, response: Call}``."""

    response: Call


class Recording(VTSObject):
    """A recording's metadata; ``recording_url`` is the media file."""

    recording_id: str
    session_uuid: str | None
    call_uuid: str | None
    recording_format: str | None
    recording_status: str | None
    recording_start_time: datetime | None
    recording_end_time: datetime | None
    recording_duration_ms: int | None
    recording_size: int | None
    recording_url: str | None
    recording_resource_url: str | None
    resource_uri: str | None


class RecordingResponse(VTSResponse):
    """``{api_id, response: Recording}``."""

    response: Recording


class RecordingPage(ListPage):
    objects: list[Recording]


class RecordingList(ListResponse):
    response: RecordingPage

    @property
    def objects(self) -> list[Recording]:
        return typing.cast(list[Recording], self._data["response"]["objects"])
