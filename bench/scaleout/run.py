"""bench/scaleout: masked calls/s and sessions created/s with one node vs two nodes.

One command (``flock /tmp/bench.lock python bench/scaleout/run.py``): two
``vts-masking serve`` nodes (127.0.0.2 and 127.0.0.3) on one PostgreSQL schema of their
own, a SIPp ``uas`` as the trunk, and two Kamailio fronts running
``deploy/kamailio/kamailio.cfg``: one dispatching to node A only, one to both. Then, in
alternating rounds so both configurations meet the same machine conditions:

* **calls/s** — SIPp places ``--calls`` masked calls through a front, closed loop:
  ``--concurrency`` calls open at once, each held ``--hold-ms``, the next one started as
  one ends; calls/s is completed calls over the run's wall time;
* **sessions/s** — ``--threads`` HTTP clients create ``--sessions`` sessions, on node A
  only or taking turns over A and B.

Prints each round and a table of medians with the two-node / one-node ratio. The machine
is shared (2 cores for the nodes, PostgreSQL, Kamailio and SIPp alike): read the ratio,
not the absolute figures. Needs sipp, kamailio and a PostgreSQL
(``--database-url``, default the test server's ``test`` database).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.kamailio import Dispatcher  # noqa: E402
from tests.support.scaleout import Cluster, RoundRobin, SippLoad, pg_database  # noqa: E402

METRICS = (
    "calls/s",
    "busiest node CPU ms/call",
    "machine CPU busy %",
    "sessions/s",
    "failed calls",
)
DEFAULT_DB = os.environ.get(
    "VTS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class Meter:
    """CPU each node and the whole machine spent between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def start(self) -> None:
        self.before = {n: cpu_seconds(p) for n, p in self.pids.items()}
        self.ticks = machine_ticks()

    def stop(self) -> tuple[dict[str, float], float]:
        used = {n: cpu_seconds(p) - self.before[n] for n, p in self.pids.items()}
        busy, total = machine_ticks()
        share = (busy - self.ticks[0]) / max(1, total - self.ticks[1])
        return used, share


def party(n: int, area: int = 415) -> str:
    """The ``n``-th distinct valid US number of ``area`` (exchanges 200–999)."""
    return f"+1{area}{200 + n // 10000:03d}{n % 10000:04d}"


def sessions_per_second(rr: RoundRobin, nodes: list, count: int, threads: int, base: int) -> float:
    """``count`` session creates from ``threads`` clients, turning over ``nodes``."""
    turn = itertools.count()
    lock = threading.Lock()

    def create(i: int) -> int:
        with lock:
            node = nodes[next(turn) % len(nodes)]
        r = rr.post(
            "Masking/Session/",
            node=node,
            json={"first_party": party(base + i), "second_party": party(base + i, 212)},
        )
        return r.status_code

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        codes = list(pool.map(create, range(count)))
    seconds = time.monotonic() - started
    bad = [c for c in codes if c != 201]
    if bad:
        raise SystemExit(f"{len(bad)} creates failed: {sorted(set(bad))}")
    return count / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--calls", type=int, default=400, help="calls per measurement")
    ap.add_argument("--concurrency", type=int, default=30, help="calls open at once")
    ap.add_argument("--hold-ms", type=int, default=100)
    ap.add_argument("--sessions", type=int, default=300, help="creates per measurement")
    ap.add_argument("--threads", type=int, default=8, help="HTTP clients creating sessions")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pool-size", type=int, default=8, help="VTS_DB_POOL_SIZE of each node")
    args = ap.parse_args()
    for tool in ("sipp", "kamailio"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} not found", file=sys.stderr)
            return 2

    results: dict[str, dict[str, list[float]]] = {
        name: {metric: [] for metric in METRICS} for name in ("1 node", "2 nodes")
    }
    schema = pg_database(args.database_url)
    db_url = next(schema)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
            workdir = Path(tmp)
            # Connections enough for the load, few enough for a shared server.
            env = {"VTS_DB_POOL_SIZE": str(args.pool_size)}
            with Cluster(db_url, workdir, count=2, env=env) as c:
                node_a, node_b = c.nodes
                assert c.dispatcher is not None  # the cluster's own: both nodes
                one = Dispatcher(workdir, [(node_a.host, node_a.sip_port)], name="front-1")
                one.start()
                fronts = {"1 node": one, "2 nodes": c.dispatcher}
                try:
                    account = c.account("bench")
                    rr = c.round_robin(account)
                    pool = [f"+1220555{n:04d}" for n in range(50)]
                    assert rr.post("Number/", json={"numbers": ",".join(pool)}).status_code == 201
                    # the callers: sessions made once, used by every call round
                    pairs = []
                    for i in range(args.concurrency * 2):
                        r = rr.post(
                            "Masking/Session/",
                            json={"first_party": party(i), "second_party": party(i, 212)},
                        )
                        s = r.json()["session"]
                        pairs.append((s["first_party"], s["virtual_number"]))
                    print(
                        f"scale-out benchmark: {args.calls} calls ({args.concurrency} open, "
                        f"{args.hold_ms} ms each) and {args.sessions} session creates "
                        f"({args.threads} clients) per measurement, {args.rounds} rounds, "
                        f"{os.cpu_count()} CPUs",
                        flush=True,
                    )
                    base = 1_000
                    for round_ in range(args.rounds):
                        for name, front in fronts.items():
                            load = SippLoad(
                                workdir,
                                front.addr,
                                pairs,
                                args.calls,
                                rate=10_000,  # closed loop: the open-call limit paces it
                                hold_ms=args.hold_ms,
                                limit=args.concurrency,
                                name=f"r{round_}-{name.replace(' ', '')}",
                            )
                            assert node_a.proc.proc and node_b.proc.proc
                            meter = Meter(
                                {"A": node_a.proc.proc.pid, "B": node_b.proc.proc.pid}
                            )
                            meter.start()
                            res = load.run()
                            used, busy = meter.stop()
                            if res.failed:
                                print(res.errors[-1500:], flush=True)
                            nodes = [node_a] if name == "1 node" else [node_a, node_b]
                            sps = sessions_per_second(
                                rr, nodes, args.sessions, args.threads, base
                            )
                            base += args.sessions
                            results[name]["calls/s"].append(res.rate)
                            results[name]["failed calls"].append(res.failed)
                            per_call = 1000 * max(used.values()) / max(1, res.successful)
                            results[name]["busiest node CPU ms/call"].append(per_call)
                            results[name]["machine CPU busy %"].append(100 * busy)
                            results[name]["sessions/s"].append(sps)
                            print(
                                f"  round {round_ + 1} {name:7s}: {res.rate:6.1f} calls/s "
                                f"({res.successful} completed, {res.failed} failed, "
                                f"{res.seconds:.1f} s, node CPU A {used['A']:.1f} s "
                                f"B {used['B']:.1f} s, machine {100 * busy:.0f}% busy); "
                                f"{sps:6.1f} sessions/s",
                                flush=True,
                            )
                            time.sleep(1.0)  # let the last calls' writes drain
                finally:
                    one.stop()
    finally:
        next(schema, None)

    print("\nmedians (two-node / one-node ratio):")
    print(f"  {'':26s} {'1 node':>10s} {'2 nodes':>10s} {'ratio':>7s}")
    for metric in METRICS:
        one = statistics.median(results["1 node"][metric])
        two = statistics.median(results["2 nodes"][metric])
        ratio = f"{two / one:7.2f}" if one and metric != "failed calls" else f"{'':7s}"
        print(f"  {metric:26s} {one:10.1f} {two:10.1f} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
