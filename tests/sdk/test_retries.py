"""Retries against a real HTTP server that fails the first attempts (see conftest.FakeVTS).

Sleeps are recorded instead of slept, so the tests assert which waits the client asked for
rather than how long anything took.
"""

from __future__ import annotations

import asyncio
import io
import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

import vts
from vts._base import RetryPolicy

from .conftest import AUTH_ID, AUTH_TOKEN, MEDIA


def make_client(url: str, **kwargs) -> tuple[vts.RestClient, list[float]]:
    client = vts.RestClient(AUTH_ID, AUTH_TOKEN, base_url=url, **kwargs)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


def make_async_client(url: str, **kwargs) -> tuple[vts.AsyncRestClient, list[float]]:
    client = vts.AsyncRestClient(AUTH_ID, AUTH_TOKEN, base_url=url, **kwargs)
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)

    client._sleep = record
    return client, sleeps


def create(client: vts.RestClient):
    return client.masking_sessions.create_masking_session(
        first_party="+14155552345", second_party="+12165554567"
    )


def test_get_is_retried_after_503_and_succeeds(fake):
    client, sleeps = make_client(fake.url)
    created = create(client)
    fake.fail("status", "GET", times=2, status=503)
    got = client.masking_sessions.get_masking_session(created.session_uuid)
    assert got.session.session_uuid == created.session_uuid
    assert len(fake.seen("GET")) == 3
    assert len(sleeps) == 2


def test_get_gives_up_after_max_retries_with_server_error(fake):
    client, sleeps = make_client(fake.url, max_retries=2)
    fake.fail("status", "GET", times=5, status=502, body={"api_id": "a-1", "error": "boom"})
    with pytest.raises(vts.ServerError) as info:
        client.masking_sessions.get_masking_session("x")
    assert (info.value.status, info.value.error, info.value.api_id) == (502, "boom", "a-1")
    assert len(fake.seen("GET")) == 3
    assert len(sleeps) == 2


def test_max_retries_zero_means_one_attempt(fake):
    client, sleeps = make_client(fake.url, max_retries=0)
    fake.fail("status", "GET", times=1, status=503)
    with pytest.raises(vts.ServerError):
        client.masking_sessions.get_masking_session("x")
    assert len(fake.seen("GET")) == 1
    assert sleeps == []


def test_429_retry_after_seconds_is_honoured(fake):
    client, sleeps = make_client(fake.url)
    fake.fail("status", "GET", status=429, headers={"Retry-After": "7"})
    client.masking_sessions.list_masking_session()
    assert sleeps == [7.0]


def test_429_retry_after_http_date_is_honoured(fake):
    client, sleeps = make_client(fake.url)
    when = datetime.now(UTC) + timedelta(seconds=30)
    fake.fail("status", "GET", status=429, headers={"Retry-After": format_datetime(when, True)})
    client.masking_sessions.list_masking_session()
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 30


def test_retry_after_beyond_the_limit_raises_rate_limit_error_at_once(fake):
    client, sleeps = make_client(fake.url, max_retry_after=10)
    fake.fail(
        "status",
        "GET",
        status=429,
        headers={"Retry-After": "120"},
        body={"api_id": "r-1", "error": "Too many requests."},
    )
    with pytest.raises(vts.RateLimitError) as info:
        client.masking_sessions.list_masking_session()
    assert info.value.retry_after == 120.0
    assert info.value.status == 429
    assert info.value.error == "Too many requests."
    assert sleeps == []


def test_backoff_is_exponential_with_jitter_when_no_retry_after(fake):
    client, sleeps = make_client(fake.url, max_retries=4, backoff_factor=0.5, backoff_max=3)
    fake.fail("status", "GET", times=4, status=500)
    client.masking_sessions.list_masking_session()
    ceilings = [0.5, 1.0, 2.0, 3.0]
    assert len(sleeps) == 4
    for slept, ceiling in zip(sleeps, ceilings, strict=True):
        assert ceiling / 2 <= slept <= ceiling


def test_jitter_spreads_the_waits():
    policy = RetryPolicy(backoff_factor=1.0, rng=random.Random(7))
    waits = {policy.delay(1, None) for _ in range(20)}
    assert len(waits) > 1


def test_create_sends_one_idempotency_key_reused_by_its_retries(fake):
    client, _ = make_client(fake.url)
    fake.fail("status", "POST", times=2, status=503)
    create(client)
    keys = [r.headers.get("Idempotency-Key") for r in fake.seen("POST")]
    assert len(keys) == 3
    assert keys[0] and len(set(keys)) == 1


