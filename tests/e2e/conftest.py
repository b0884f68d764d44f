"""Helpers for end-to-end tests that run real SIPp phones on loopback.

Scenarios live in ``tests/e2e/sipp/``; ``@STATUS@``-style placeholders in them are filled
in per test. Every SIPp gets free ports of its own and runs unattended
(``-nostdin -timeout 20s -timeout_error -m 1``); tests skip when ``sipp`` is missing.
Real softphones (baresip) are in ``tests/e2e/baresip.py``, the leak check over every byte
a phone receives in ``tests/e2e/leaks.py``.

Every asyncio test here runs on uvloop, the loop ``vts-masking serve`` runs on (uvicorn's
"auto"), so a B2BUA driven directly by a test meets the same transports as in
production; the service itself (:class:`LiveService`, :class:`ServiceProcess`) runs
under uvicorn, on uvloop too.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from tests.conftest import Tenant, make_tenant
from tests.support.live import LiveService, ServiceProcess, free_media_ports, free_port
from vts_masking.store import Store

T = TypeVar("T")

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).parent / "sipp"

requires_sipp = pytest.mark.skipif(SIPP is None, reason="sipp not installed (sip-tester)")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """uvloop for every asyncio test here: the loop ``serve`` runs the SIP edge on."""
    return {"uvloop": uvloop.new_event_loop}


@dataclass
class SippResult:
    returncode: int
    messages: str  # everything SIPp sent and received (-trace_msg)
    output: str

    def received(self) -> str:
        """Only the messages this SIPp received."""
        blocks = self.messages.split("-----------------------------------------------")
        return "\n".join(b for b in blocks if "message received" in b)


class Sipp:
    """One SIPp process: ``start()`` it, then ``await finish()``."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        *,
        scenario: str | None = None,
        builtin: str | None = None,
        remote: tuple[str, int] | None = None,
        service: str | None = None,
        port: int | None = None,
        subs: dict[str, str] | None = None,
        extra: list[str] | None = None,
        ip: str = "127.0.0.1",
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.ip = ip
        self.port = port or free_port()
        #: its media ports: audio RTP/RTCP, video RTP/RTCP from here (base to base+3)
        self.media_port = free_media_ports()
        self.log = workdir / f"{name}_messages.log"
        args = [SIPP or "sipp"]
        if scenario is not None:
            text = (SCENARIOS / scenario).read_text()
            for key, value in (subs or {}).items():
                text = text.replace(f"@{key}@", value)
            path = workdir / f"{name}.xml"
            path.write_text(text)
            args += ["-sf", str(path)]
        else:
            args += ["-sn", builtin or "uas"]
        if service:
            args += ["-s", service]
        if remote:
            args.append(f"{remote[0]}:{remote[1]}")
        args += ["-i", ip, "-p", str(self.port), "-mp", str(self.media_port)]
        args += ["-nostdin", "-m", "1", "-timeout", "20s", "-timeout_error"]
        args += ["-trace_msg", "-message_file", str(self.log), *(extra or [])]
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Sipp:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return self

    async def finish(self, timeout: float = 30.0) -> SippResult:
        assert self.proc is not None
        try:
            out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            out, _ = await self.proc.communicate()
        messages = self.log.read_text(errors="replace") if self.log.exists() else ""
        text = out.decode(errors="replace")
        # SIPp says why it could not start at the top, and how the call went at the end.
        text = text if len(text) <= 4000 else text[:1000] + "\n[…]\n" + text[-3000:]
        return SippResult(self.proc.returncode or 0, messages, text)


def ok(result: SippResult | None) -> None:
    """The SIPp ran its scenario to the end (its messages in the failure text if not)."""
    assert result is not None
    assert result.returncode == 0, result.output + result.messages[-4000:]


def wait_for(fn: Callable[[], T], timeout: float = 15.0) -> T:
    """``fn()`` once it is truthy, or its last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@dataclass
class Edge:
    """The whole service with its SIP edge up, a tenant on it, and the trunk's port."""

    t: Tenant
    live: Any  # LiveService (in-process) or ServedService (``vts-masking serve``)
    sip_port: int
    trunk_port: int
    workdir: Path
    trunk_host: str = "127.0.0.1"

    @property
    def engine(self) -> Any:
        return self.live.app.state.calls


@contextlib.contextmanager
def running_edge(
    db_url: str,
    workdir: Path,
    *,
    numbers: tuple[int, ...] = (1,),
    trunk_host: str = "127.0.0.1",
    trunk_port: int | None = None,
    **settings: Any,
) -> Iterator[Edge]:
    """The service on ``db_url`` listening for SIP on a free port and sending to a trunk
    on another (at ``trunk_host``, on ``trunk_port`` or a free one); a tenant owning its
    virtual numbers ``numbers`` (``Tenant.vn``)."""
    sip_port, trunk_port = free_port(), trunk_port or free_port()
    with LiveService(
        db_url,
        workdir,
        sip=True,
        sip_listen=f"127.0.0.1:{sip_port}",
        sip_trunk=f"{trunk_host}:{trunk_port}",
        **settings,
    ) as live:
        t = make_tenant(live)
        if numbers:
            t.add_numbers(*(t.vn(n) for n in numbers))
        yield Edge(t, live, sip_port, trunk_port, workdir, trunk_host)
        t.http.close()


@dataclass
class ServedService:
    """``vts-masking serve`` in a child process, and a store on its database (for
    creating accounts, as an operator's CLI would)."""

    proc: ServiceProcess
    store: Store

    @property
    def url(self) -> str:
        return self.proc.url


@contextlib.contextmanager
def served_edge(
    db_url: str,
    workdir: Path,
    *,
    numbers: tuple[int, ...] = (1,),
    trunk_host: str = "127.0.0.1",
    trunk_port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Edge]:
    """:func:`running_edge`, but the service is ``vts-masking serve`` itself (its CLI,
    its uvicorn, its event loop), other settings from ``env`` (``VTS_*``)."""
    sip_port, trunk_port = free_port(), trunk_port or free_port()
    store = Store(db_url)
    store.migrate()
    proc = ServiceProcess(
        db_url,
        workdir,
        env={"VTS_RTP_PORTS": "20000-29999", **(env or {})},
        sip_listen=f"127.0.0.1:{sip_port}",
        sip_trunk=f"{trunk_host}:{trunk_port}",
    )
    with proc:
        served = ServedService(proc, store)
        t = make_tenant(served)  # type: ignore[arg-type]
        if numbers:
            t.add_numbers(*(t.vn(n) for n in numbers))
        try:
            yield Edge(t, served, sip_port, trunk_port, workdir, trunk_host)
        finally:
            t.http.close()
            store.close()
