"""The API's bodies as pydantic models: the single description the OpenAPI document is
built from (``api/openapi.py``) and real responses are checked against (the tests).

The routers build their JSON themselves (tolerant parsing, typed rendering); these models
say what that JSON is. A change of a response's shape is one edit here. Models allow
keys they do not list (a client must ignore unknown keys), but every key they list is
required and typed, so a field that goes missing or changes type fails the check.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .shapes import (  # noqa: F401 - the rest of the API's bodies, named here for openapi.py
    AccountGot,
    AccountUpdated,
    CallGot,
    CallList,
    LiveCall,
    LiveCallIds,
    Message,
    Meta,
    NumberGot,
    NumberList,
    NumberRemoved,
    NumbersAdded,
    NumberUpdated,
    RecordingGot,
    RecordingList,
    SubaccountCreated,
    SubaccountGot,
    SubaccountList,
    SubaccountUpdated,
)

# -- shared ---------------------------------------------------------------------------------


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(Body):
    """Every error: 400, 401, 403, 404, 405, 409, 413, 415, 429, 500."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "api_id": "9f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
                "error": "Invalid parameter. record_file_format allowed values are mp3 or wav.",
            }
        },
    )
    api_id: str
    error: str


# -- sessions -------------------------------------------------------------------------------


class Interaction(Body):
    start_time: str | None
    end_time: str | None
    duration: int | None
    type: str
    first_party_resource_url: str | None
    second_party_resource_url: str | None
    first_party_status: str | None
    second_party_status: str | None
    recording_resource_url: str | None
    call_billed_duration: int | None
    total_call_amount: str
    total_call_count: int | None


class Session(Body):
    """The session object (every response that carries a session carries all of it)."""

    session_uuid: str
    status: str = Field(description="active | in-progress | expired")
    first_party: str | None
    second_party: str | None
    virtual_number: str
    initiate_call_to_first_party: bool
    record: bool
    record_file_format: str
    recording_callback_url: str | None
    recording_callback_method: str
    callback_url: str | None
    callback_method: str
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
    generate_pin_length: int
    first_party_pin: str | None
    second_party_pin: str | None
    pin_prompt_play: str | None
    pin_retry: int
    pin_retry_wait: int
    incorrect_pin_play: str | None
    unknown_caller_play: str | None
    created_time: str
    modified_time: str
    expiry_time: str
    duration: int
    last_interaction_time: str | None
    amount: str
    total_call_count: int
    total_call_amount: str
    total_call_billed_duration: int
    total_session_amount: str
    interaction: list[Interaction] | None


class ListedSession(Session):
    resource_uri: str


class SessionCreated(Body):
    api_id: str
    session_uuid: str
    virtual_number: str
    message: str
    session: Session


class SessionGot(Body):
    api_id: str
    response: Session


class SessionUpdated(Session):
    api_id: str
    message: str
    session: Session


class SessionPage(Body):
    meta: Meta
    objects: list[ListedSession]


class SessionList(Body):
    api_id: str
    response: SessionPage


class Event(Body):
    id: int
    session_uuid: str | None
    sequence_number: int
    event_name: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    method: str
    url: str | None
    created_time: str | None
    next_attempt_time: str | None
    delivered_time: str | None
    params: dict[str, Any]


class EventObjects(Body):
    objects: list[Event]


class SessionEvents(Body):
    api_id: str
    response: EventObjects


# -- numbers, accounts, calls, recordings: the family's shapes, in api/shapes.py ------------

class Health(Body):
    status: str
    version: str


# -- request bodies (JSON or form; values in many shapes: docs/reference.md#values) --------

Flag = bool | str  # true/false or "true"/"false" in any case
Count = int | str  # 3600 or "3600"


class SessionCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "first_party": "+14155552345",
                "second_party": "+12165554567",
                "session_expiry": 3600,
                "call_time_limit": 3600,
                "record": True,
                "record_file_format": "mp3",
                "callback_url": "https://www.example.com/masking-events",
            }
        },
    )
    first_party: str | None = Field(None, description="E.164, with or without +")
    second_party: str | None = None
    session_expiry: Count | None = Field(None, description="1 … 2592000 s; 0 = default 3600")
    call_time_limit: Count | None = Field(None, description="1 … 14400 s, default 3600")
    ring_timeout: Count | None = Field(None, description="1 … 300 s, default 120")
    record: Flag | None = None
    record_file_format: str | None = Field(None, description="mp3 (default) or wav")
    recording_callback_url: str | None = None
    recording_callback_method: str | None = Field(None, description="GET or POST")
    callback_url: str | None = None
    callback_method: str | None = Field(None, description="GET or POST")
    first_party_play_url: str | None = None
    second_party_play_url: str | None = None
    initiate_call_to_first_party: Flag | None = None
    geomatch: Flag | None = Field(None, description="default true")
    subaccount: str | None = None
    virtual_number_cooloff_period: Count | None = Field(None, description="0 … 3600 s")
    create_session_with_single_party: Flag | None = None
    is_pin_authentication_required: Flag | None = None
    generate_pin: Flag | None = None
    generate_pin_length: Count | None = Field(None, description="4 … 15")
    first_party_pin: Count | None = None
    second_party_pin: Count | None = None
    pin_prompt_play: str | None = None
    pin_retry: Count | None = Field(None, description="0 … 5")
    pin_retry_wait: Count | None = Field(None, description="5 … 10 s")
    incorrect_pin_play: str | None = None
    unknown_caller_play: str | None = None
    force_pin_authentication: Flag | None = None


class SessionUpdate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "record": "true",
                "recording_callback_url": "https://www.example.com/recording",
            }
        },
    )
    session_expiry: Count | None = Field(None, description="counted from the update")
    call_time_limit: Count | None = None
    ring_timeout: Count | None = None
    record: Flag | None = None
    record_file_format: str | None = None
    recording_callback_url: str | None = None
    recording_callback_method: str | None = None
    callback_url: str | None = None
    callback_method: str | None = None
    first_party_play_url: str | None = None
    second_party_play_url: str | None = None
    first_party: str | None = Field(None, description="single-party sessions only")
    second_party: str | None = Field(None, description="single-party sessions only")


class NumbersAdd(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"example": {"numbers": "+12205550020,+12205550021"}},
    )
    numbers: str | list[str] | None = Field(
        None, description="one number, a comma-separated list, or a list (required, or number)"
    )
    number: str | list[str] | None = Field(None, description="the family's name for numbers")
    subaccount: str | None = None
    alias: str | None = None
    app_id: str | None = None
    answer_url: str | None = Field(None, description="for calls that match no session")
    carrier: str | None = Field(None, description="the family's; accepted, not kept")
    region: str | None = Field(None, description="the family's; accepted, not kept")


class NumberUpdate(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"alias": "north"}})
    alias: str | None = None
    app_id: str | None = None
    answer_url: str | None = None
    subaccount: str | None = None


class AccountUpdate(BaseModel):
    model_config = ConfigDict(
        extra="allow", json_schema_extra={"example": {"name": "Acme", "city": "Lyon"}}
    )
    name: str | None = None
    city: str | None = None
    address: str | None = None


class SubaccountCreate(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"name": "Fleet A"}})
    name: str
    enabled: Flag | None = None


class SubaccountUpdate(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"enabled": False}})
    name: str | None = None
    enabled: Flag | None = None