def test_each_create_call_gets_its_own_key(fake):
    client, _ = make_client(fake.url)
    create(client)
    create(client)
    keys = {r.headers.get("Idempotency-Key") for r in fake.seen("POST")}
    assert len(keys) == 2
    assert len(fake.sessions) == 2


def test_retried_create_whose_answer_was_lost_yields_one_session(fake):
    client, sleeps = make_client(fake.url)
    fake.fail("drop_after", "POST")  # the session is made, the answer never arrives
    created = create(client)
    assert len(fake.seen("POST")) == 2
    assert len(sleeps) == 1
    assert list(fake.sessions) == [created.session_uuid]
    listed = client.masking_sessions.list_masking_session()
    assert listed.meta.total_count == 1


def test_retried_create_after_a_500_from_a_finished_create_yields_one_session(fake):
    client, _ = make_client(fake.url)
    fake.fail("status_after", "POST", status=500)
    created = create(client)
    assert list(fake.sessions) == [created.session_uuid]


def test_update_is_retried_on_503_under_one_key(fake):
    client, sleeps = make_client(fake.url)
    created = create(client)
    fake.fail("status", "POST", status=503)
    updated = client.masking_sessions.update_masking_session(created.session_uuid, record=True)
    assert updated.record is True
    posts = fake.seen("POST", created.session_uuid)
    assert len(posts) == 2
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert len(sleeps) == 1


def test_a_409_with_retry_after_is_retried_a_twin_was_still_running(fake):
    client, sleeps = make_client(fake.url)
    fake.fail(
        "status",
        "POST",
        status=409,
        headers={"Retry-After": "1"},
        body={"api_id": "t", "error": "A request with this Idempotency-Key is still in progress."},
    )
    create(client)
    assert sleeps == [1.0]
    first, retry = fake.seen("POST")
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]


def test_a_409_without_retry_after_is_not_retried(fake):
    client, sleeps = make_client(fake.url)
    fake.fail("status", "POST", status=409, body={"api_id": "t", "error": "Conflict."})
    with pytest.raises(vts.InvalidRequestError):
        create(client)
    assert sleeps == []


def test_update_is_retried_after_429_because_nothing_was_done(fake):
    client, sleeps = make_client(fake.url)
    created = create(client)
    fake.fail("status", "POST", status=429, headers={"Retry-After": "1"})
    updated = client.masking_sessions.update_masking_session(created.session_uuid, record=True)
    assert updated.record is True
    assert sleeps == [1.0]


def test_subaccount_create_and_number_add_are_retried_under_one_key(fake):
    client, sleeps = make_client(fake.url)
    fake.fail("status", "POST", status=503)
    with pytest.raises(vts.InvalidRequestError):  # the fake knows no subaccounts (405)
        client.subaccounts.create("x")
    first, retry = fake.seen("POST")
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]
    fake.fail("drop", "POST")
    with pytest.raises(vts.InvalidRequestError):
        client.numbers.add(["+12202000001"])
    first, retry = fake.seen("POST")[2:]
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]
    assert len(sleeps) == 2


def test_update_whose_connection_drops_is_retried(fake):
    client, sleeps = make_client(fake.url)
    created = create(client)
    fake.fail("drop", "POST")
    updated = client.masking_sessions.update_masking_session(created.session_uuid, record=True)
    assert updated.record is True
    assert len(fake.seen("POST", created.session_uuid)) == 2
    assert len(sleeps) == 1


def test_validation_error_is_not_retried(fake):
    client, sleeps = make_client(fake.url)
    fake.fail("status", "GET", status=400, body={"api_id": "v", "error": "Invalid parameter."})
    with pytest.raises(vts.ValidationError):
        client.masking_sessions.list_masking_session(limit=50)
    assert sleeps == []


def test_delete_is_retried_after_a_dropped_connection(fake):
    client, sleeps = make_client(fake.url)
    created = create(client)
    fake.fail("drop", "DELETE")
    answer = client.masking_sessions.delete_masking_session(created.session_uuid)
    assert answer.message == "Session expired"
    deletes = fake.seen("DELETE")
    assert len(deletes) == 2
    assert deletes[0].headers["Idempotency-Key"] == deletes[1].headers["Idempotency-Key"]
    assert len(sleeps) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_raises_connection_error_after_the_retries():
    client, sleeps = make_client(f"http://127.0.0.1:{_closed_port()}", max_retries=2)
    with pytest.raises(vts.VTSConnectionError) as info:
        client.masking_sessions.get_masking_session("x")
    assert isinstance(info.value, vts.VTSRestException)
    assert info.value.status is None
    assert len(sleeps) == 2


