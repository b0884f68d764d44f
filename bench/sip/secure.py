"""The CPU cost per call of TLS signalling and SRTP media, beside plain UDP and RTP.

Two measurements, each with its baseline in the same run, on the measured process's own
CPU time (``/proc/<pid>/stat``: user + system), so the load generator's work is not in it:

1. **Signalling.** A B2BUA process (no media, as ``bench/sip/server.py``) with a TLS
   listener; the driver places calls to it — INVITE, 200, ACK, BYE, 200 on the caller
   leg, the same through to a trunk answering on UDP — over UDP, over TLS on one kept
   connection (how a carrier or an SBC talks to us), and over TLS with a new connection
   per call (the handshake each time: phones that hang up their connection). CPU ms per
   call, and the ratios to UDP.
2. **Media.** A relay process holding ``--calls`` bridged calls; the driver sends 50
   packets/s each way on every call (20 ms G.711) for ``--seconds``: both legs RTP, one
   leg SRTP (AES_CM_128_HMAC_SHA1_80, unprotect in and protect out on that leg), both
   legs SRTP. CPU ms per call-second, and the ratios to plain RTP.

    python bench/sip/secure.py                 # defaults: 300 calls, 40 media calls × 10 s
    python bench/sip/secure.py --calls 600 --media-calls 80 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))
sys.path.insert(0, str(HERE.parents[2] / "src"))

from tests.support.live import free_port  # noqa: E402

VIRTUAL, CALLER, CALLEE = "+12205550001", "+14155550001", "+12125550002"
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- child roles


async def b2bua_role(args: argparse.Namespace) -> None:
    from vts_masking.calls.b2bua import B2BUA, Bridge, InboundCall
    from vts_masking.sip.tls import server_context
    from vts_masking.sip.transport import SipTransport

    async def router(call: InboundCall) -> Bridge:
        return Bridge(number=CALLEE, caller_id=VIRTUAL)

    transport = SipTransport(
        "127.0.0.1",
        0,
        tls_port=0,
        tls_server=server_context(args.cert, args.key),
    )
    b2bua = B2BUA(router, trunk=("127.0.0.1", args.trunk_port), transport=transport)
    await b2bua.start()
    print(json.dumps({"udp": transport.port, "tls": transport.tls_port}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await b2bua.stop()


async def relay_role(args: argparse.Namespace) -> None:
    from vts_masking.media.relay import PortAllocator, RelayedCall
    from vts_masking.media.srtp import SrtpLeg, answer_crypto, offer_crypto

    alloc = PortAllocator("127.0.0.1", args.port_min, args.port_min + 4 * args.calls + 40)
    out = []
    calls = []
    for _ in range(args.calls):
        c = RelayedCall(alloc, inactivity_timeout=120)
        c.a.set_remote("127.0.0.1", args.phone_a, 0)
        c.b.set_remote("127.0.0.1", args.phone_b, 0)
        keys: dict[str, str] = {}
        for name, leg in (("a", c.a), ("b", c.b)):
            if name in args.srtp:
                theirs, ours = answer_crypto(offer_crypto(["AES_CM_128_HMAC_SHA1_80"])) or (
                    None,
                    None,
                )
                assert theirs and ours
                leg.srtp = SrtpLeg(theirs, ours)
                keys[name] = base64.b64encode(theirs.key).decode()  # the phone's own key
        c.bridge()
        calls.append(c)
        out.append({"a": c.a.local_port, "b": c.b.local_port, "keys": keys})
    print(json.dumps(out), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for c in calls:
        c.close()


# --------------------------------------------------------------------------- signalling


class Driver:
    """Caller UA and trunk UAS on one transport: places calls, answers them."""

    def __init__(self, ca_file: str) -> None:
        from vts_masking.sip.tls import client_context
        from vts_masking.sip.transport import SipTransport

        self.transport = SipTransport("127.0.0.1", 0)
        ctx = client_context(ca_file=ca_file)
        self.transport.tls_client = lambda addr: (ctx, "127.0.0.1")
        self.transport.on_event = self.on_event

    def on_event(self, ev: object) -> None:
        from vts_masking.sip.message import make_response, new_tag
        from vts_masking.sip.transaction import RequestReceived, ResponseReceived

        if isinstance(ev, ResponseReceived):
            fut = ev.txn.context if ev.txn is not None else None
            if isinstance(fut, asyncio.Future) and ev.response.status >= 200 and not fut.done():
                fut.set_result(ev.response)
            return
        if isinstance(ev, RequestReceived) and ev.txn is not None:
            req = ev.request
            if req.method == "INVITE":  # the trunk answers at once
                resp = make_response(
                    req,
                    200,
                    to_tag=new_tag(),
                    body=SDP,
                    extra=(
                        ("Contact", "<sip:callee@127.0.0.1>"),
                        ("Content-Type", "application/sdp"),
                    ),
                )
                self.transport.respond(ev.txn, resp)
            elif req.method in ("BYE", "CANCEL", "OPTIONS"):
                self.transport.respond(ev.txn, make_response(req, 200))

    async def request(self, req: object, addr: tuple[str, int], tp: str) -> object:
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        txn = self.transport.send_request(req, addr, tp)  # type: ignore[arg-type]
        txn.context = fut
        return await asyncio.wait_for(fut, 10)

    async def call(self, addr: tuple[str, int], tp: str) -> bool:
        from vts_masking.sip.dialog import Dialog
        from vts_masking.sip.message import Headers, Request, new_call_id, new_tag

        h = Headers()
        h.add("Via", self.transport.via(tp))
        h.add("Max-Forwards", "70")
        h.add("From", f"<sip:{CALLER}@127.0.0.1>;tag={new_tag()}")
        h.add("To", f"<sip:{VIRTUAL}@127.0.0.1>")
        h.add("Call-ID", new_call_id())
        h.add("CSeq", "1 INVITE")
        h.add("Contact", self.transport.contact(transport=tp))
        h.add("Content-Type", "application/sdp")
        invite = Request("INVITE", f"sip:{VIRTUAL}@127.0.0.1:{addr[1]}", h, SDP)
        resp = await self.request(invite, addr, tp)
        if getattr(resp, "status", 0) != 200:
            return False
        dialog = Dialog.as_uac(invite, resp)  # type: ignore[arg-type]
        self.transport.send_stateless(dialog.create_ack(1, self.transport.via(tp)), addr, tp)
        bye = dialog.create_request("BYE", self.transport.via(tp))
        return getattr(await self.request(bye, addr, tp), "status", 0) == 200

    def drop_tls_connections(self) -> None:
        for conn in list(self.transport._tls.values()):
            conn.close()


async def signalling(args: argparse.Namespace, workdir: Path) -> list[tuple[str, float, int]]:
    from tests.support.certs import TestCA

    ca = TestCA(workdir / "pki")
    served = ca.issue("b2bua")
    driver = Driver(str(ca.pem.cert))
    await driver.transport.start()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE),
            "--role",
            "b2bua",
            "--trunk-port",
            str(driver.transport.port),
            "--cert",
            str(served.cert),
            "--key",
            str(served.key),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    ports = json.loads(proc.stdout.readline())
    results = []
    try:
        for mode in ("udp", "tls", "tls-new-connection"):
            tp = "udp" if mode == "udp" else "tls"
            addr = ("127.0.0.1", ports["udp" if tp == "udp" else "tls"])
            await driver.call(addr, tp)  # warm-up (and the kept TLS connection)
            before = cpu_seconds(proc.pid)
            ok = 0
            for start in range(0, args.calls, args.concurrency):
                batch = range(start, min(args.calls, start + args.concurrency))
                if mode == "tls-new-connection":
                    # one connection per call: calls one after the other, each on its own
                    for _ in batch:
                        driver.drop_tls_connections()
                        ok += await driver.call(addr, tp)
                    continue
                done = await asyncio.gather(*(driver.call(addr, tp) for _ in batch))
                ok += sum(done)
            await asyncio.sleep(0.3)  # let the B2BUA finish what it was doing
            used = cpu_seconds(proc.pid) - before
            results.append((mode, 1000 * used / max(ok, 1), ok))
    finally:
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        proc.wait(15)
        await driver.transport.close()
    return results


# --------------------------------------------------------------------------- media


def media(args: argparse.Namespace) -> list[tuple[str, float]]:
    from vts_masking.media.srtp import SUITES, CryptoAttribute, SrtpLeg

    results = []
    for label, srtp in (("rtp/rtp", ""), ("srtp/rtp", "a"), ("srtp/srtp", "ab")):
        pa = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for s in (pa, pb):
            s.bind(("127.0.0.1", 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            s.setblocking(False)
        base = free_port() & ~1
        proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE),
                "--role",
                "relay",
                "--calls",
                str(args.media_calls),
                "--phone-a",
                str(pa.getsockname()[1]),
                "--phone-b",
                str(pb.getsockname()[1]),
                "--port-min",
                str(20000 + (base % 5000) * 2),
                "--srtp",
                srtp,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        calls = json.loads(proc.stdout.readline())
        # the phones seal with their own keys (what the relay opens on an SRTP leg)
        sealers = []
        for c in calls:
            row = {}
            for name in ("a", "b"):
                if name in c["keys"]:
                    key = CryptoAttribute(
                        1, "AES_CM_128_HMAC_SHA1_80", base64.b64decode(c["keys"][name])
                    )
                    assert len(key.key) == SUITES[key.suite][1]
                    # sealing needs only the phone's key (the other direction is unused)
                    row[name] = SrtpLeg(key, key)
            sealers.append(row)
        payload = b"\xff" * 160
        start = time.monotonic()
        before = cpu_seconds(proc.pid)
        tick = 0
        while (now := time.monotonic()) - start < args.seconds:
            for i, c in enumerate(calls):
                for name, sock in (("a", pa), ("b", pb)):
                    pkt = (
                        struct.pack("!BBHII", 0x80, 0, tick & 0xFFFF, tick * 160, 1000 + i)
                        + payload
                    )
                    sealer = sealers[i].get(name)
                    if sealer is not None:
                        pkt = sealer.protect(pkt) or pkt
                    with contextlib.suppress(BlockingIOError):
                        sock.sendto(pkt, ("127.0.0.1", c[name]))
            for sock in (pa, pb):  # drain what the relay sent us
                with contextlib.suppress(BlockingIOError):
                    while True:
                        sock.recv(4096)
            tick += 1
            time.sleep(max(0.0, start + tick * 0.02 - time.monotonic()))
        used = cpu_seconds(proc.pid) - before
        elapsed = now - start
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        proc.wait(15)
        pa.close()
        pb.close()
        results.append((label, 1000 * used / (args.media_calls * elapsed)))
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["driver", "b2bua", "relay"], default="driver")
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--media-calls", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--trunk-port", type=int, default=0)
    ap.add_argument("--cert", default="")
    ap.add_argument("--key", default="")
    ap.add_argument("--phone-a", type=int, default=0)
    ap.add_argument("--phone-b", type=int, default=0)
    ap.add_argument("--port-min", type=int, default=30000)
    ap.add_argument("--srtp", default="")
    args = ap.parse_args()
    if args.role in ("b2bua", "relay"):
        # the measured process runs on uvloop, as vts-masking serve does
        try:
            import uvloop

            run = uvloop.run
        except ImportError:
            run = asyncio.run
        run(b2bua_role(args) if args.role == "b2bua" else relay_role(args))
        return
    with tempfile.TemporaryDirectory(prefix="vts-bench-secure-") as tmp:
        sig = asyncio.run(signalling(args, Path(tmp)))
    base = sig[0][1]
    print(f"signalling: CPU of the B2BUA per call ({args.calls} calls each)")
    for mode, ms, ok in sig:
        print(f"  {mode:20s} {ms:7.3f} ms/call  x{ms / base:5.2f}  ({ok} completed)")
    med = media(args)
    base = med[0][1]
    print(f"media: CPU of the relay per call-second ({args.media_calls} calls, {args.seconds:g} s)")
    for label, ms in med:
        print(f"  {label:20s} {ms:7.3f} ms/call-s  x{ms / base:5.2f}")


if __name__ == "__main__":
    main()
