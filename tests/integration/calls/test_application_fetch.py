"""Fetching a number's application over real HTTP on loopback (docs/calls.md#the-numbers-own-application)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from vts_masking.calls.application import fetch_application
from vts_masking.domain.appxml import Dial

DOCUMENT = b"<Response><Dial timeout='20'><Number>+14155550100</Number></Dial></Response>"


@pytest.fixture
def app_server() -> Iterator[tuple[str, list[dict]]]:
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            seen.append(parse_qs(self.rfile.read(length).decode()))
            body = DOCUMENT if self.path == "/ok" else b"<Response><Record/></Response>"
            self.send_response(200)
            self.send_header("content-type", "application/xml")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.asyncio
async def test_application_gets_the_call_and_answers_verbs(app_server) -> None:
    base, seen = app_server
    verbs = await fetch_application(
        base + "/ok", call_uuid="c-1", from_number="+1", to_number="+2", allow_private=True
    )
    assert verbs == [Dial(("+14155550100",), None, 20, None)]
    assert seen[0] == {"CallUUID": ["c-1"], "From": ["+1"], "To": ["+2"], "Direction": ["inbound"]}


@pytest.mark.asyncio
async def test_unsupported_documents_do_not_run(app_server) -> None:
    base, _ = app_server
    assert (
        await fetch_application(
            base + "/bad", call_uuid="c", from_number="+1", to_number="+2", allow_private=True
        )
        is None
    )


@pytest.mark.asyncio
async def test_private_application_hosts_are_refused_unless_allowed(app_server) -> None:
    base, seen = app_server
    assert (
        await fetch_application(
            base + "/ok", call_uuid="c", from_number="+1", to_number="+2", allow_private=False
        )
        is None
    )
    assert seen == []
