"""``vts-masking demo``: a newcomer's first minute, in one command.

It starts the whole service (HTTP API, SIP edge, RTP relay, event worker) on a temporary
SQLite store and free loopback ports, makes an account with two virtual numbers, creates
a masking session through the SDK (``import vts``), then plays both phones itself with
:class:`~vts_masking.demo.phone.Phone` (the project's own SIP core; no SIPp): the first
party dials the virtual number, the service calls the second party *from* the virtual
number, they exchange a moment of audio through the relay and hang up. It prints what
each party saw, checks that neither saw the other's number, shows the session's record
of the call, and says where to look next. Exit status 0 only if masking held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

FIRST = "+14155550101"  # the caller (a rider, say)
SECOND = "+12125550102"  # the callee (the driver)
NUMBERS = ("+12025550180", "+12025550181")  # the demo pool


def _say(text: str = "") -> None:
    print(text, flush=True)


def _first_line(request: str) -> str:
    return request.splitlines()[0] if request else "(nothing)"


def _header(request: str, name: str) -> str:
    for line in request.splitlines()[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


async def _demo(data_dir: Path) -> int:
    import uvicorn

    import vts

    from ..config import Settings
    from ..service import bind_http, build_app
    from .phone import Phone

    callee = Phone(SECOND, auto_answer=True)  # plays the operator's trunk and the callee
    caller = Phone(FIRST)
    await callee.start()
    await caller.start()
    sock = bind_http("127.0.0.1", 0)
    http_port = sock.getsockname()[1]
    settings = Settings(
        port=http_port,
        data_dir=data_dir,
        sip_listen="127.0.0.1:0",
        sip_trunk=f"127.0.0.1:{callee.port}",
        allow_private_callbacks=True,
    )
    app = build_app(settings)
    config = uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    url = f"http://127.0.0.1:{http_port}"
    try:
        async with app.router.lifespan_context(app):
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                await asyncio.sleep(0.02)
            sip = app.state.calls.b2bua.transport
            _say("VTS Number Masking — demo")
            _say(f"  service   HTTP {url}  SIP 127.0.0.1:{sip.port}  (store: {data_dir})")
            store = app.state.store
            account = store.accounts.create("Demo")
            store.numbers.add(account, list(NUMBERS))
            _say(f"  account   {account.auth_id}, virtual numbers {', '.join(NUMBERS)}")
            client = vts.AsyncRestClient(account.auth_id, account.auth_token, base_url=url)
            try:
                created = await client.masking_sessions.create_masking_session(
                    first_party=FIRST, second_party=SECOND
                )
                uuid, virtual = created.session_uuid, created.virtual_number
                _say(f"  session   {uuid}: {FIRST} <-> {SECOND} on {virtual}")
                _say()
                status = await caller.call(virtual, ("127.0.0.1", sip.port))
                with contextlib.suppress(TimeoutError):
                    await callee.wait_hangup(10)
                session = await _settled(client, uuid)
            finally:
                await client.aclose()
            server.should_exit = True
            await serving
    finally:
        sock.close()
        await caller.stop()
        await callee.stop()
    return _report(status, virtual, caller, callee, session, url, account.auth_id, uuid)


async def _settled(client: Any, uuid: str) -> Any:
    """The session once its call's record is complete (written just after hang-up)."""
    for _ in range(100):
        session = (await client.masking_sessions.get_masking_session(uuid)).session
        interactions = session.interaction or []
        if interactions and interactions[0].end_time is not None:
            return session
        await asyncio.sleep(0.05)
    return session


def _report(
    status: int,
    virtual: str,
    caller: Any,
    callee: Any,
    session: Any,
    url: str,
    auth_id: str,
    uuid: str,
) -> int:
    invite = next((r for r in callee.received if r.startswith("INVITE")), "")
    _say(f"The caller ({FIRST}) dialled {virtual}:")
    answer = next((r for r in caller.received if r.startswith("SIP/2.0 200")), "")
    _say(f"  the call was {'answered' if status == 200 else f'refused ({status})'}")
    if answer:
        _say(f"  200 OK  To: {_header(answer, 'To')}")
    _say(f"  audio: sent {caller.rtp_sent} RTP packets, received {caller.rtp_received}")
    _say(f"The callee ({SECOND}) was called:")
    _say(f"  {_first_line(invite)}")
    _say(f"  From: {_header(invite, 'From')}")
    _say(f"  audio: sent {callee.rtp_sent} RTP packets, received {callee.rtp_received}")
    caller_saw = "\n".join(caller.received)
    masked = bool(invite) and FIRST not in invite and FIRST.lstrip("+") not in invite
    masked = masked and SECOND not in caller_saw and SECOND.lstrip("+") not in caller_saw
    from_v = virtual in _header(invite, "From")
    _say()
    if status == 200 and masked and from_v:
        _say(f"Masked: the callee saw {virtual}, never {FIRST}; the caller never saw {SECOND}.")
    else:
        _say("NOT masked as expected: see the messages above.")
    interactions = getattr(session, "interaction", None) or []
    if interactions:
        first = interactions[0]
        _say(
            f"The session recorded the call: first party {first.first_party_status}, second "
            f"party {first.second_party_status}, {first.duration} s, "
            f"{session.total_call_count} call legs billed {session.total_call_amount}."
        )
    _say()
    _say("Where to look next:")
    _say("  README.md, 'A short tour': the same with your own service, cURL and SIPp")
    _say("  vts-masking serve, then http://127.0.0.1:8080/docs for every endpoint")
    _say("  vts-masking sessions list / calls list / events list, and /metrics")
    _say("  docs/api.md, docs/media.md, docs/events.md for how it behaves")
    ok = status == 200 and masked and from_v and caller.rtp_received > 0
    return 0 if ok else 1


def run_demo(*, keep: bool = False) -> int:
    """Run the demo; returns the exit status (0: the call was masked)."""
    from .. import logs

    logs.setup("warning", "text")
    logging.getLogger("vts_masking.access").setLevel(logging.WARNING)
    data_dir = Path(tempfile.mkdtemp(prefix="vts-demo-"))
    try:
        return asyncio.run(_demo(data_dir))
    finally:
        if keep:
            _say(f"(the demo's data is kept in {data_dir})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
