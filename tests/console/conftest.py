"""Fixtures for the console's browser tests: the whole service with its SIP edge and
event worker, a real callback receiver, one real recorded SIPp call, and headless
Chromium from Debian driven by Playwright (one browser per module, a fresh context per
test).

Set ``VTS_CONSOLE_SCREENSHOTS=DIR`` to have the tests save a PNG of each page into DIR
(``python docs/console/screenshots.py`` does that for docs/console.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import Tenant
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Edge, ok, wait_for
from tests.integration.events.receiver import Receiver

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # the recording test starts playback from script, without a click
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]
PCAPS = Path("/usr/share/sip-tester")
SCREENSHOTS = os.environ.get("VTS_CONSOLE_SCREENSHOTS")

A = "+14155550101"  # the recorded call's first party (the caller)
B = "+12125550102"  # its second party

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

requires_browser = pytest.mark.skipif(
    sync_playwright is None or not Path(CHROMIUM).exists(),
    reason="playwright (pip) or chromium (Debian) not installed",
)
requires_pcaps = pytest.mark.skipif(
    not (PCAPS / "g711a.pcap").exists(), reason="sip-tester captures not installed"
)


def in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine (SIPp phones) on a thread of its own: Playwright's sync API owns
    this thread's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@dataclass
class Console:
    """The running service, its tenant, the receiver, and the recorded call's session."""

    edge: Edge
    receiver: Receiver
    answer: dict[str, int]  # what the receiver answers now: {"status": …}
    session: dict[str, Any]  # the recorded call's session (API view)
    recording: dict[str, Any]  # its recording (API view)

    @property
    def t(self) -> Tenant:
        return self.edge.t

    @property
    def url(self) -> str:
        return self.edge.live.url

    def api(self, path: str) -> Any:
        r = self.t.http.get(self.t.base + path)
        assert r.status_code == 200, r.text
        return r.json()

    def events(self, session_uuid: str) -> list[dict[str, Any]]:
        body = self.api(f"Masking/Session/{session_uuid}/Event/")
        return body["response"]["objects"]


def sign_in(page: Page, base: str, auth_id: str, token: str) -> None:
    page.goto(base + "/console/")
    page.fill("input[name=auth_id]", auth_id)
    page.fill("input[name=auth_token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/dashboard$"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, console: Console) -> Page:
    """A browser tab signed in as the tenant."""
    tab = context.new_page()
    sign_in(tab, console.url, console.t.auth_id, console.t.auth_token)
    return tab


async def _recorded_call(edge: Edge) -> None:
    from tests.e2e.test_media_calls import RtpSink, speech_call

    sink = RtpSink()
    try:
        caller, callee = await speech_call(edge, sink, caller=A)
    finally:
        sink.close()
    ok(caller)
    ok(callee)


@pytest.fixture(scope="module")
def console(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The service (SIP edge, media, event worker) on each store, with one recorded SIPp
    call already made; its session's callbacks go to a receiver that answers 503 (each
    event fails at its first attempt: the worker gives up at once in this module)."""
    if e2e.SIPP is None:
        pytest.skip("sipp not installed (sip-tester)")
    workdir = tmp_path_factory.mktemp("console")
    (workdir / "pcap").symlink_to(PCAPS)
    answer = {"status": 503}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VTS_EVENTS_GIVE_UP_AFTER", "0")
        env.setenv("VTS_EVENTS_POLL", "0.05")
        with (
            Receiver(respond=lambda _r: answer["status"], body=b"down for maintenance") as rx,
            e2e.running_edge(
                module_db_url,
                workdir,
                numbers=(1,),  # the recorded call dials the first number
                background=True,
                allow_private_callbacks=True,
                prompts_allow_private=True,
                sweep_interval=0.2,
            ) as edge,
        ):
            t = edge.t
            session = t.session(
                first_party=A,
                second_party=B,
                record=True,
                record_file_format="wav",
                callback_url=rx.url + "/events",
            )
            t.add_numbers(t.vn(2))  # for the sessions of later tests
            in_thread(lambda: _recorded_call(edge))

            def recorded() -> dict[str, Any] | None:
                rows = t.http.get(t.base + "Recording/").json()["objects"]
                done = [r for r in rows if r["recording_status"] == "completed"]
                return done[0] if done else None

            recording = wait_for(recorded, 20)
            assert recording, "the recorded call left no completed recording"
            uuid = session["session_uuid"]
            settled = wait_for(
                lambda: all(
                    e["status"] in ("failed", "skipped")
                    for e in t.http.get(t.base + f"Masking/Session/{uuid}/Event/").json()[
                        "response"
                    ]["objects"]
                ),
                20,
            )
            assert settled, "the session's events were not all attempted"
            view = t.http.get(t.base + f"Masking/Session/{uuid}/").json()["response"]
            yield Console(edge, rx, answer, view, recording)


def start_call(
    console: Console, caller: str, dialled: str, hold_ms: int
) -> concurrent.futures.Future[None]:
    """Start a call from ``caller`` to ``dialled`` that the caller hangs up after
    ``hold_ms`` (the callee is SIPp's built-in answering phone on the trunk); the
    future ends when both SIPp are done, and fails if either did not succeed."""

    async def run() -> None:
        edge = console.edge
        text = (e2e.SCENARIOS / "caller_bye.xml").read_text()
        text = text.replace("+14445556666", caller)
        text = text.replace('<pause milliseconds="300"/>', f'<pause milliseconds="{hold_ms}"/>')
        path = edge.workdir / f"caller_hold_{hold_ms}.xml"
        path.write_text(text)
        callee = await e2e.Sipp(edge.workdir, "trunk", port=edge.trunk_port, builtin="uas").start()
        phone = e2e.Sipp(
            edge.workdir,
            "holder",
            scenario=str(path),
            remote=("127.0.0.1", edge.sip_port),
            service=dialled,
        )
        await phone.start()
        ok(await phone.finish(timeout=30))
        ok(await callee.finish(timeout=10))

    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(lambda: asyncio.run(run()))
    pool.shutdown(wait=False)
    return future
