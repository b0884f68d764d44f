"""The SDK against the real service: ``vts-masking serve`` started as a subprocess on a free
loopback port with a temporary data dir, an account and numbers made with the operator's
CLI, exactly as an operator would. No HTTP mocks.

Skips (with the reason) when the service's CLI is not available.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import vts
from tests.support.calls import log_call
from vts.models import MaskingSession
from vts_masking.store import Store

VIRTUAL_NUMBERS = [f"+1220200{n:04d}" for n in range(1, 9)]
_parties = itertools.count(1)


def party() -> str:
    """A fresh party number, so no two tests compete for the same bindings."""
    return f"+1415555{next(_parties):04d}"


def _cli() -> list[str] | None:
    exe = shutil.which("vts-masking")
    if exe:
        return [exe]
    try:
        import vts_masking.cli  # noqa: F401
    except Exception:
        return None
    return [sys.executable, "-c", "from vts_masking.cli import app; app()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(cli: list[str], *args: str) -> str:
    done = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


@dataclass
class Service:
    url: str
    auth_id: str
    auth_token: str
    data_dir: Path
    cli: list[str]

    @functools.cached_property
    def store(self) -> Store:
        """The service's own database, for writing call records the way its call engine
        does (tests/support/calls.py): this service runs without its SIP edge."""
        return Store(f"sqlite:///{self.data_dir / 'vts.sqlite3'}", pool_size=1)

    def client(self, **kwargs: Any) -> vts.RestClient:
        kwargs.setdefault("timeout", 30.0)
        return vts.RestClient(self.auth_id, self.auth_token, base_url=self.url, **kwargs)

    def async_client(self, **kwargs: Any) -> vts.AsyncRestClient:
        kwargs.setdefault("timeout", 30.0)
        return vts.AsyncRestClient(self.auth_id, self.auth_token, base_url=self.url, **kwargs)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    cli = _cli()
    if cli is None:
        pytest.skip("the service's CLI (vts-masking) is not available yet")
    data_dir = tmp_path_factory.mktemp("vts-data")
    common = ["--data-dir", str(data_dir)]
    try:
        account = json.loads(
            _run(cli, "account", "create", "--name", "sdk-tests", "--json", *common)
        )
        _run(cli, "numbers", "add", "--account", account["auth_id"], *VIRTUAL_NUMBERS, *common)
    except (RuntimeError, ValueError, KeyError) as exc:
        pytest.skip(f"the service's CLI cannot set up an account yet: {exc}")
    port = _free_port()
    log = open(data_dir / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            *cli,
            "serve",
            "--port",
            str(port),
            "--no-sip",
            "--allow-private-callbacks",  # the signed-callback test receives on loopback
            "--log-level",
            "warning",
            *common,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"vts-masking serve exited: {(data_dir / 'serve.log').read_text()}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vts-masking serve did not become healthy in 60 s")
            time.sleep(0.05)
        yield Service(url, account["auth_id"], account["auth_token"], data_dir, cli)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def client(live: Service) -> Iterator[vts.RestClient]:
    with live.client() as c:
        yield c


def new_session(client: vts.RestClient, **params: Any) -> vts.models.MaskingSessionCreateResponse:
    return client.masking_sessions.create_masking_session(
        first_party=party(), second_party=party(), **params
    )


# -- the seed's example ---------------------------------------------------------------------


def test_seed_example_runs_verbatim(live, client, monkeypatch, capsys):
    session_uuid = new_session(client).session_uuid
    monkeypatch.setenv("VTS_API_URL", live.url)
    auth_id, auth_token = live.auth_id, live.auth_token

    # The seed page's example, with the credentials and the session substituted.
    client = vts.RestClient(auth_id=auth_id, auth_token=auth_token)
    response = client.masking_sessions.update_masking_session(
        session_uuid=session_uuid, call_time_limit=3600, record=True
    )
    print(response)

    printed = json.loads(capsys.readouterr().out)
    assert printed["session_uuid"] == session_uuid
    assert printed["record"] is True
    assert printed["call_time_limit"] == 3600
    assert printed["message"] == "Session updated"
    assert response.record is True
    assert response.session.record is True


def test_credentials_from_the_environment(live, monkeypatch):
    monkeypatch.setenv("VTS_AUTH_ID", live.auth_id)
    monkeypatch.setenv("VTS_AUTH_TOKEN", live.auth_token)
    monkeypatch.setenv("VTS_API_URL", live.url)
    with vts.RestClient() as client:
        assert client.account.get().auth_id == live.auth_id


# -- masking sessions ------------------------------------------------------------------------


def test_create_returns_a_typed_session(client):
    first, second = party(), party()
    local_first = f"1 {first[2:5]}-{first[5:8]}-{first[8:]}"  # spaces, dashes, no "+"
    created = client.masking_sessions.create_masking_session(
        first_party=local_first,
        second_party=second,
        record=True,
        session_expiry=600,
        record_file_format="wav",
    )
    assert created.message == "Session created"
    assert created.api_id
    assert created.virtual_number in VIRTUAL_NUMBERS
    session = created.session
    assert isinstance(session, MaskingSession)
    assert session.session_uuid == created.session_uuid
    assert session.first_party == first
    assert session.second_party == second
    assert session.record is True
    assert session.record_file_format == "wav"
    assert session.session_expiry == 600
    assert session.status == "active"
    assert isinstance(session.created_time, datetime)
    assert session.created_time.tzinfo is UTC
    assert abs(datetime.now(UTC) - session.created_time) < timedelta(minutes=5)
    assert session.expiry_time - session.created_time == timedelta(seconds=600)
    assert session.total_call_amount == Decimal("0")
    assert isinstance(session.total_session_amount, Decimal)
    assert session["record"] is True
    assert created.raw["session"]["created_time"] == session.created_time.strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def test_get_round_trips(client):
    created = new_session(client, call_time_limit=120, geomatch=False)
    got = client.masking_sessions.get_masking_session(created.session_uuid)
    assert got.response.session_uuid == created.session_uuid
    assert got.session.call_time_limit == 120
    assert got.session.geomatch is False
    assert got.session.to_dict() == created.session.to_dict()


def test_update_returns_fields_at_the_top_level_and_under_session(client):
    created = new_session(client)
    updated = client.masking_sessions.update_masking_session(
        created.session_uuid,
        ring_timeout=45,
        callback_url="https://example.com/events",
        callback_method="GET",
        session_expiry=7200,
    )
    assert updated.message == "Session updated"
    assert updated.ring_timeout == 45 == updated.session.ring_timeout
    assert updated.callback_url == "https://example.com/events"
    assert updated.callback_method == "GET"
    assert updated.session_expiry == 7200
    assert updated.expiry_time - updated.modified_time == timedelta(seconds=7200)
    again = client.masking_sessions.get_masking_session(created.session_uuid)
    assert again.session.ring_timeout == 45


def test_delete_expires_and_a_second_delete_is_refused(client):
    created = new_session(client)
    answer = client.masking_sessions.delete_masking_session(created.session_uuid)
    assert answer.message == "Session expired"
    assert answer.api_id
    got = client.masking_sessions.get_masking_session(created.session_uuid)
    assert got.session.status == "expired"
    with pytest.raises(vts.ValidationError) as info:
        client.masking_sessions.delete_masking_session(created.session_uuid)
    assert info.value.error == "Session already expired."
    assert info.value.status == 400


def test_list_filters_and_meta(client):
    first = party()
    made = [
        client.masking_sessions.create_masking_session(first_party=first, second_party=party())
        for _ in range(3)
    ]
    page = client.masking_sessions.list_masking_session(first_party=first, limit=2)
    assert page.meta.total_count == 3
    assert page.meta.limit == 2
    assert page.meta.offset == 0
    assert page.meta.next is not None
    assert page.meta.previous is None
    assert [s.session_uuid for s in page.objects] == [m.session_uuid for m in made[::-1]][:2]
    assert all(isinstance(s, MaskingSession) for s in page.objects)
    assert page.objects[0].resource_uri.endswith(f"/Masking/Session/{made[-1].session_uuid}/")
    expired = client.masking_sessions.list_masking_session(first_party=first, status="expired")
    assert expired.meta.total_count == 0


def test_list_all_iterates_every_page(client):
    first = party()
    made = {
        client.masking_sessions.create_masking_session(
            first_party=first, second_party=party()
        ).session_uuid
        for _ in range(5)
    }
    seen = [s.session_uuid for s in client.masking_sessions.list_all(first_party=first, limit=2)]
    assert len(seen) == 5
    assert set(seen) == made


def test_list_filters_by_time_with_datetime_values(client):
    first = party()
    created = client.masking_sessions.create_masking_session(
        first_party=first, second_party=party()
    )
    when = created.session.created_time
    after = client.masking_sessions.list_masking_session(
        first_party=first, created_time__gte=when - timedelta(seconds=1)
    )
    before = client.masking_sessions.list_masking_session(
        first_party=first, created_time__lt=when - timedelta(hours=1)
    )
    assert after.meta.total_count == 1
    assert before.meta.total_count == 0


def test_async_client_round_trips(live):
    async def main() -> None:
        async with live.async_client() as client:
            created = await client.masking_sessions.create_masking_session(
                first_party=party(), second_party=party(), record=True
            )
            got = await client.masking_sessions.get_masking_session(created.session_uuid)
            assert got.session.record is True
            updated = await client.masking_sessions.update_masking_session(
                created.session_uuid, call_time_limit=60
            )
            assert updated.call_time_limit == 60
            listed = [
                s.session_uuid
                async for s in client.masking_sessions.list_all(
                    first_party=created.session.first_party
                )
            ]
            assert listed == [created.session_uuid]
            deleted = await client.masking_sessions.delete_masking_session(created.session_uuid)
            assert deleted.message == "Session expired"
            with pytest.raises(vts.ResourceNotFoundError):
                await client.masking_sessions.get_masking_session("no-such-session")

    asyncio.run(main())


# -- numbers, subaccounts, account -----------------------------------------------------------


def test_numbers_round_trip(client):
    added = client.numbers.add(["+12202009001", "1 220 200 9002"], alias="sdk")
    assert added.numbers == ["+12202009001", "+12202009002"]
    got = client.numbers.get("+12202009001")
    assert got.number == "+12202009001"
    assert got.alias == "sdk"
    assert got.in_service is True
    assert got.active_sessions == 0
    updated = client.numbers.update("+12202009002", alias="renamed")
    assert updated.alias == "renamed"
    listed = client.numbers.list(alias="sdk")
    assert [n.number for n in listed.objects] == ["+12202009001"]
    everything = {n.number for n in client.numbers.list_all(limit=3)}
    assert set(VIRTUAL_NUMBERS) | {"+12202009001", "+12202009002"} <= everything
    assert client.numbers.delete("+12202009001").state == "removed"
    assert client.numbers.delete("+12202009002").state == "removed"
    with pytest.raises(vts.ResourceNotFoundError):
        client.numbers.get("+12202009001")


def test_number_in_use_is_refused_then_drained(live, client):
    client.numbers.add("+12202009101", subaccount=None)
    sub = client.subaccounts.create("drain-pool")
    try:
        client.numbers.update("+12202009101", subaccount=sub.auth_id)
        with vts.RestClient(sub.auth_id, sub.auth_token, base_url=live.url) as as_sub:
            session = new_session(as_sub)
        assert session.virtual_number == "+12202009101"
        with pytest.raises(vts.ValidationError):
            client.numbers.delete("+12202009101")
        assert client.numbers.delete("+12202009101", drain=True).state == "draining"
    finally:
        with contextlib.suppress(vts.VTSRestException):
            client.subaccounts.delete(sub.auth_id)


def test_subaccounts_round_trip(live, client):
    created = client.subaccounts.create("sdk-sub")
    assert created.auth_id.startswith("SA") and len(created.auth_id) == 20
    assert created.auth_token
    got = client.subaccounts.get(created.auth_id)
    assert got.name == "sdk-sub"
    assert got.enabled is True
    assert got.account_type == "subaccount"
    updated = client.subaccounts.update(created.auth_id, name="renamed", enabled=False)
    assert updated.name == "renamed"
    assert updated.enabled is False
    assert created.auth_id in {s.auth_id for s in client.subaccounts.list().objects}
    assert created.auth_id in {s.auth_id for s in client.subaccounts.list_all(limit=1)}
    client.subaccounts.update(created.auth_id, enabled=True)
    with vts.RestClient(created.auth_id, created.auth_token, base_url=live.url) as as_sub:
        me = as_sub.account.get()
        assert me.auth_id == created.auth_id
        assert me.parent_auth_id == live.auth_id
    assert client.subaccounts.delete(created.auth_id).message
    with pytest.raises(vts.ResourceNotFoundError):
        client.subaccounts.get(created.auth_id)


def test_account_get(live, client):
    account = client.account.get()
    assert account.auth_id == live.auth_id
    assert account.account_type == "main"
    assert isinstance(account.created_time, datetime)


def test_calls_and_recordings_unknown_ids_are_not_found(client, tmp_path):
    with pytest.raises(vts.ResourceNotFoundError):
        client.calls.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(vts.ResourceNotFoundError):
        client.recordings.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(vts.ResourceNotFoundError):
        client.recordings.delete("00000000-0000-0000-0000-000000000000")
    with pytest.raises(vts.ResourceNotFoundError):
        client.recordings.download("00000000-0000-0000-0000-000000000000", tmp_path / "x.mp3")
    assert list(tmp_path.iterdir()) == []
    page = client.recordings.list(session_uuid="00000000-0000-0000-0000-000000000000")
    assert page.objects == []
    assert page.meta.total_count == 0
    assert list(client.recordings.list_all()) == []


# -- every error class from a real answer ----------------------------------------------------


def test_wrong_token_raises_authentication_error(live):
    client = vts.RestClient(live.auth_id, "wrong-token", base_url=live.url)
    with client, pytest.raises(vts.AuthenticationError) as info:
        client.masking_sessions.list_masking_session()
    assert info.value.status == 401
    assert info.value.error == "Authentication failed."
    assert info.value.api_id


def test_invalid_parameter_raises_validation_error_with_the_server_text(client):
    with pytest.raises(vts.ValidationError) as info:
        new_session(client, record_file_format="ogg")
    assert info.value.status == 400
    assert info.value.error == (
        "Invalid parameter. record_file_format allowed values are mp3 or wav."
    )
    assert info.value.api_id


def test_missing_party_raises_validation_error(client):
    with pytest.raises(vts.ValidationError) as info:
        client.masking_sessions.create_masking_session(second_party=party())
    assert info.value.error == "Mandatory parameter missing. first_party must be present."


def test_unknown_session_raises_resource_not_found(client):
    with pytest.raises(vts.ResourceNotFoundError) as info:
        client.masking_sessions.update_masking_session("no-such-session", record=True)
    assert (info.value.status, info.value.error) == (404, "Session not found.")


def test_subaccount_managing_subaccounts_raises_forbidden(live, client):
    sub = client.subaccounts.create("forbidden-check")
    try:
        as_sub = vts.RestClient(sub.auth_id, sub.auth_token, base_url=live.url)
        with as_sub, pytest.raises(vts.ForbiddenError) as info:
            as_sub.subaccounts.list()
        assert info.value.status == 403
        assert info.value.error.startswith("Forbidden.")
    finally:
        client.subaccounts.delete(sub.auth_id)


def test_oversized_body_raises_invalid_request_error(client):
    created = new_session(client)
    with pytest.raises(vts.InvalidRequestError) as info:
        client.masking_sessions.update_masking_session(
            created.session_uuid, callback_url="https://example.com/" + "a" * 70_000
        )
    assert info.value.status == 413


def test_method_not_allowed_raises_invalid_request_error(client):
    # No SDK method sends PUT; the transport underneath does, to meet the server's 405.
    with pytest.raises(vts.InvalidRequestError) as info:
        client._request("PUT", "Masking/Session/", body={}, parse=dict)
    assert info.value.status == 405


def test_idempotency_key_reused_with_another_body_raises_invalid_request_error(client):
    from vts._base import build_call, result

    first = build_call(
        client._config,
        "POST",
        "Masking/Session/",
        body={"first_party": party(), "second_party": party()},
    )
    result(client._send(first), dict)
    second = build_call(
        client._config,
        "POST",
        "Masking/Session/",
        body={"first_party": party(), "second_party": party()},
    )
    second.headers["Idempotency-Key"] = first.headers["Idempotency-Key"]
    with pytest.raises(vts.InvalidRequestError) as info:
        result(client._send(second), dict)
    assert info.value.status == 409


def test_client_side_auth_errors_before_any_request(live, monkeypatch):
    monkeypatch.delenv("VTS_AUTH_ID", raising=False)
    monkeypatch.delenv("VTS_AUTH_TOKEN", raising=False)
    with pytest.raises(vts.AuthenticationError):
        vts.RestClient(base_url=live.url)
    with pytest.raises(vts.AuthenticationError):
        vts.RestClient("ma" + live.auth_id[2:], live.auth_token, base_url=live.url)


# -- a retried create through a connection that loses the first answer -----------------------


class AnswerLosingProxy:
    """Forwards HTTP to the service; for the first ``lose`` POSTs to a path ending in
    ``creates`` (session creates by default), lets the service act and then drops the
    connection instead of passing the answer back."""

    def __init__(self, upstream: str, lose: int, creates: str = "/Masking/Session/") -> None:
        self.lose = lose
        self.keys: list[str | None] = []
        proxy = self
        http = httpx.Client(base_url=upstream, timeout=30)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
                answer = http.request(self.command, self.path, content=body, headers=headers)
                creating = self.command == "POST" and self.path.endswith(creates)
                if creating:
                    proxy.keys.append(self.headers.get("Idempotency-Key"))
                    if proxy.lose > 0:
                        proxy.lose -= 1
                        self.close_connection = True
                        self.connection.close()
                        return
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

        self.http = http
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> AnswerLosingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()


def test_retried_create_whose_answers_were_lost_yields_one_session(live, client):
    first, second = party(), party()
    with (
        AnswerLosingProxy(live.url, lose=2) as proxy,
        vts.RestClient(
            live.auth_id, live.auth_token, base_url=proxy.url, max_retries=2, backoff_factor=0.01
        ) as via_proxy,
    ):
        created = via_proxy.masking_sessions.create_masking_session(
            first_party=first, second_party=second
        )
    assert len(proxy.keys) == 3
    assert proxy.keys[0] and len(set(proxy.keys)) == 1
    sessions = client.masking_sessions.list_masking_session(first_party=first)
    assert sessions.meta.total_count == 1
    assert sessions.objects[0].session_uuid == created.session_uuid


def test_retried_subaccount_create_whose_answer_was_lost_yields_one_subaccount(live, client):
    before = client.subaccounts.list(limit=20).meta.total_count
    with (
        AnswerLosingProxy(live.url, lose=1, creates="/Subaccount/") as proxy,
        vts.RestClient(
            live.auth_id, live.auth_token, base_url=proxy.url, backoff_factor=0.01
        ) as via_proxy,
    ):
        created = via_proxy.subaccounts.create("lost-answer")
    assert len(proxy.keys) == 2 and len(set(proxy.keys)) == 1
    assert client.subaccounts.list(limit=20).meta.total_count == before + 1
    assert client.subaccounts.get(created.auth_id).name == "lost-answer"


def test_async_retried_create_whose_answer_was_lost_yields_one_session(live, client):
    first = party()

    async def main(url: str) -> str:
        async with vts.AsyncRestClient(
            live.auth_id, live.auth_token, base_url=url, backoff_factor=0.01
        ) as via_proxy:
            created = await via_proxy.masking_sessions.create_masking_session(
                first_party=first, second_party=party()
            )
            return created.session_uuid

    with AnswerLosingProxy(live.url, lose=1) as proxy:
        session_uuid = asyncio.run(main(proxy.url))
    sessions = client.masking_sessions.list_masking_session(first_party=first)
    assert [s.session_uuid for s in sessions.objects] == [session_uuid]


# -- calls and recordings --------------------------------------------------------------------


def _seed_call_and_recording(live: Service, session_uuid: str, media: Path) -> tuple[str, str]:
    """One recorded call on the session, written through the store's call log as the call
    engine writes it (placing a real SIP call is the e2e suite's job); the caller's leg
    and the recording."""
    with live.client() as c:
        session = c.masking_sessions.get_masking_session(session_uuid).response.raw
    call = log_call(live, session, start=datetime(2026, 1, 2, 3, 4, 5), talk=60, media=media)
    assert call.recording is not None
    return call.caller_leg, call.recording


def test_calls_and_recordings_round_trip(live, client, tmp_path):
    media = tmp_path / "media.wav"
    media.write_bytes(b"RIFF" + bytes(range(256)) * 300)
    session_uuid = new_session(client, record=True).session_uuid
    call_uuid, recording_id = _seed_call_and_recording(live, session_uuid, media)

    call = client.calls.get(call_uuid)
    assert call.call_uuid == call_uuid
    assert call.session_uuid == session_uuid
    assert call.call_direction == "inbound" and call.parent_call_uuid is None
    assert call.answer_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (call.bill_duration, call.billed_duration) == (63, 120)
    assert call.total_rate == Decimal("0.01000")
    assert call.total_amount == Decimal("0.02000")

    recording = client.recordings.get(recording_id)
    assert recording.recording_id == recording_id
    assert recording.call_uuid == call_uuid
    assert recording.recording_format == "wav"
    assert recording.recording_duration_ms == 60_000
    listed = client.recordings.list(session_uuid=session_uuid)
    assert [r.recording_id for r in listed.objects] == [recording_id]
    assert [r.recording_id for r in client.recordings.list_all(call_uuid=call_uuid)] == [
        recording_id
    ]

    target = tmp_path / "downloaded.wav"
    downloaded = client.recordings.download(recording_id, target)
    assert downloaded.recording_id == recording_id
    assert target.read_bytes() == media.read_bytes()

    async def download_async() -> bytes:
        import io

        buffer = io.BytesIO()
        async with live.async_client() as aclient:
            await aclient.recordings.download(recording_id, buffer)
        return buffer.getvalue()

    assert asyncio.run(download_async()) == media.read_bytes()

    assert client.recordings.delete(recording_id).message == "Recording deleted"
    with pytest.raises(vts.ResourceNotFoundError):
        client.recordings.get(recording_id)


def test_calls_list_filters_and_pages(live, client):
    created = new_session(client)
    with live.client() as c:
        session = c.masking_sessions.get_masking_session(created.session_uuid).response.raw
    first = log_call(live, session, start=datetime(2026, 2, 1, 10, 0, 0, 400000), talk=5)
    second = log_call(live, session, start=datetime(2026, 2, 1, 11, 0, 0), answered=False)
    mine = client.calls.list(session_uuid=created.session_uuid)
    assert mine.meta.total_count == 4
    assert [c.call_uuid for c in mine.objects][:2] == [second.callee_leg, second.caller_leg]
    outbound = client.calls.list(session_uuid=created.session_uuid, call_direction="outbound")
    assert {c.call_uuid for c in outbound.objects} == {first.callee_leg, second.callee_leg}
    assert [c.call_uuid for c in client.calls.list(status="busy").objects] == [second.callee_leg]
    assert client.calls.get(first.callee_leg).parent_call_uuid == first.caller_leg
    # the leg's own shown time (to the second) finds it; its next second does not
    shown = client.calls.get(first.caller_leg).initiation_time
    assert [c.call_uuid for c in client.calls.list(initiation_time=shown).objects] == [
        first.caller_leg
    ]
    later = client.calls.list(initiation_time__gt=shown, session_uuid=created.session_uuid)
    assert {c.call_uuid for c in later.objects} == {
        first.callee_leg,
        second.caller_leg,
        second.callee_leg,
    }
    walked = [c.call_uuid for c in client.calls.list_all(session_uuid=created.session_uuid, limit=1)]
    assert len(walked) == len(set(walked)) == 4


def test_calls_live_views(live, client):
    created = new_session(client)
    with live.client() as c:
        session = c.masking_sessions.get_masking_session(created.session_uuid).response.raw
    up = log_call(live, session, start=datetime(2026, 2, 2, 9, 0, 0), hang_up=False)
    assert {up.caller_leg, up.callee_leg} <= set(client.calls.list_live().calls)
    assert client.calls.list_live(call_direction="outbound").calls == [up.callee_leg]
    leg = client.calls.get_live(up.caller_leg)
    assert (leg.call_status, leg.direction, leg["from"]) == (
        "in-progress",
        "inbound",
        session["first_party"],
    )
    assert leg.session_start == datetime(2026, 2, 2, 9, 0, 0, tzinfo=UTC)


def test_a_call_that_ended_is_not_live(live, client):
    created = new_session(client)
    with live.client() as c:
        session = c.masking_sessions.get_masking_session(created.session_uuid).response.raw
    ended = log_call(live, session, start=datetime(2026, 2, 3, 9, 0, 0))
    with pytest.raises(vts.ResourceNotFoundError):
        client.calls.get_live(ended.caller_leg)


def test_recordings_list_by_add_time(live, client, tmp_path):
    media = tmp_path / "timed.wav"
    media.write_bytes(b"RIFF" + bytes(64))
    created = new_session(client, record=True)
    with live.client() as c:
        session = c.masking_sessions.get_masking_session(created.session_uuid).response.raw
    call = log_call(live, session, start=datetime(2031, 5, 6, 7, 8, 9, 900000), media=media)
    rec = client.recordings.get(call.recording)
    assert rec.add_time == datetime(2031, 5, 6, 7, 8, 12, tzinfo=UTC)
    found = client.recordings.list(add_time=rec.add_time)
    assert [r.recording_id for r in found.objects] == [call.recording]
    assert client.recordings.list(add_time__gt=rec.add_time).objects == []
    assert call.recording in {r.recording_id for r in client.recordings.list(add_time__lte=rec.add_time).objects}
    # recorded in 2031: kept for no whole day yet (the clock reads earlier), never negative
    assert rec.recording_storage_duration == 0
    kept = client.recordings.list(recording_storage_duration__lt=1)
    assert call.recording in {r.recording_id for r in kept.objects}


def test_account_update(live, client):
    updated = client.account.update(city="Lyon", address="1 rue de la Paix")
    assert (updated.city, updated.address, updated.message) == (
        "Lyon",
        "1 rue de la Paix",
        "Account updated",
    )
    assert client.account.get().city == "Lyon"


def test_subaccount_delete_with_cascade_takes_its_numbers_out(client):
    sub = client.subaccounts.create("cascade")
    client.numbers.add("+12202009301", subaccount=sub.auth_id)
    client.subaccounts.delete(sub.auth_id, cascade=True)
    with pytest.raises(vts.ResourceNotFoundError):
        client.numbers.get("+12202009301")


def test_numbers_list_by_prefix_and_type(client):
    client.numbers.add(["+12202009401", "+18005550177"])
    try:
        found = client.numbers.list(number_startswith="1220200940")
        assert [n.number for n in found.objects] == ["+12202009401"]
        assert found.objects[0].sub_account is None and found.objects[0].active is True
        free = client.numbers.list(type="tollfree")
        assert [(n.number, n.number_type) for n in free.objects] == [("+18005550177", "tollfree")]
        assert client.numbers.list(services="sms").objects == []
    finally:
        client.numbers.delete("+12202009401")
        client.numbers.delete("+18005550177")


# -- the service's signed callbacks verify with the SDK --------------------------------------


class CallbackReceivers:
    """Two real receivers on loopback: a WSGI one (Werkzeug's server, verifying with
    ``validate_request_signature``) and an ASGI one (uvicorn + Starlette, verifying with
    ``validate_starlette_request``). Each records what it got and whether it verified."""

    def __init__(self, auth_token: str) -> None:
        import uvicorn
        from starlette.requests import Request as StarletteRequest
        from starlette.responses import PlainTextResponse
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request as WerkzeugRequest

        from vts.signature import validate_request_signature, validate_starlette_request

        self.received: list[dict[str, Any]] = []
        lock = threading.Lock()

        def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            request = WerkzeugRequest(environ)
            entry = {
                "via": "wsgi",
                "method": request.method,
                "params": request.values.to_dict(),
                "valid": validate_request_signature(request, auth_token),
                "valid_with_another_token": validate_request_signature(request, "x" + auth_token),
            }
            with lock:
                self.received.append(entry)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

        async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
            request = StarletteRequest(scope, receive)
            body = await request.body()
            params = dict(request.query_params)
            if body:
                from urllib.parse import parse_qsl

                params.update(parse_qsl(body.decode()))
            entry = {
                "via": "asgi",
                "method": request.method,
                "params": params,
                "valid": await validate_starlette_request(request, auth_token),
            }
            with lock:
                self.received.append(entry)
            await PlainTextResponse("ok")(scope, receive, send)

        self.wsgi = make_server("127.0.0.1", 0, wsgi, threaded=True)
        self.wsgi_thread = threading.Thread(target=self.wsgi.serve_forever, daemon=True)
        self.asgi_port = _free_port()
        self.asgi = uvicorn.Server(
            uvicorn.Config(
                asgi, host="127.0.0.1", port=self.asgi_port, lifespan="off", log_level="warning"
            )
        )
        self.asgi_thread = threading.Thread(target=self.asgi.run, daemon=True)

    @property
    def wsgi_url(self) -> str:
        return f"http://127.0.0.1:{self.wsgi.server_port}"

    @property
    def asgi_url(self) -> str:
        return f"http://127.0.0.1:{self.asgi_port}"

    def __enter__(self) -> CallbackReceivers:
        self.wsgi_thread.start()
        self.asgi_thread.start()
        deadline = time.monotonic() + 10
        while not self.asgi.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wsgi.shutdown()
        self.asgi.should_exit = True
        self.asgi_thread.join(timeout=10)

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [entry for entry in list(self.received) if predicate(entry)]
            if got:
                return got
            time.sleep(0.1)
        return []


@pytest.fixture
def delivery_worker(live: Service) -> Iterator[None]:
    """The event delivery worker on the service's database (``serve`` may not start one)."""
    try:
        import vts_masking.events.cli  # noqa: F401
    except Exception as exc:
        pytest.skip(f"the service's event worker is not available: {exc}")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vts_masking.events",
            "worker",
            "--data-dir",
            str(live.data_dir),
            "--allow-private-callbacks",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    if proc.poll() is not None:
        pytest.skip(f"the event worker does not start: {proc.stderr.read() if proc.stderr else ''}")
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_the_services_signed_callbacks_verify_with_the_sdk(live, client, delivery_worker):
    with CallbackReceivers(live.auth_token) as receivers:
        posted = new_session(client, callback_url=f"{receivers.wsgi_url}/events/?tag=a%3Ab")
        got_post = new_session(
            client, callback_url=f"{receivers.asgi_url}/hooks/", callback_method="GET"
        )
        posted_to_asgi = new_session(client, callback_url=f"{receivers.asgi_url}/hooks/")

        def created(session_uuid: str, via: str) -> Any:
            return lambda e: (
                e["via"] == via
                and e["params"].get("SessionUUID") == session_uuid
                and e["params"].get("EventName") == "SessionCreated"
            )

        wsgi_post = receivers.wait_for(created(posted.session_uuid, "wsgi"))
        asgi_get = receivers.wait_for(created(got_post.session_uuid, "asgi"))
        asgi_post = receivers.wait_for(created(posted_to_asgi.session_uuid, "asgi"))

    assert wsgi_post, f"no SessionCreated reached the WSGI receiver: {receivers.received}"
    assert asgi_get, f"no GET SessionCreated reached the ASGI receiver: {receivers.received}"
    assert asgi_post, f"no POST SessionCreated reached the ASGI receiver: {receivers.received}"
    assert wsgi_post[0]["method"] == "POST"
    assert asgi_get[0]["method"] == "GET"
    assert asgi_post[0]["method"] == "POST"
    assert "EventTimestamp" in asgi_get[0]["params"]  # a ":" travelling escaped in the URL
    for entry in receivers.received:
        assert entry["valid"] is True, entry
        if "valid_with_another_token" in entry:
            assert entry["valid_with_another_token"] is False