def test_update_is_retried_when_the_connection_is_refused():
    # Nothing reached the server, so even a non-idempotent call may be tried again.
    client, sleeps = make_client(f"http://127.0.0.1:{_closed_port()}", max_retries=1)
    with pytest.raises(vts.VTSConnectionError):
        client.masking_sessions.update_masking_session("x", record=True)
    assert len(sleeps) == 1


def test_list_all_walks_every_page(fake):
    client, _ = make_client(fake.url)
    made = [create(client).session_uuid for _ in range(7)]
    seen = [s.session_uuid for s in client.masking_sessions.list_all(limit=3)]
    assert seen == list(reversed(made))
    offsets = [r.query["offset"][0] for r in fake.seen("GET", "Masking/Session")]
    assert offsets == ["0", "3", "6"]


def test_list_all_retries_a_failing_page(fake):
    client, sleeps = make_client(fake.url)
    for _ in range(4):
        create(client)
    fake.faults.clear()
    iterator = client.masking_sessions.list_all(limit=2)
    first = [next(iterator), next(iterator)]
    fake.fail("status", "GET", status=503)
    rest = list(iterator)
    assert len(first + rest) == 4
    assert len(sleeps) == 1


def test_download_retries_and_writes_the_file_atomically(fake, tmp_path):
    client, sleeps = make_client(fake.url)
    fake.fail("drop", "GET", path_part="/media/")
    target = tmp_path / "rec.wav"
    recording = client.recordings.download("rec-1", target)
    assert recording.recording_id == "rec-1"
    assert target.read_bytes() == MEDIA
    assert not (tmp_path / "rec.wav.part").exists()
    assert len(sleeps) == 1


def test_download_into_a_file_object(fake):
    client, _ = make_client(fake.url)
    buffer = io.BytesIO()
    client.recordings.download("rec-1", buffer)
    assert buffer.getvalue() == MEDIA


def test_failed_download_leaves_no_partial_file(fake, tmp_path):
    client, _ = make_client(fake.url, max_retries=0)
    fake.fail("status", "GET", path_part="/media/", status=404)
    target = tmp_path / "rec.wav"
    with pytest.raises(vts.ResourceNotFoundError):
        client.recordings.download("rec-1", target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.asyncio
async def test_async_retried_create_whose_answer_was_lost_yields_one_session(fake):
    client, sleeps = make_async_client(fake.url)
    async with client:
        fake.fail("drop_after", "POST")
        created = await client.masking_sessions.create_masking_session(
            first_party="+14155552345", second_party="+12165554567"
        )
        keys = {r.headers["Idempotency-Key"] for r in fake.seen("POST")}
        assert len(keys) == 1
        assert list(fake.sessions) == [created.session_uuid]
        assert len(sleeps) == 1


@pytest.mark.asyncio
async def test_async_get_honours_retry_after_and_list_all_pages(fake):
    client, sleeps = make_async_client(fake.url)
    async with client:
        for _ in range(3):
            await client.masking_sessions.create_masking_session("+14155552345", "+12165554567")
        fake.fail("status", "GET", status=429, headers={"Retry-After": "2"})
        seen = [s async for s in client.masking_sessions.list_all(limit=2)]
        assert len(seen) == 3
        assert sleeps == [2.0]


@pytest.mark.asyncio
async def test_async_download_and_errors(fake, tmp_path):
    client, _ = make_async_client(fake.url, max_retries=0)
    async with client:
        await client.recordings.download("rec-1", tmp_path / "a.wav")
        assert (tmp_path / "a.wav").read_bytes() == MEDIA
        with pytest.raises(vts.ResourceNotFoundError) as info:
            await client.masking_sessions.get_masking_session("missing")
        assert info.value.error == "Session not found."


def test_async_client_works_under_plain_asyncio_run(fake):
    async def main() -> str:
        async with vts.AsyncRestClient(AUTH_ID, AUTH_TOKEN, base_url=fake.url) as client:
            created = await client.masking_sessions.create_masking_session(
                "+14155552345", "+12165554567"
            )
            return created.session_uuid

    assert asyncio.run(main()) in fake.sessions
