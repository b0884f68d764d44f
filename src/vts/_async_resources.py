"""The resources of the asynchronous client (``vts.AsyncRestClient``).

GENERATED from ``_resources.py`` by ``python tests/sdk/test_async_twin.py``: do not edit.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING

from ._base import collect, segment
from .models import (
    AccountResponse,
    Call,
    CallList,
    CallResponse,
    DeleteResponse,
    LiveCall,
    LiveCallList,
    MaskingSession,
    MaskingSessionCreateResponse,
    MaskingSessionList,
    MaskingSessionResponse,
    MaskingSessionUpdateResponse,
    Number,
    NumberAddResponse,
    NumberDeleteResponse,
    NumberList,
    NumberResponse,
    Recording,
    RecordingList,
    RecordingResponse,
    Subaccount,
    SubaccountCreateResponse,
    SubaccountList,
    SubaccountResponse,
)

if TYPE_CHECKING:
    from .client import AsyncRestClient

__all__ = [
    "AsyncAccounts",
    "AsyncCalls",
    "AsyncMaskingSessions",
    "AsyncNumbers",
    "AsyncRecordings",
    "AsyncSubaccounts",
]

_SESSIONS = "Masking/Session/"


class _Resource:
    def __init__(self, client: AsyncRestClient) -> None:
        self._client = client


class AsyncMaskingSessions(_Resource):
    """``client.masking_sessions``: create, get, update, delete (expire) and list sessions."""

    async def create_masking_session(
        self,
        first_party: str | None = None,
        second_party: str | None = None,
        *,
        session_expiry: int | None = None,
        call_time_limit: int | None = None,
        ring_timeout: int | None = None,
        record: bool | None = None,
        record_file_format: str | None = None,
        recording_callback_url: str | None = None,
        recording_callback_method: str | None = None,
        callback_url: str | None = None,
        callback_method: str | None = None,
        first_party_play_url: str | None = None,
        second_party_play_url: str | None = None,
        initiate_call_to_first_party: bool | None = None,
        geomatch: bool | None = None,
        subaccount: str | None = None,
        virtual_number_cooloff_period: int | None = None,
        create_session_with_single_party: bool | None = None,
        is_pin_authentication_required: bool | None = None,
        generate_pin: bool | None = None,
        generate_pin_length: int | None = None,
        first_party_pin: str | None = None,
        second_party_pin: str | None = None,
        pin_prompt_play: str | None = None,
        pin_retry: int | None = None,
        pin_retry_wait: int | None = None,
        incorrect_pin_play: str | None = None,
        unknown_caller_play: str | None = None,
        force_pin_authentication: bool | None = None,
    ) -> MaskingSessionCreateResponse:
        """Create a session between two parties on a virtual number from the pool.

        Safe to retry: the call carries an ``Idempotency-Key`` reused by its retries.
        """
        body = collect(locals())
        return await self._client._request(
            "POST", _SESSIONS, body=body, parse=MaskingSessionCreateResponse
        )

    async def get_masking_session(self, session_uuid: str) -> MaskingSessionResponse:
        """Read one session; the session is ``.response`` (also ``.session``)."""
        path = f"{_SESSIONS}{segment(session_uuid, 'session_uuid')}/"
        return await self._client._request("GET", path, parse=MaskingSessionResponse)

    async def update_masking_session(
        self,
        session_uuid: str,
        *,
        session_expiry: int | None = None,
        call_time_limit: int | None = None,
        ring_timeout: int | None = None,
        record: bool | None = None,
        record_file_format: str | None = None,
        recording_callback_url: str | None = None,
        recording_callback_method: str | None = None,
        callback_url: str | None = None,
        callback_method: str | None = None,
        first_party_play_url: str | None = None,
        second_party_play_url: str | None = None,
        first_party: str | None = None,
        second_party: str | None = None,
    ) -> MaskingSessionUpdateResponse:
        """Change a session; changes apply to calls that start afterwards.

        ``session_expiry`` counts from now. ``first_party``/``second_party`` may only change
        on a single-party session. Safe to retry: the service answers a retry under the
        call's ``Idempotency-Key`` with the first answer (the expiry is not moved again).
        """
        body = collect(locals(), "session_uuid")
        path = f"{_SESSIONS}{segment(session_uuid, 'session_uuid')}/"
        return await self._client._request(
            "POST", path, body=body, parse=MaskingSessionUpdateResponse
        )

    async def delete_masking_session(self, session_uuid: str) -> DeleteResponse:
        """Expire a session now (it is kept, marked ``expired``)."""
        path = f"{_SESSIONS}{segment(session_uuid, 'session_uuid')}/"
        return await self._client._request("DELETE", path, parse=DeleteResponse)

    async def list_masking_session(
        self,
        *,
        first_party: str | None = None,
        second_party: str | None = None,
        virtual_number: str | None = None,
        status: str | None = None,
        created_time: datetime | str | None = None,
        created_time__gt: datetime | str | None = None,
        created_time__gte: datetime | str | None = None,
        created_time__lt: datetime | str | None = None,
        created_time__lte: datetime | str | None = None,
        expiry_time: datetime | str | None = None,
        expiry_time__gt: datetime | str | None = None,
        expiry_time__gte: datetime | str | None = None,
        expiry_time__lt: datetime | str | None = None,
        expiry_time__lte: datetime | str | None = None,
        duration: int | None = None,
        duration__gt: int | None = None,
        duration__gte: int | None = None,
        duration__lt: int | None = None,
        duration__lte: int | None = None,
        subaccount: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> MaskingSessionList:
        """One page of sessions, newest first (``limit`` 1 … 20)."""
        params = collect(locals())
        return await self._client._request(
            "GET", _SESSIONS, params=params, parse=MaskingSessionList
        )

    def list_all(
        self,
        *,
        first_party: str | None = None,
        second_party: str | None = None,
        virtual_number: str | None = None,
        status: str | None = None,
        created_time: datetime | str | None = None,
        created_time__gt: datetime | str | None = None,
        created_time__gte: datetime | str | None = None,
        created_time__lt: datetime | str | None = None,
        created_time__lte: datetime | str | None = None,
        expiry_time: datetime | str | None = None,
        expiry_time__gt: datetime | str | None = None,
        expiry_time__gte: datetime | str | None = None,
        expiry_time__lt: datetime | str | None = None,
        expiry_time__lte: datetime | str | None = None,
        duration: int | None = None,
        duration__gt: int | None = None,
        duration__gte: int | None = None,
        duration__lt: int | None = None,
        duration__lte: int | None = None,
        subaccount: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> AsyncIterator[MaskingSession]:
        """Every session matching the filters, fetching page after page (``limit`` per
        page) as the iteration goes."""
        params = collect(locals())
        return self._client._paginate(_SESSIONS, params, MaskingSessionList)


class AsyncNumbers(_Resource):
    """``client.numbers``: the pool of virtual numbers."""

    async def add(
        self,
        numbers: str | Sequence[str],
        *,
        subaccount: str | None = None,
        app_id: str | None = None,
        answer_url: str | None = None,
        alias: str | None = None,
    ) -> NumberAddResponse:
        """Add one number or several (a list, or a comma-separated string) to the pool.

        Safe to retry: the call carries an ``Idempotency-Key`` reused by its retries.
        """
        if not isinstance(numbers, str):
            numbers = ",".join(numbers)
        body = collect(locals())
        return await self._client._request("POST", "Number/", body=body, parse=NumberAddResponse)

    async def get(self, number: str) -> NumberResponse:
        """One number of the pool."""
        path = f"Number/{segment(number, 'number')}/"
        return await self._client._request("GET", path, parse=NumberResponse)

    async def list(
        self,
        *,
        number_contains: str | None = None,
        number_startswith: str | None = None,
        country: str | None = None,
        type: str | None = None,
        services: str | None = None,
        subaccount: str | None = None,
        alias: str | None = None,
        state: str | None = None,
        in_service: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> NumberList:
        """One page of the pool. ``type`` is the family's number type (``local``,
        ``mobile``, ``tollfree``, ``national``); ``services`` (``voice``, ``sms``, ``mms``,
        comma-separated): the pool carries voice only."""
        params = collect(locals())
        return await self._client._request("GET", "Number/", params=params, parse=NumberList)

    def list_all(
        self,
        *,
        number_contains: str | None = None,
        number_startswith: str | None = None,
        country: str | None = None,
        type: str | None = None,
        services: str | None = None,
        subaccount: str | None = None,
        alias: str | None = None,
        state: str | None = None,
        in_service: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> AsyncIterator[Number]:
        """Every number of the pool matching the filters, page after page."""
        params = collect(locals())
        return self._client._paginate("Number/", params, NumberList)

    async def update(
        self,
        number: str,
        *,
        alias: str | None = None,
        app_id: str | None = None,
        answer_url: str | None = None,
        subaccount: str | None = None,
    ) -> NumberResponse:
        """Change a number's alias, application or subaccount; answers the number."""
        body = collect(locals(), "number")
        path = f"Number/{segment(number, 'number')}/"
        return await self._client._request("POST", path, body=body, parse=NumberResponse)

    async def delete(self, number: str, *, drain: bool | None = None) -> NumberDeleteResponse:
        """Remove a number; with ``drain=True`` a number still in use takes no new sessions
        and goes when its last session ends."""
        params = collect(locals(), "number")
        path = f"Number/{segment(number, 'number')}/"
        return await self._client._request(
            "DELETE", path, params=params, parse=NumberDeleteResponse
        )


