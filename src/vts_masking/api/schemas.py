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


class Message(Body):
    api_id: str
    message: str


class Meta(Body):
    limit: int
    offset: int
    next: str | None
    previous: str | None
    total_count: int


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


# -- numbers --------------------------------------------------------------------------------


class Number(Body):
    number: str
    country: str
    alias: str | None
    app_id: str | None
    answer_url: str | None
    subaccount: str | None
    active_sessions: int
    in_service: bool
    state: str
    added_time: str | None
    resource_uri: str


class NumbersAdded(Body):
    api_id: str
    message: str
    numbers: list[str]


class NumberGot(Body):
    api_id: str
    response: Number


class NumberUpdated(Body):
    api_id: str
    message: str
    response: Number


class NumberRemoved(Body):
    api_id: str
    message: str
    state: str = Field(description="removed | draining")


class NumberPage(Body):
    meta: Meta
    objects: list[Number]


class NumberList(Body):
    api_id: str
    response: NumberPage


# -- accounts -------------------------------------------------------------------------------


class Account(Body):
    auth_id: str
    name: str
    account_type: str = Field(description="main | subaccount")
    enabled: bool
    parent_auth_id: str | None
    created_time: str
    modified_time: str
    resource_uri: str


class AccountGot(Body):
    api_id: str
    response: Account


class SubaccountCreated(Body):
    api_id: str
    message: str
    auth_id: str
    auth_token: str


class SubaccountUpdated(Body):
    api_id: str
    message: str
    response: Account


class AccountPage(Body):
    meta: Meta
    objects: list[Account]


class SubaccountList(Body):
    api_id: str
    response: AccountPage


# -- calls and recordings -------------------------------------------------------------------


class Call(Body):
    call_uuid: str
    session_uuid: str | None
    party: str | None
    direction: str
    from_number: str
    to_number: str
    call_status: str
    initiation_time: str | None
    answer_time: str | None
    end_time: str | None
    call_duration: int
    bill_duration: int
    total_amount: str
    hangup_cause_name: str | None
    hangup_cause_code: int | None
    resource_uri: str


class CallGot(Body):
    api_id: str
    response: Call


class Recording(Body):
    recording_id: str
    session_uuid: str | None
    call_uuid: str | None
    recording_format: str
    recording_status: str
    recording_start_time: str | None
    recording_end_time: str | None
    recording_duration_ms: int
    recording_size: int
    recording_url: str
    recording_resource_url: str
    resource_uri: str


class RecordingGot(Body):
    api_id: str
    response: Recording


class RecordingPage(Body):
    meta: Meta
    objects: list[Recording]


class RecordingList(Body):
    api_id: str
    response: RecordingPage


class Health(Body):
    status: str
    version: str


# -- request bodies (JSON or form; values are taken in many shapes, spec §1) ----------------

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
    numbers: str | list[str] = Field(description="one number, a comma-separated list, or a list")
    subaccount: str | None = None
    alias: str | None = None
    app_id: str | None = None
    answer_url: str | None = Field(None, description="for calls that match no session")


class NumberUpdate(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"alias": "north"}})
    alias: str | None = None
    app_id: str | None = None
    answer_url: str | None = None
    subaccount: str | None = None


class SubaccountCreate(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"name": "Fleet A"}})
    name: str
    enabled: Flag | None = None


class SubaccountUpdate(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {"enabled": False}})
    name: str | None = None
    enabled: Flag | None = None
