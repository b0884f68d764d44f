"""End to end: a call that matches no session runs the number's own application
(docs/calls.md#the-numbers-own-application), fetched from its answer_url served by a real local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.conftest import Tenant
from tests.e2e.conftest import ok, requires_sipp, running_edge
from tests.e2e.test_masked_calls import call

pytestmark = [pytest.mark.sipp, requires_sipp, pytest.mark.timeout(90)]

STRANGER = "+13125550199"
DESK = "+14155550100"
DOCUMENTS = {
    "/dial": f"<Response><Dial timeout='20'><Number>{DESK}</Number></Dial></Response>".encode(),
    "/hangup": b"<Response><Hangup/></Response>",
    "/bad": b"<Response><Record/></Response>",
}


@pytest.fixture
def app_server() -> Iterator[tuple[str, list[dict]]]:
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            seen.append(parse_qs(self.rfile.read(length).decode()))
            body = DOCUMENTS[self.path]
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def edge(db_url: str, tmp_path: Path) -> Iterator[tuple[Tenant, int, int]]:
    with running_edge(db_url, tmp_path, numbers=(), allow_private_callbacks=True) as e:
        yield e.t, e.sip_port, e.trunk_port


def _number_with_app(t: Tenant, url: str) -> str:
    number = t.vn(5)
    r = t.http.post(t.base + "Number/", json={"numbers": number, "answer_url": url})
    assert r.status_code == 201, r.text
    return number


@pytest.mark.asyncio
async def test_dial_connects_the_caller_from_the_virtual_number(edge, app_server, tmp_path) -> None:
    t, sip_port, trunk_port = edge
    base, seen = app_server
    number = _number_with_app(t, base + "/dial")
    caller, callee = await call(tmp_path, sip_port, trunk_port, caller=STRANGER, dialled=number)
    ok(caller)
    ok(callee)
    assert f"INVITE sip:{DESK}@" in callee.received()
    assert f"sip:{number}@" in callee.received().split("From:")[1].split("\n")[0]
    assert STRANGER not in callee.received()
    assert seen[0]["From"] == [STRANGER] and seen[0]["To"] == [number]
    assert seen[0]["Direction"] == ["inbound"] and seen[0]["CallUUID"][0]


@pytest.mark.asyncio
async def test_hangup_declines_the_call(edge, app_server, tmp_path) -> None:
    t, sip_port, trunk_port = edge
    base, _ = app_server
    number = _number_with_app(t, base + "/hangup")
    caller, _ = await call(
        tmp_path,
        sip_port,
        trunk_port,
        caller=STRANGER,
        dialled=number,
        caller_scenario="caller_fail.xml",
        callee_runs=False,
        expect="603",
    )
    ok(caller)


@pytest.mark.asyncio
async def test_unsupported_application_is_refused_cleanly(edge, app_server, tmp_path) -> None:
    t, sip_port, trunk_port = edge
    base, _ = app_server
    number = _number_with_app(t, base + "/bad")
    caller, _ = await call(
        tmp_path,
        sip_port,
        trunk_port,
        caller=STRANGER,
        dialled=number,
        caller_scenario="caller_fail.xml",
        callee_runs=False,
        expect="480",
    )
    ok(caller)
