"""The B2BUA alone in one process, for the benchmark: every call to any number is bridged
to the trunk with a fixed caller ID (a dict lookup stands in for the session store).

    python bench/sip/server.py --listen 127.0.0.1:5070 --trunk 127.0.0.1:5080
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal

from vts_masking.calls.b2bua import B2BUA, Bridge, InboundCall, Reject
from vts_masking.sip.transport import parse_hostport


async def main(listen: tuple[str, int], trunk: tuple[str, int]) -> None:
    routes: dict[str, Bridge] = {}
    default = Bridge(number="+15550002", caller_id="+15550001")

    async def router(call: InboundCall) -> Bridge | Reject:
        return routes.get(call.to_user or "", default)

    b2bua = B2BUA(router, trunk=trunk, listen=listen)
    await b2bua.start()
    # Start-up objects never die: keep them out of every future full collection.
    gc.collect()
    gc.freeze()
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
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runner = None
    if args.loop == "uvloop":
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = None
    (runner or asyncio.run)(main(parse_hostport(args.listen), parse_hostport(args.trunk)))
