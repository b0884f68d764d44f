"""The B2BUA alone in one process, for the benchmark: every call to any number is bridged
to the trunk with a fixed caller ID (a dict lookup stands in for the session store).

    python bench/sip/server.py --listen 127.0.0.1:5070 --trunk 127.0.0.1:5080
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from vts_masking import collector
from vts_masking.calls.b2bua import B2BUA, Bridge, InboundCall, Reject
from vts_masking.sip.transport import parse_hostport

# --service: the whole call engine on a SQLite store holding one session (CALLER, CALLEE)
# on VIRTUAL — routing from the store, Call records, interactions and events per call, and
# the RTP relay's ports (the SIPp calls send no RTP).
VIRTUAL, CALLER, CALLEE = "+12205550001", "+14155550001", "+12125550002"


async def start_service(listen: tuple[str, int], trunk: tuple[str, int]) -> B2BUA:
    import tempfile

    from vts_masking.calls.engine import CallEngine
    from vts_masking.config import Settings
    from vts_masking.domain.session_params import parse_create
    from vts_masking.store import Principal, Store

    settings = Settings(
        data_dir=tempfile.mkdtemp(prefix="bench-sip-store-"),
        sip_listen=f"{listen[0]}:{listen[1]}",
        sip_trunk=f"{trunk[0]}:{trunk[1]}",
        # the relay cannot be switched off (a call it cannot carry is refused): every call
        # takes two relay port pairs, as in production
    )
    store = Store(settings.resolved_database_url())
    store.migrate()
    account = store.accounts.create("bench")
    main = store.accounts.by_auth_id(account.auth_id)
    assert main is not None
    store.numbers.add(main, [VIRTUAL])
    params = parse_create({"first_party": CALLER, "second_party": CALLEE, "session_expiry": 86400})
    store.sessions.create(Principal(main, main, None), params, lambda view: view)
    engine = CallEngine(store, settings)
    await engine.start()
    return engine.b2bua


async def main(listen: tuple[str, int], trunk: tuple[str, int], service: bool = False) -> None:
    routes: dict[str, Bridge] = {}
    default = Bridge(number="+15550002", caller_id="+15550001")

    async def router(call: InboundCall) -> Bridge | Reject:
        return routes.get(call.to_user or "", default)

    if service:
        b2bua = await start_service(listen, trunk)
    else:
        b2bua = B2BUA(router, trunk=trunk, listen=listen)
        await b2bua.start()
    # As serve does: start-up objects out of every future collection, the same
    # thresholds (the baseline keeps the service's runtime settings).
    collector.settle()
    print(f"ready {b2bua.transport.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"stats {b2bua.transport.stats}", flush=True)
    await b2bua.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:5070")
    ap.add_argument("--trunk", default="127.0.0.1:5080")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    ap.add_argument("--service", action="store_true", help="the real call engine and store")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runner = None
    if args.loop == "uvloop":
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = None
    (runner or asyncio.run)(
        main(parse_hostport(args.listen), parse_hostport(args.trunk), args.service)
    )
