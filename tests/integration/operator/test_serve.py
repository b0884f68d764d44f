"""``vts-masking serve`` as an operator starts it: start-up lines, the access log (text
and JSON), ``/metrics`` by route template, and ports already taken."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.live import free_port, wait_healthy
from vts_masking.store import Store

SERVE = [sys.executable, "-m", "vts_masking.cli", "serve"]


@dataclass
class Served:
    url: str
    log: Path
    proc: subprocess.Popen
    sip_port: int
    trunk_port: int

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()


def serve(tmp_path: Path, db_url: str, *extra: str) -> Iterator[Served]:
    port, sip, trunk = free_port(), free_port(), free_port()
    log = tmp_path / "serve.log"
    args = [*SERVE, "--port", str(port), "--database-url", db_url, "--data-dir", str(tmp_path)]
    args += ["--sip-listen", f"127.0.0.1:{sip}", "--sip-trunk", f"127.0.0.1:{trunk}", *extra]
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
        yield Served(url, log, proc, sip, trunk)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


@pytest.fixture
def account(db_url: str) -> tuple[str, str]:
    store = Store(db_url, pool_size=1)
    store.migrate()
    acc = store.accounts.create("Logged")
    store.close()
    return acc.auth_id, acc.auth_token


def wait_line(served: Served, needle: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [line for line in served.lines() if needle in line]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no line with {needle!r} in:\n" + "\n".join(served.lines()))


def test_startup_lines_name_the_ports_and_the_trunk_in_plain_words(
    tmp_path: Path, db_url: str
) -> None:
    for served in serve(tmp_path, db_url):
        wait_line(served, "Event delivery on")
        text = served.log.read_text()
        assert f"HTTP API on {served.url}" in text
        assert f"SIP edge on 127.0.0.1:{served.sip_port} (UDP and TCP)" in text
        assert f"trunk at 127.0.0.1:{served.trunk_port}" in text
        assert "('127.0.0.1'" not in text and "Traceback" not in text


def test_startup_lines_name_the_console_and_how_to_stop(tmp_path: Path, db_url: str) -> None:
    for served in serve(tmp_path, db_url):
        wait_line(served, "Ctrl-C")
        text = served.log.read_text()
        assert "web console at /console/" in text
        assert httpx.get(served.url + "/console/", follow_redirects=True).status_code == 200


def test_each_request_is_one_access_line_with_the_account_and_never_the_token(
    tmp_path: Path, db_url: str, account: tuple[str, str]
) -> None:
    auth_id, token = account
    for served in serve(tmp_path, db_url):
        r = httpx.get(f"{served.url}/v1/Account/{auth_id}/", auth=(auth_id, token))
        assert r.status_code == 200
        line = wait_line(served, f"GET /v1/Account/{auth_id}/ 200 ")
        assert " ms " in line and line.endswith(f"account={auth_id}")
        bad = httpx.get(f"{served.url}/v1/Account/{auth_id}/", auth=(auth_id, "wrong"))
        assert bad.status_code == 401
        refused = wait_line(served, f"GET /v1/Account/{auth_id}/ 401 ")
        assert "account=" not in refused
        assert token not in served.log.read_text()


def test_json_log_lines_parse_and_carry_the_request_fields(
    tmp_path: Path, db_url: str, account: tuple[str, str]
) -> None:
    auth_id, token = account
    for served in serve(tmp_path, db_url, "--log-format", "json"):
        httpx.get(f"{served.url}/v1/Account/{auth_id}/Number/", auth=(auth_id, token))
        wait_line(served, f'"path": "/v1/Account/{auth_id}/Number/"')
        records = [json.loads(line) for line in served.lines() if line.startswith("{")]
        assert records and len(records) == len(served.lines())
        access = [r for r in records if r["logger"] == "vts_masking.access" and r.get("account")]
        assert access[-1]["method"] == "GET" and access[-1]["status"] == 200
        assert access[-1]["path"] == f"/v1/Account/{auth_id}/Number/"
        assert isinstance(access[-1]["ms"], float)


def test_metrics_label_http_requests_by_route_template(
    tmp_path: Path, db_url: str, account: tuple[str, str]
) -> None:
    auth_id, token = account
    for served in serve(tmp_path, db_url):
        for _ in range(2):
            httpx.get(f"{served.url}/v1/Account/{auth_id}/Number/", auth=(auth_id, token))
        httpx.get(f"{served.url}/nothing/here")
        page = httpx.get(f"{served.url}/metrics").text
        route = "/v1/Account/{auth_id}/Number"
        assert (
            f'vts_http_request_duration_seconds_count{{method="GET",route="{route}",status="200"}}'
            " 2.0" in page
        )
        assert 'route="(unmatched)",status="404"' in page
        assert auth_id not in page.split("vts_pool_numbers")[0]  # no raw paths as labels
        assert "vts_events_outbox" in page and "vts_sessions_active" in page


def _run_serve(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [*SERVE, "--data-dir", str(tmp_path), *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=os.environ)


def test_an_http_port_in_use_is_one_line_naming_the_port_and_the_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run_serve(tmp_path, "--port", str(port), "--no-sip")
    assert done.returncode == 2
    assert f"HTTP port 127.0.0.1:{port} is already in use" in done.stderr
    assert "--port" in done.stderr and "Traceback" not in done.stderr + done.stdout


def test_a_sip_port_in_use_is_one_line_naming_the_port_and_the_option(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        sip = taken.getsockname()[1]
        done = _run_serve(tmp_path, "--port", str(free_port()), "--sip-listen", f"127.0.0.1:{sip}")
    assert done.returncode == 2
    assert f"SIP port 127.0.0.1:{sip} is already in use" in done.stderr
    assert "--sip-listen" in done.stderr and "Traceback" not in done.stderr + done.stdout
