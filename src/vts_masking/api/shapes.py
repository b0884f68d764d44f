"""The bodies of the account, subaccount, number, call and recording routes as pydantic
models: what ``domain.views`` renders, in the family's shapes (top-level objects, lists
as ``{api_id, meta, objects}``).

The routers build their JSON themselves; these models say what that JSON is, for the
OpenAPI document and for the tests, which check real answers against them. Models allow
keys they do not list (a client must ignore unknown keys), but every key they list is
required, and typed strictly (no "1" for 1), so a field that goes missing or changes
type fails the check.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class Meta(Body):
    limit: int
    offset: int
    next: str | None = Field(description="relative URL of the next page, with the filters")
    previous: str | None
    total_count: int


class Message(Body):
    api_id: str
    message: str


# -- the account and subaccounts -------------------------------------------------------------


class Account(Body):
    auth_id: str
    name: str
    account_type: str = Field(description="main | subaccount")
    enabled: bool
    parent_auth_id: str | None
    city: str | None
    address: str | None
    timezone: str = Field(description="always UTC: every time the API shows is UTC")
    created_time: str
    modified_time: str
    resource_uri: str


class AccountGot(Account):
    api_id: str


class AccountUpdated(AccountGot):
    message: str


class Subaccount(Body):
    auth_id: str
    name: str
    enabled: bool
    account: str = Field(description="the main account's resource URI")
    account_type: str
    parent_auth_id: str
    created: str = Field(description="YYYY-MM-DD")
    modified: str | None = Field(description="YYYY-MM-DD")
    created_time: str
    modified_time: str
    resource_uri: str = Field(description="/v1/Account/{main}/Subaccount/{auth_id}/")


class SubaccountGot(Subaccount):
    api_id: str


class SubaccountUpdated(SubaccountGot):
    message: str


class SubaccountCreated(Body):
    api_id: str
    message: str
    auth_id: str
    auth_token: str = Field(description="shown in this answer only")


class SubaccountList(Body):
    api_id: str
    meta: Meta
    objects: list[Subaccount]


# -- numbers ---------------------------------------------------------------------------------


class Number(Body):
    number: str = Field(description="E.164")
    alias: str | None
    country: str = Field(description="ISO 3166 alpha-2")
    number_type: str = Field(description="local | mobile | tollfree | national")
    sub_account: str | None = Field(description="the family's name of subaccount")
    subaccount: str | None
    app_id: str | None
    answer_url: str | None
    active: bool = Field(description="the family's name of in_service")
    in_service: bool
    state: str = Field(description="in_service | draining")
    active_sessions: int
    voice_enabled: bool
    sms_enabled: bool
    mms_enabled: bool
    added_on: str = Field(description="YYYY-MM-DD")
    added_time: str
    resource_uri: str


class NumberGot(Number):
    api_id: str


class NumberUpdated(NumberGot):
    message: str


class NumbersAdded(Body):
    api_id: str
    message: str
    numbers: list[str]


class NumberRemoved(Body):
    api_id: str
    message: str
    state: str = Field(description="removed | draining")


class NumberList(Body):
    api_id: str
    meta: Meta
    objects: list[Number]


# -- calls and recordings ----------------------------------------------------------------------


class Call(Body):
    call_uuid: str
    parent_call_uuid: str | None = Field(description="the first leg of the same call")
    session_uuid: str | None
    party: str | None = Field(description="first | second")
    call_direction: str = Field(description="inbound | outbound")
    from_number: str
    to_number: str
    call_status: str
    initiation_time: str
    answer_time: str | None
    end_time: str | None
    call_duration: int
    bill_duration: int = Field(description="seconds talked")
    billed_duration: int = Field(description="seconds billed (rounded up to the increment)")
    total_amount: str = Field(description="decimal, five places")
    total_rate: str | None = Field(description="per-minute rate billed (decimal)")
    hangup_cause_name: str | None
    hangup_cause_code: int | None
    hangup_source: None = Field(description="not recorded")
    resource_uri: str


class CallGot(Call):
    api_id: str


class CallList(Body):
    api_id: str
    meta: Meta
    objects: list[Call]


class LiveCallIds(Body):
    """``GET .../Call/?status=live`` (and ``queued``: always empty)."""

    api_id: str
    calls: list[str]


class LiveCall(Body):
    """``GET .../Call/{uuid}/?status=live``."""

    api_id: str
    call_uuid: str
    request_uuid: str
    session_uuid: str | None
    call_status: str = Field(description="ringing | in-progress")
    direction: str
    from_: str = Field(alias="from")
    to: str
    caller_name: None
    session_start: str


class Recording(Body):
    recording_id: str
    session_uuid: str | None
    call_uuid: str | None
    from_number: str | None
    to_number: str | None
    recording_type: str
    recording_format: str = Field(description="mp3 | wav")
    recording_status: str = Field(description="in-progress | completed | failed")
    add_time: str
    recording_start_time: str
    recording_end_time: str | None
    recording_start_ms: int
    recording_end_ms: int | None
    recording_duration_ms: int
    rounded_recording_duration: int
    recording_storage_duration: int = Field(description="whole days kept")
    recording_size: int
    recording_url: str = Field(description="absolute URL of the media file")
    recording_resource_url: str = Field(description="absolute URL of this resource")
    resource_uri: str


class RecordingGot(Recording):
    api_id: str


class RecordingList(Body):
    api_id: str
    meta: Meta
    objects: list[Recording]