class AsyncSubaccounts(_Resource):
    """``client.subaccounts``: subaccounts of a main account."""

    async def create(self, name: str, *, enabled: bool | None = None) -> SubaccountCreateResponse:
        """Create a subaccount; its ``auth_token`` is in this answer only.

        Safe to retry: the call carries an ``Idempotency-Key`` reused by its retries, and
        the service keeps the first answer with the subaccount it made.
        """
        body = collect(locals())
        return await self._client._request(
            "POST", "Subaccount/", body=body, parse=SubaccountCreateResponse
        )

    async def get(self, auth_id: str) -> SubaccountResponse:
        """One subaccount (its auth token is not shown again)."""
        path = f"Subaccount/{segment(auth_id, 'auth_id')}/"
        return await self._client._request("GET", path, parse=SubaccountResponse)

    async def list(self, *, limit: int | None = None, offset: int | None = None) -> SubaccountList:
        params = collect(locals())
        return await self._client._request(
            "GET", "Subaccount/", params=params, parse=SubaccountList
        )

    def list_all(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> AsyncIterator[Subaccount]:
        params = collect(locals())
        return self._client._paginate("Subaccount/", params, SubaccountList)

    async def update(
        self, auth_id: str, *, name: str | None = None, enabled: bool | None = None
    ) -> SubaccountResponse:
        """Rename, enable or disable a subaccount."""
        body = collect(locals(), "auth_id")
        path = f"Subaccount/{segment(auth_id, 'auth_id')}/"
        return await self._client._request("POST", path, body=body, parse=SubaccountResponse)

    async def delete(self, auth_id: str, *, cascade: bool | None = None) -> DeleteResponse:
        """Delete a subaccount (refused while it has active sessions). Its numbers go
        back to the main account's pool, or with ``cascade=True`` leave the pool too."""
        params = collect(locals(), "auth_id")
        path = f"Subaccount/{segment(auth_id, 'auth_id')}/"
        return await self._client._request("DELETE", path, params=params, parse=DeleteResponse)


class AsyncCalls(_Resource):
    """``client.calls``: call records (one per call leg), and the legs still up."""

    async def get(self, call_uuid: str) -> CallResponse:
        """One call leg's record."""
        path = f"Call/{segment(call_uuid, 'call_uuid')}/"
        return await self._client._request("GET", path, parse=CallResponse)

    async def list(
        self,
        *,
        session_uuid: str | None = None,
        subaccount: str | None = None,
        call_direction: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        status: str | None = None,
        parent_call_uuid: str | None = None,
        hangup_cause_code: int | None = None,
        initiation_time: datetime | str | None = None,
        initiation_time__gt: datetime | str | None = None,
        initiation_time__gte: datetime | str | None = None,
        initiation_time__lt: datetime | str | None = None,
        initiation_time__lte: datetime | str | None = None,
        answer_time: datetime | str | None = None,
        answer_time__gt: datetime | str | None = None,
        answer_time__gte: datetime | str | None = None,
        answer_time__lt: datetime | str | None = None,
        answer_time__lte: datetime | str | None = None,
        end_time: datetime | str | None = None,
        end_time__gt: datetime | str | None = None,
        end_time__gte: datetime | str | None = None,
        end_time__lt: datetime | str | None = None,
        end_time__lte: datetime | str | None = None,
        bill_duration: int | None = None,
        bill_duration__gt: int | None = None,
        bill_duration__gte: int | None = None,
        bill_duration__lt: int | None = None,
        bill_duration__lte: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> CallList:
        """One page of call legs, newest first. ``from_number``/``to_number`` match a
        number or its first digits; ``status`` is a leg's ``call_status``
        (``completed``, ``busy``, ``no-answer``…)."""
        params = collect(locals())
        return await self._client._request("GET", "Call/", params=params, parse=CallList)

    def list_all(
        self,
        *,
        session_uuid: str | None = None,
        subaccount: str | None = None,
        call_direction: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        status: str | None = None,
        parent_call_uuid: str | None = None,
        hangup_cause_code: int | None = None,
        initiation_time: datetime | str | None = None,
        initiation_time__gt: datetime | str | None = None,
        initiation_time__gte: datetime | str | None = None,
        initiation_time__lt: datetime | str | None = None,
        initiation_time__lte: datetime | str | None = None,
        answer_time: datetime | str | None = None,
        answer_time__gt: datetime | str | None = None,
        answer_time__gte: datetime | str | None = None,
        answer_time__lt: datetime | str | None = None,
        answer_time__lte: datetime | str | None = None,
        end_time: datetime | str | None = None,
        end_time__gt: datetime | str | None = None,
        end_time__gte: datetime | str | None = None,
        end_time__lt: datetime | str | None = None,
        end_time__lte: datetime | str | None = None,
        bill_duration: int | None = None,
        bill_duration__gt: int | None = None,
        bill_duration__gte: int | None = None,
        bill_duration__lt: int | None = None,
        bill_duration__lte: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> AsyncIterator[Call]:
        """Every call leg matching the filters, page after page."""
        params = collect(locals())
        return self._client._paginate("Call/", params, CallList)

    async def list_live(
        self,
        *,
        session_uuid: str | None = None,
        call_direction: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> LiveCallList:
        """The uuids of the legs still up (``.calls``)."""
        params = {**collect(locals()), "status": "live"}
        return await self._client._request("GET", "Call/", params=params, parse=LiveCallList)

    async def get_live(self, call_uuid: str) -> LiveCall:
        """A leg still up; ``ResourceNotFoundError`` once it has ended."""
        path = f"Call/{segment(call_uuid, 'call_uuid')}/"
        return await self._client._request("GET", path, params={"status": "live"}, parse=LiveCall)


class AsyncRecordings(_Resource):
    """``client.recordings``: recordings' metadata and media."""

    async def get(self, recording_id: str) -> RecordingResponse:
        """A recording's metadata."""
        path = f"Recording/{segment(recording_id, 'recording_id')}/"
        return await self._client._request("GET", path, parse=RecordingResponse)

    async def list(
        self,
        *,
        session_uuid: str | None = None,
        call_uuid: str | None = None,
        subaccount: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        add_time: datetime | str | None = None,
        add_time__gt: datetime | str | None = None,
        add_time__gte: datetime | str | None = None,
        add_time__lt: datetime | str | None = None,
        add_time__lte: datetime | str | None = None,
        recording_storage_duration: int | None = None,
        recording_storage_duration__gt: int | None = None,
        recording_storage_duration__gte: int | None = None,
        recording_storage_duration__lt: int | None = None,
        recording_storage_duration__lte: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> RecordingList:
        params = collect(locals())
        return await self._client._request("GET", "Recording/", params=params, parse=RecordingList)

    def list_all(
        self,
        *,
        session_uuid: str | None = None,
        call_uuid: str | None = None,
        subaccount: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
        add_time: datetime | str | None = None,
        add_time__gt: datetime | str | None = None,
        add_time__gte: datetime | str | None = None,
        add_time__lt: datetime | str | None = None,
        add_time__lte: datetime | str | None = None,
        recording_storage_duration: int | None = None,
        recording_storage_duration__gt: int | None = None,
        recording_storage_duration__gte: int | None = None,
        recording_storage_duration__lt: int | None = None,
        recording_storage_duration__lte: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> AsyncIterator[Recording]:
        params = collect(locals())
        return self._client._paginate("Recording/", params, RecordingList)

    async def delete(self, recording_id: str) -> DeleteResponse:
        path = f"Recording/{segment(recording_id, 'recording_id')}/"
        return await self._client._request("DELETE", path, parse=DeleteResponse)

    async def download(
        self, recording_id: str, destination: str | os.PathLike[str] | IO[bytes]
    ) -> Recording:
        """Fetch the recording's media (``recording_url``) into a file path or a binary
        file object; returns the recording's metadata. A path is written atomically (to
        ``<path>.part``, renamed when complete)."""
        path = f"Recording/{segment(recording_id, 'recording_id')}/"
        return await self._client._download(path, destination)


class AsyncAccounts(_Resource):
    """``client.account``: the account the client authenticates as."""

    async def get(self) -> AccountResponse:
        """The account itself."""
        return await self._client._request("GET", "", parse=AccountResponse)

    async def update(
        self, *, name: str | None = None, city: str | None = None, address: str | None = None
    ) -> AccountResponse:
        """Change the account's name, city or address; answers the account."""
        body = collect(locals())
        return await self._client._request("POST", "", body=body, parse=AccountResponse)
