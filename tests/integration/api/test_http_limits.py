"""HTTP connections cannot be held open for free (issue 11): the server's own limits.

Before: a connection that sent nothing, or trickled its headers, was kept forever. The
service here runs with short limits so each test waits a second or so; the waits below
are upper bounds for the server to act, not measurements.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.live import LiveService

HEADER_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    folder = tmp_path_factory.mktemp("limits")
    with LiveService(
        f"sqlite:///{folder / 'vts.sqlite3'}",
        folder,
        http_header_timeout=HEADER_TIMEOUT,
        http_body_timeout=HEADER_TIMEOUT,
        http_max_connections=8,
    ) as live:
        yield live


def _closed_by_server(sock: socket.socket, within: float = 15.0) -> bool:
    """True once the server closed the connection (EOF or a reset) within ``within``."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_a_connection_that_sends_nothing_is_closed(limited: LiveService) -> None:
    with socket.create_connection(("127.0.0.1", limited.port)) as sock:
        assert _closed_by_server(sock)


def test_headers_trickled_a_line_at_a_time_are_cut_off(limited: LiveService) -> None:
    with socket.create_connection(("127.0.0.1", limited.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 15
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sock.settimeout(0.2)
            try:
                closed = sock.recv(4096) == b""
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed = True
        assert closed


def test_a_body_that_never_arrives_is_a_408(limited: LiveService) -> None:
    account = limited.store.accounts.create("slow-body")

    auth = base64.b64encode(f"{account.auth_id}:{account.auth_token}".encode()).decode()
    head = (
        f"POST /v1/Account/{account.auth_id}/Subaccount/ HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Basic {auth}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n{"
    )
    with socket.create_connection(("127.0.0.1", limited.port), timeout=15) as sock:
        sock.sendall(head.encode())
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_a_kept_alive_connection_serves_requests_and_then_times_out(limited: LiveService) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=15) as sock:
        for _ in range(2):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert _closed_by_server(sock)


def test_connections_past_the_cap_are_closed_without_an_answer(tmp_path) -> None:
    with LiveService(
        f"sqlite:///{tmp_path / 'vts.sqlite3'}", tmp_path, http_max_connections=4
    ) as live:
        held = [socket.create_connection(("127.0.0.1", live.port)) for _ in range(4)]
        try:
            with socket.create_connection(("127.0.0.1", live.port), timeout=15) as extra:
                try:
                    extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    answer = extra.recv(65536)
                except (BrokenPipeError, ConnectionResetError):
                    answer = b""
            assert answer == b""
        finally:
            for sock in held:
                sock.close()
