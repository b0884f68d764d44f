"""A tiny real HTTP server for the SDK's retry and error tests.

It speaks just enough of the masking API (create/get/list/delete sessions, one recording)
to show what a retry does, honours ``Idempotency-Key`` on creates the way the service is
meant to, and takes scripted faults: answer with a status (and headers) before doing
anything, drop the connection before or after doing the work, or answer an error after
doing the work. Bound to 127.0.0.1 on port 0, served from a thread.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import vts

AUTH_ID = "MA" + "B" * 18
AUTH_TOKEN = "fake-token"
MEDIA = b"RIFF" + bytes(range(256)) * 64


@dataclass
class Fault:
    """What to do to the next request matching ``method`` (and ``path_part`` if given).

    kind: ``status`` (answer ``status`` with ``headers``/``body`` without doing the work),
    ``drop`` (close the connection without answering, work not done),
    ``drop_after`` (do the work, then close without answering),
    ``status_after`` (do the work, then answer ``status``).
    """

    kind: str
    method: str = "*"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    path_part: str = ""


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class FakeVTS:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.media_path = "/media/rec-1.wav"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, kind: str, method: str = "*", times: int = 1, **kwargs: Any) -> None:
        for _ in range(times):
            self.faults.append(Fault(kind, method, **kwargs))

    def seen(self, method: str | None = None, path_part: str = "") -> list[Seen]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and path_part in r.path
        ]

    # -- the handler -------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one write per answer: no Nagle/delayed-ACK stalls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                split = urlsplit(self.path)
                seen = Seen(
                    self.command, split.path, parse_qs(split.query), dict(self.headers), body
                )
                with fake.lock:
                    fake.requests.append(seen)
                    fault = None
                    for candidate in fake.faults:
                        if candidate.method in ("*", self.command) and (
                            candidate.path_part in split.path
                        ):
                            fault = candidate
                            fake.faults.remove(candidate)
                            break
                if fault and fault.kind == "status":
                    self._answer(fault.status, fault.body, fault.headers)
                    return
                if fault and fault.kind == "drop":
                    self._drop()
                    return
                if split.path == fake.media_path:
                    self._media()
                    return
                status, payload = fake.handle(seen)
                if fault and fault.kind == "drop_after":
                    self._drop()
                    return
                if fault and fault.kind == "status_after":
                    self._answer(fault.status, fault.body, fault.headers)
                    return
                self._answer(status, payload)

            def _drop(self) -> None:
                self.close_connection = True
                self.wfile.flush()
                self.connection.close()

            def _media(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(MEDIA)))
                self.end_headers()
                self.wfile.write(MEDIA)

            def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None):
                if isinstance(payload, bytes | str):
                    data = payload.encode() if isinstance(payload, str) else payload
                    content_type = "text/html"
                else:
                    if payload is None:
                        payload = {"api_id": str(uuid.uuid4()), "error": "injected fault"}
                    data = json.dumps(payload).encode()
                    content_type = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

        return Handler

    # -- the fake API --------------------------------------------------------------------

    def handle(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        api_id = str(uuid.uuid4())
        base = f"/v1/Account/{AUTH_ID}/"
        if not seen.path.startswith(base):
            return 404, {"api_id": api_id, "error": "Not found."}
        rest = seen.path[len(base) :]
        parts = [p for p in rest.split("/") if p]
        with self.lock:
            if parts == ["Masking", "Session"] and seen.method == "POST":
                key = seen.headers.get("Idempotency-Key")
                if key and key in self.idempotent:
                    return self.idempotent[key]
                session_uuid = str(uuid.uuid4())
                session = {
                    "session_uuid": session_uuid,
                    "status": "active",
                    "first_party": (seen.body or {}).get("first_party"),
                    "second_party": (seen.body or {}).get("second_party"),
                    "virtual_number": "+12205550020",
                    "record": (seen.body or {}).get("record", False),
                    "created_time": "2026-11-26 13:00:00",
                    "total_call_amount": "0.00000",
                }
                self.sessions[session_uuid] = session
                self.order.insert(0, session_uuid)
                answer = (
                    201,
                    {
                        "api_id": api_id,
                        "session_uuid": session_uuid,
                        "virtual_number": session["virtual_number"],
                        "message": "Session created",
                        "session": session,
                    },
                )
                if key:
                    self.idempotent[key] = answer
                return answer
            if parts == ["Masking", "Session"] and seen.method == "GET":
                limit = int(seen.query.get("limit", ["20"])[0])
                offset = int(seen.query.get("offset", ["0"])[0])
                page = [self.sessions[u] for u in self.order[offset : offset + limit]]
                more = offset + limit < len(self.order)
                return 200, {
                    "api_id": api_id,
                    "response": {
                        "meta": {
                            "limit": limit,
                            "offset": offset,
                            "total_count": len(self.order),
                            "next": f"{base}Masking/Session/?limit={limit}&offset={offset + limit}"
                            if more
                            else None,
                            "previous": None,
                        },
                        "objects": page,
                    },
                }
            if len(parts) == 3 and parts[:2] == ["Masking", "Session"]:
                session = self.sessions.get(parts[2])
                if session is None:
                    return 404, {"api_id": api_id, "error": "Session not found."}
                if seen.method == "GET":
                    return 200, {"api_id": api_id, "response": session}
                if seen.method == "DELETE":
                    if session["status"] == "expired":
                        return 400, {"api_id": api_id, "error": "Session already expired."}
                    session["status"] = "expired"
                    return 200, {"api_id": api_id, "message": "Session expired"}
                if seen.method == "POST":
                    session.update(seen.body or {})
                    return 200, {
                        **session,
                        "api_id": api_id,
                        "message": "Session updated",
                        "session": session,
                    }
            if parts == ["Recording", "rec-1"] and seen.method == "GET":
                return 200, {
                    "api_id": api_id,
                    "recording_id": "rec-1",
                    "recording_url": self.media_path,
                    "recording_format": "wav",
                }
        return 405, {"api_id": api_id, "error": "Method not allowed."}


@pytest.fixture(autouse=True)
def _close_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every synchronous client a test makes is closed after it, so no socket outlives its
    test (the seed's example, quoted verbatim, never closes its client)."""
    made: list[vts.RestClient] = []
    original = vts.RestClient.__init__

    def init(self: vts.RestClient, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(vts.RestClient, "__init__", init)
    yield
    for client in made:
        client.close()


@pytest.fixture
def fake() -> Iterator[FakeVTS]:
    server = FakeVTS()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
