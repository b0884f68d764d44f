"""Running the real service for tests: in-process on a thread, or as a subprocess.

Both serve real HTTP on a free loopback port, on the same event loop: uvicorn's loop
"auto", which is uvloop when installed (it is: ``uvicorn[standard]``), exactly as
``vts-masking serve`` runs. The in-process form lets a test hand in a
:class:`~vts_masking.clock.FrozenClock` and reach the store; the subprocess form is the
service exactly as an operator starts it (restart and multi-process tests, and the SIP
edge under ``serve`` itself: :class:`ServiceProcess` with ``sip_listen``).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from vts_masking.clock import Clock
from vts_masking.config import Settings
from vts_masking.store import Store

# Ports tests hand out come from 10000–19999: outside the kernel's ephemeral range
# (32768–60999), which any socket bound to port 0 (a B2BUA under test, an HTTP client)
# may take between our check and the bind of the port's user, and outside the service's
# RTP range (20000–29999). Single ports from the lower part, SIPp media blocks above.
SINGLE_PORTS = (10000, 16000)
MEDIA_PORTS = (16000, 20000)
# A port is chosen well before its user binds it (a SIPp is configured, then started),
# so two choices made in between must not meet: none is handed out twice (until the
# set is large, when the early ones are long bound or long released).
_handed_out: set[int] = set()
_rng = random.Random()


def _free_block(
    lo: int, hi: int, count: int, kinds: tuple[int, ...], hosts: tuple[str, ...] = ("127.0.0.1",)
) -> int:
    while True:
        if len(_handed_out) > 2000:
            _handed_out.clear()
        base = _rng.randrange(lo, hi - count + 1, 2 if count > 1 else 1)
        ports = range(base, base + count)
        if _handed_out.intersection(ports):
            continue
        socks: list[socket.socket] = []
        try:
            for port in ports:
                for kind in kinds:
                    for host in hosts:
                        sock = socket.socket(socket.AF_INET, kind)
                        socks.append(sock)
                        sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        _handed_out.update(ports)
        return base


def free_port(*hosts: str) -> int:
    """A port free for both UDP and TCP right now (HTTP, SIP, SIPp) on 127.0.0.1, or on
    each of ``hosts`` (other loopback addresses: Linux answers all of 127/8)."""
    kinds = (socket.SOCK_DGRAM, socket.SOCK_STREAM)
    return _free_block(*SINGLE_PORTS, 1, kinds, hosts or ("127.0.0.1",))


def free_media_ports(count: int = 4) -> int:
    """The first of ``count`` consecutive UDP ports free on 127.0.0.1 right now, for a
    SIPp's ``-mp`` (it binds audio RTP/RTCP and video RTP/RTCP: base to base+3)."""
    return _free_block(*MEDIA_PORTS, count, (socket.SOCK_DGRAM,))


def wait_healthy(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"service at {url} did not become healthy")


class LiveService:
    """The FastAPI app under uvicorn on a background thread."""

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        *,
        clock: Clock | None = None,
        background: bool = False,
        sip: bool = False,
        **settings: Any,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(
            database_url=database_url,
            data_dir=data_dir,
            port=self.port,
            sip_enabled=sip,
            **settings,
        )
        self.clock = clock
        self.store = Store(database_url, clock)
        self.store.migrate()
        self.background = background
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LiveService:
        from vts_masking.api.server import uvicorn_config
        from vts_masking.service import build_app

        app = build_app(
            self.settings, store=self.store, clock=self.clock, background=self.background
        )
        self.app = app
        config = uvicorn_config(app, self.settings, host="127.0.0.1", log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_healthy(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)
        self.store.close()


class ServiceProcess:
    """``vts-masking serve`` as a child process; with ``sip_listen`` its SIP edge is up
    too (listening there, dialling ``sip_trunk``; other settings by ``env``, VTS_*).
    Its HTTP API listens on ``host`` (another loopback address for a second node)."""

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        *extra: str,
        env: dict | None = None,
        sip_listen: str | None = None,
        sip_trunk: str | None = None,
        host: str = "127.0.0.1",
    ):
        self.host = host
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        sip = (
            ["--sip-listen", sip_listen, "--sip-trunk", sip_trunk or "127.0.0.1:5080"]
            if sip_listen
            else ["--no-sip"]
        )
        self.args = [
            sys.executable,
            "-m",
            "vts_masking.cli",
            "serve",
            *sip,
            "--host",
            host,
            "--port",
            str(self.port),
            "--database-url",
            database_url,
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
            *extra,
        ]
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServiceProcess:
        self.proc = subprocess.Popen(self.args, env=self.env)
        wait_healthy(self.url, proc=self.proc)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
