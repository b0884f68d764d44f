"""Media relay benchmark: concurrent relayed G.711 calls, our relay beside rtpengine.

One command::

    python bench/media/run.py                      # levels 50,100,150,200,300; 6 s each
    python bench/media/run.py --levels 100 --seconds 4 --record --loop uvloop

For each level N it starts a fresh relay process holding N bridged calls, and a load
generator (this process) that plays both phones of every call: 20 ms PCMU packets (160
bytes, 50 packet/s) in both directions, calls spread evenly over the 20 ms period. Each
packet carries its send time (CLOCK_MONOTONIC, shared by all processes of the host), so
the receiver measures each packet's transit through the relay. Reported per level:

- loss: packets not received / packets sent (both directions, after a drain);
- jitter: RFC 3550 interarrival jitter of the relayed streams, mean over streams (ms),
  and *added* jitter = that minus the same figure for the ``direct`` path (phone to
  phone without a relay: the load generator's own contribution);
- p99 transit (ms);
- CPU: the relay process's user+system CPU time over the measured window (all threads),
  as % of one core, and per call.

Systems measured in the same run (same generator, same levels):

- ``direct``: no relay, phone A sends straight to phone B — the floor;
- ``vts``: ``vts_masking.media.relay.RelayedCall`` in one Python process (one core);
- ``vts+rec``: the same with every call recorded (``--record``);
- ``rtpengine``: Debian's ``rtpengine-daemon`` in userspace (``--table=-1``), driven over
  its ng control protocol (offer/answer per call). It uses several threads by default;
  its CPU is summed over threads, so the per-call CPU comparison is fair either way.

The pass mark (issue 5): under 0.5 % loss and under 5 ms added jitter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.abspath(__file__)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PTIME = 0.02
PAYLOAD = 160
SOCK_BUF = 4 * 1024 * 1024

# --- helpers -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def udp_socket(port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        s.setsockopt(socket.SOL_SOCKET, opt, SOCK_BUF)
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    return s


def free_port_base(span: int) -> int:
    """A random even base in 30000-59999 (the allocators skip ports that are busy)."""
    return random.randrange(30000, 60000 - span) & ~1


# --- the relay under test (a child process) ------------------------------------------


def relay_main(args: argparse.Namespace) -> None:
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    asyncio.run(_relay(args))


async def _relay(args: argparse.Namespace) -> None:
    from vts_masking.media.relay import PortAllocator, RelayedCall

    alloc = PortAllocator("127.0.0.1", args.port_min, args.port_min + 4 * args.calls + 400)
    ha, pa = args.phone_a.split(":")
    hb, pb = args.phone_b.split(":")
    calls = []
    for _ in range(args.calls):
        c = RelayedCall(alloc, inactivity_timeout=30)
        c.a.set_remote(ha, int(pa), 0)
        c.b.set_remote(hb, int(pb), 0)
        c.bridge()
        calls.append(c)
    if args.record_dir:
        for i, c in enumerate(calls):
            c.start_recording(os.path.join(args.record_dir, f"call{i}.wav"), "wav")
    print(json.dumps([[c.a.local_port, c.b.local_port] for c in calls]), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the driver says "stop"
    if args.record_dir:
        results = [await c.stop_recording() for c in calls]
        total = sum(r.duration for r in results if r is not None)
        print(json.dumps({"recorded_seconds": total}), flush=True)
    for c in calls:
        c.close()


class VtsRelay:
    name = "vts"

    def __init__(self, calls: int, phone_a, phone_b, loop: str, record: bool) -> None:
        self.record_dir = tempfile.mkdtemp(prefix="vts-bench-rec-") if record else ""
        cmd = [
            sys.executable,
            HERE,
            "--role",
            "relay",
            "--calls",
            str(calls),
            "--phone-a",
            f"{phone_a[0]}:{phone_a[1]}",
            "--phone-b",
            f"{phone_b[0]}:{phone_b[1]}",
            "--port-min",
            str(free_port_base(4 * calls + 400)),
            "--loop",
            loop,
            "--record-dir",
            self.record_dir,
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("relay process died")
        self.ports = [(a, b) for a, b in json.loads(line)]
        self.pid = self.proc.pid
        self.recorded_seconds = 0.0

    def close(self) -> None:
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        if self.record_dir:
            line = self.proc.stdout.readline()
            if line:
                self.recorded_seconds = json.loads(line)["recorded_seconds"]
            shutil.rmtree(self.record_dir, ignore_errors=True)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- rtpengine (a child process driven over ng) -------------------------------------


def bencode(x) -> bytes:
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(bencode(i) for i in x) + b"e"
    if isinstance(x, dict):
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(x.items())) + b"e"
    raise TypeError(type(x))


def bdecode(data: bytes, i: int = 0):
    c = data[i : i + 1]
    if c == b"i":
        j = data.index(b"e", i)
        return int(data[i + 1 : j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while data[i : i + 1] != b"e":
            v, i = bdecode(data, i)
            items.append(v)
        if c == b"l":
            return items, i + 1
        return {items[k].decode(): items[k + 1] for k in range(0, len(items), 2)}, i + 1
    j = data.index(b":", i)
    n = int(data[i:j])
    return data[j + 1 : j + 1 + n], j + 1 + n


def sdp_for(host: str, port: int, sess: int) -> str:
    return (
        f"v=0\r\no=- {sess} 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


class RtpEngine:
    name = "rtpengine"

    def __init__(self, calls: int, phone_a, phone_b, threads: int | None) -> None:
        exe = shutil.which("rtpengine")
        if exe is None:
            raise RuntimeError("rtpengine not installed (apt-get install rtpengine-daemon)")
        ng = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ng.bind(("127.0.0.1", 0))
        ng_port = ng.getsockname()[1]
        ng.close()
        base = free_port_base(4 * calls + 400)
        cmd = [
            exe,
            "--table=-1",
            "--interface=127.0.0.1",
            f"--listen-ng=127.0.0.1:{ng_port}",
            f"--port-min={base}",
            f"--port-max={base + 4 * calls + 400}",
            "--foreground",
            "--log-stderr",
            "--log-level=3",
            "--no-log-timestamps",
            "--delete-delay=0",
            f"--pidfile={tempfile.gettempdir()}/vts-bench-rtpengine-{os.getpid()}.pid",
        ]
        if threads:
            cmd.append(f"--num-threads={threads}")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.ng = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ng.settimeout(2.0)
        self.ng_addr = ("127.0.0.1", ng_port)
        self._wait_ready()
        self.ports = []
        for i in range(calls):
            cid, ftag, ttag = f"bench-{i}", f"f{i}", f"t{i}"
            offer = self._cmd(
                {
                    "command": "offer",
                    "call-id": cid,
                    "from-tag": ftag,
                    "sdp": sdp_for(phone_a[0], phone_a[1], i),
                }
            )
            port_for_b = int(re.search(rb"m=audio (\d+)", offer["sdp"]).group(1))
            answer = self._cmd(
                {
                    "command": "answer",
                    "call-id": cid,
                    "from-tag": ftag,
                    "to-tag": ttag,
                    "sdp": sdp_for(phone_b[0], phone_b[1], i),
                }
            )
            port_for_a = int(re.search(rb"m=audio (\d+)", answer["sdp"]).group(1))
            self.ports.append((port_for_a, port_for_b))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rtpengine exited: " + self.proc.stderr.read().decode()[-500:])
            try:
                if self._cmd({"command": "ping"}, timeout=0.3).get("result") == b"pong":
                    return
            except (TimeoutError, OSError):
                time.sleep(0.1)
        raise RuntimeError("rtpengine did not answer ping")

    def _cmd(self, msg: dict, timeout: float = 2.0) -> dict:
        cookie = f"{random.getrandbits(40):x}".encode()
        self.ng.settimeout(timeout)
        self.ng.sendto(cookie + b" " + bencode(msg), self.ng_addr)
        while True:
            data, _ = self.ng.recvfrom(65536)
            c, _, body = data.partition(b" ")
            if c == cookie:
                reply, _ = bdecode(body)
                if reply.get("result") not in (b"ok", b"pong"):
                    raise RuntimeError(f"rtpengine: {reply}")
                return reply

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.ng.close()


class Direct:
    """No relay: each phone sends straight to the other (the generator's own floor)."""

    name = "direct"
    pid = None

    def __init__(self, calls: int, phone_a, phone_b) -> None:
        self.ports = [(phone_b[1], phone_a[1])] * calls  # "A sends to" = phone B itself

    def close(self) -> None:
        pass


# --- the load generator ----------------------------------------------------------------


@dataclass
class Stream:
    sent: int = 0
    received: int = 0
    last_transit: float | None = None
    jitter: float = 0.0
    transits: list[float] = field(default_factory=list)


def generate(
    relay, phone_a: socket.socket, phone_b: socket.socket, warmup: float, seconds: float
) -> dict:
    n = len(relay.ports)
    hdr = struct.Struct("!BBHII")
    stamp = struct.Struct("!d")
    # stream id = 2*call + (0: A→B, 1: B→A); carried in the SSRC and, as the relay
    # writes an SSRC of its own, in the payload after the send time too
    streams = [Stream() for _ in range(2 * n)]
    packets = [bytearray(12 + PAYLOAD) for _ in range(2 * n)]
    for sid, p in enumerate(packets):
        p[20:] = b"\xff" * (PAYLOAD - 8)
        p[20:24] = sid.to_bytes(4, "big")
    dests = []
    for a_port, b_port in relay.ports:
        dests.append((phone_a, ("127.0.0.1", a_port)))
        dests.append((phone_b, ("127.0.0.1", b_port)))
    slots: list[list[int]] = [[] for _ in range(20)]
    for sid in range(2 * n):
        slots[(sid // 2) % 20].append(sid)
    seqs = [random.getrandbits(16) for _ in range(2 * n)]
    mono = time.monotonic
    t_start = mono()
    measure_from = t_start + warmup
    stop_at = measure_from + seconds
    next_tick = t_start
    tick = 0
    cpu0 = None
    socks = [phone_a, phone_b]
    late_ticks = 0
    send_failures = 0

    def drain(sock: socket.socket, now_measuring: bool) -> None:
        recv = sock.recvfrom
        while True:
            try:
                data, _ = recv(2048)
            except BlockingIOError:
                return
            now = mono()
            if len(data) < 24:
                continue
            ssrc = int.from_bytes(data[20:24], "big")
            if ssrc >= len(streams):
                continue
            sent_at = stamp.unpack_from(data, 12)[0]
            if sent_at < measure_from:
                continue
            st = streams[ssrc]
            st.received += 1
            transit = now - sent_at
            if st.last_transit is not None:
                st.jitter += (abs(transit - st.last_transit) - st.jitter) / 16
            st.last_transit = transit
            st.transits.append(transit)

    while True:
        now = mono()
        if now >= stop_at:
            break
        if cpu0 is None and now >= measure_from and relay.pid:
            cpu0 = (cpu_seconds(relay.pid), now)
        while next_tick <= now:
            if now - next_tick > 0.005:
                late_ticks += 1
            for sid in slots[tick % 20]:
                p = packets[sid]
                seq = seqs[sid] = (seqs[sid] + 1) & 0xFFFF
                sent_at = mono()
                hdr.pack_into(p, 0, 0x80, 0, seq, (seq * 160) & 0xFFFFFFFF, sid)
                stamp.pack_into(p, 12, sent_at)
                sock, dest = dests[sid]
                try:
                    sock.sendto(p, dest)
                except BlockingIOError:
                    send_failures += 1  # the generator's own socket was full
                if sent_at >= measure_from:
                    streams[sid].sent += 1
            tick += 1
            next_tick = t_start + tick * (PTIME / 20)
        timeout = max(0.0, next_tick - mono())
        readable, _, _ = select.select(socks, [], [], timeout)
        for s in readable:
            drain(s, True)
    cpu1 = (cpu_seconds(relay.pid), mono()) if relay.pid and cpu0 else None
    drain_until = mono() + 0.3
    while mono() < drain_until:
        readable, _, _ = select.select(socks, [], [], 0.05)
        for s in readable:
            drain(s, True)

    sent = sum(s.sent for s in streams)
    received = sum(min(s.received, s.sent) for s in streams)
    transits = sorted(t for s in streams for t in s.transits)
    result = {
        "calls": n,
        "sent": sent,
        "loss_pct": 100.0 * (sent - received) / sent if sent else 0.0,
        "jitter_ms": 1000 * sum(s.jitter for s in streams) / len(streams),
        "p99_transit_ms": 1000 * transits[int(0.99 * (len(transits) - 1))] if transits else None,
        "generator_late_ticks": late_ticks,
        "generator_send_failures": send_failures,
    }
    if cpu1 and cpu0:
        cpu_frac = (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])
        result["cpu_pct_core"] = 100 * cpu_frac
        result["cpu_pct_per_call"] = 100 * cpu_frac / n
    return result


def run_level(system: str, n: int, args: argparse.Namespace) -> dict:
    phone_a, phone_b = udp_socket(), udp_socket()
    addr_a, addr_b = phone_a.getsockname(), phone_b.getsockname()
    try:
        if system == "direct":
            relay = Direct(n, addr_a, addr_b)
        elif system == "rtpengine":
            relay = RtpEngine(n, addr_a, addr_b, args.rtpengine_threads)
        else:
            relay = VtsRelay(n, addr_a, addr_b, args.loop, record=(system == "vts+rec"))
        try:
            res = generate(relay, phone_a, phone_b, args.warmup, args.seconds)
        finally:
            relay.close()
        if system == "vts+rec":
            res["recorded_seconds"] = round(relay.recorded_seconds, 1)
        return res
    finally:
        phone_a.close()
        phone_b.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--role", default="driver", choices=["driver", "relay"])
    ap.add_argument("--levels", default="50,100,150,200,300")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--systems", default="direct,vts,rtpengine")
    ap.add_argument("--record", action="store_true", help="also measure vts with recording on")
    ap.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    ap.add_argument("--rtpengine-threads", type=int, default=0)
    ap.add_argument("--json", help="write the results here too")
    # relay role
    ap.add_argument("--calls", type=int, default=0)
    ap.add_argument("--phone-a")
    ap.add_argument("--phone-b")
    ap.add_argument("--port-min", type=int, default=0)
    ap.add_argument("--record-dir", default="")
    args = ap.parse_args()
    if args.role == "relay":
        relay_main(args)
        return

    systems = args.systems.split(",")
    if args.record and "vts+rec" not in systems:
        systems.append("vts+rec")
    if "rtpengine" in systems and shutil.which("rtpengine") is None:
        print("# rtpengine not installed: skipped (apt-get install rtpengine-daemon)")
        systems.remove("rtpengine")
    levels = [int(x) for x in args.levels.split(",")]
    print(
        f"# {os.cpu_count()} CPUs, python {sys.version.split()[0]}, loop={args.loop}, "
        f"{args.seconds:g} s per level after {args.warmup:g} s warm-up"
    )
    header = (
        f"{'system':10} {'calls':>5} {'loss%':>7} {'jitter':>7} {'added':>7} "
        f"{'p99ms':>7} {'cpu%':>6} {'cpu%/call':>9}  verdict"
    )
    print(header)
    results = []
    direct_jitter: dict[int, float] = {}
    for n in levels:
        for system in systems:
            try:
                r = run_level(system, n, args)
            except Exception as e:  # a baseline that cannot run is reported, not fatal
                print(f"{system:10} {n:5d}  failed: {e}")
                continue
            r["system"] = system
            if system == "direct":
                direct_jitter[n] = r["jitter_ms"]
            added = r["jitter_ms"] - direct_jitter.get(n, 0.0)
            r["added_jitter_ms"] = added
            ok = r["loss_pct"] < 0.5 and added < 5.0
            r["pass"] = ok
            results.append(r)
            cpu = r.get("cpu_pct_core")
            cpc = r.get("cpu_pct_per_call")
            print(
                f"{system:10} {n:5d} {r['loss_pct']:7.3f} {r['jitter_ms']:7.3f} {added:7.3f} "
                f"{r['p99_transit_ms'] or 0:7.2f} "
                f"{'' if cpu is None else f'{cpu:6.1f}':>6} "
                f"{'' if cpc is None else f'{cpc:9.3f}':>9}  "
                f"{'ok' if ok else 'FAIL'}"
                + (
                    f" (generator late {r['generator_late_ticks']})"
                    if r["generator_late_ticks"]
                    else ""
                )
                + (
                    f" (generator send failures {r['generator_send_failures']})"
                    if r["generator_send_failures"]
                    else ""
                )
                + (f" recorded {r['recorded_seconds']} s" if "recorded_seconds" in r else ""),
                flush=True,
            )
    # the summary: per-call CPU ratio and the implied calls per core
    print()
    for system in systems:
        rows = [r for r in results if r["system"] == system and "cpu_pct_per_call" in r]
        if not rows:
            continue
        best = max((r for r in rows if r["pass"]), key=lambda r: r["calls"], default=None)
        per_call = sorted(r["cpu_pct_per_call"] for r in rows)[len(rows) // 2]
        # A short, light run can fall under the kernel's CPU accounting tick (10 ms)
        # and read as zero: say so rather than divide by it.
        per_core = f"~{100 / per_call:.0f} calls/core" if per_call > 0 else "too small to measure"
        print(
            f"# {system}: highest passing level {best['calls'] if best else 'none'}; "
            f"median CPU per call {per_call:.3f}% of a core → {per_core}"
        )
    vts = [r for r in results if r["system"] == "vts" and "cpu_pct_per_call" in r]
    rte = [r for r in results if r["system"] == "rtpengine" and "cpu_pct_per_call" in r]
    if vts and rte:
        by_n = {r["calls"]: r for r in rte}
        ratios = [
            v["cpu_pct_per_call"] / by_n[v["calls"]]["cpu_pct_per_call"]
            for v in vts
            if v["calls"] in by_n and by_n[v["calls"]]["cpu_pct_per_call"]
        ]
        if ratios:
            print(
                f"# CPU per call, vts / rtpengine (userspace): "
                f"{', '.join(f'{x:.2f}' for x in ratios)} (by level)"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
