"""Memory held by oversized request bodies (issue 11): four 100 MB bodies at once.

Starts ``vts-masking serve --no-sip`` on a free loopback port with a fresh account,
sends four chunked 100 MB bodies to the session create at once, and reports the
service's resident memory before (the same-run baseline) and its peak while they are
sent, with the ratio. Bodies are refused while they stream in, so the peak should stay
at the baseline; a service that read them whole first grew by their size.

    PYTHONPATH=src python bench/api/big_bodies.py
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx

BODIES = 4
MIB_PER_BODY = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) // 1024


def main() -> None:
    data = tempfile.mkdtemp()
    port = _free_port()
    cli = [sys.executable, "-m", "vts_masking.cli"]
    made = subprocess.run(
        [*cli, "account", "create", "--name", "bench", "--data-dir", data, "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    account = json.loads(made.stdout)
    auth = base64.b64encode(f"{account['auth_id']}:{account['auth_token']}".encode()).decode()
    service = subprocess.Popen(
        [*cli, "serve", "--no-sip", "--port", str(port), "--data-dir", data,
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        head = (
            f"POST /v1/Account/{account['auth_id']}/Masking/Session/ HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Basic {auth}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        chunk = b"100000\r\n" + b" " * (1 << 20) + b"\r\n"

        def send() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                try:
                    sock.sendall(head)
                    for _ in range(MIB_PER_BODY):
                        sock.sendall(chunk)
                    sock.sendall(b"0\r\n\r\n")
                    sock.recv(1024)
                except OSError:
                    pass  # refused early: the service closed the connection

        before = peak = _rss_mib(service.pid)
        senders = [threading.Thread(target=send) for _ in range(BODIES)]
        for t in senders:
            t.start()
        while any(t.is_alive() for t in senders):
            peak = max(peak, _rss_mib(service.pid))
            time.sleep(0.05)
        print(
            f"RSS before {before} MiB (baseline), peak during {BODIES} x {MIB_PER_BODY} MiB "
            f"bodies {peak} MiB, ratio {peak / before:.2f}"
        )
    finally:
        service.terminate()
        service.wait(15)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
