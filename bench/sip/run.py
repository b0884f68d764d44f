"""SIP signalling benchmark: masked calls through ``vts-masking serve`` against the bare
B2BUA, measured in the same run.

Paths, each SIPp uac → X → one SIPp uas:

- ``bare``: the B2BUA alone in one process (``server.py``: uvloop, a dictionary router);
- ``service``: the whole service, ``vts-masking serve`` on a SQLite store holding one
  session: routing from the store, Call records, interaction, totals and session events
  written per call, the outbox worker running, two RTP relay port pairs per call;
- ``direct`` (``--direct``): SIPp → SIPp uas, the floor;
- ``NAME=SRC`` (``--also``): another ``serve`` run from the source tree SRC (a checkout of
  an earlier commit, say), to measure a change against the code without it.

For each rate of a rising ladder every live path places ``rate × seconds`` calls with
SIPp (the built-in uac flow, 180 timed as response time 1), back to back, so all are
measured under the same machine conditions; a path leaves the ladder at its first failed
call. Then ``--check-rate`` calls/s for ``--check-seconds`` on every path. The summary
gives the service/bare ratio twice: by the highest rate with no failed call (issue 15's
definition), and by the highest rate that also kept INVITE→180's p99 under
``--setup-p99-ms`` (1 s) — SIPp waits 8 s for an answer, so a saturated path can fail
no call while its calls take seconds to ring. Per step:
calls, failed calls, INVITE→180 median/mean/p99, and the server process's CPU per call
(utime+stime from /proc over the step and the second after it, trailing writes
included). The summary prints each path's highest rate with no failed call, the
service/bare ratio, the failures of the check step and the CPU per call against the
targets of issue 15. One command:

    python bench/sip/run.py                                  # default ladder + check
    python bench/sip/run.py --rates 100,300 --seconds 3 --check-seconds 3
    python bench/sip/run.py --also before=/tmp/vts-before/src
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.support.live import free_media_ports, free_port, wait_healthy  # noqa: E402

SCENARIO = HERE / "uac_latency.xml"


@dataclass
class Step:
    rate: int
    calls: int
    failed: int
    latencies_ms: list[float]
    cpu_ms_per_call: float | None = None  # the B2BUA/service process's CPU, when known
    full_gcs: int | None = None  # full garbage collections during the step, when known

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.calls if self.calls else 1.0

    @property
    def median(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        lat = sorted(self.latencies_ms)
        return lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")


VIRTUAL, CALLER, CALLEE = "+12205550001", "+14155550001", "+12125550002"
ROOT = HERE.parents[1]


def seed_store(data_dir: Path, src: Path) -> None:
    """One account, VIRTUAL, and the session (CALLER, CALLEE) on it — written by the code
    of ``src`` (its migrations), in a child process so two trees never meet in one."""
    code = f"""
from vts_masking.domain.session_params import parse_create
from vts_masking.store import Principal, Store
store = Store("sqlite:///{data_dir}/vts.sqlite3")
store.migrate()
account = store.accounts.create("bench")
main = store.accounts.by_auth_id(account.auth_id)
store.numbers.add(main, ["{VIRTUAL}"])
params = parse_create(
    {{"first_party": "{CALLER}", "second_party": "{CALLEE}", "session_expiry": 86400}}
)
store.sessions.create(Principal(main, main, None), params, lambda view: view)
store.close()
"""
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(src)}
    )


def start_serve(
    workdir: Path, name: str, src: Path, trunk: int
) -> tuple[subprocess.Popen[bytes], int, int]:
    """``vts-masking serve`` from the source tree ``src`` on a fresh seeded SQLite store;
    returns the process, its SIP port and its HTTP port once its HTTP API answers
    /health."""
    data = workdir / f"data-{name}"
    data.mkdir()
    seed_store(data, src)
    sip, http = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vts_masking.cli",
            "serve",
            "--sip-listen",
            f"127.0.0.1:{sip}",
            "--sip-trunk",
            f"127.0.0.1:{trunk}",
            "--port",
            str(http),
            "--data-dir",
            str(data),
            "--log-level",
            "warning",
        ],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(src)},
        stderr=(workdir / f"{name}.log").open("wb"),  # overload warnings stay out of the table
    )
    wait_healthy(f"http://127.0.0.1:{http}", proc=proc)
    return proc, sip, http


def full_collections(http: int) -> int | None:
    """How many full garbage collections (generation 2) the serve on ``http`` has made,
    from its /metrics; None when it does not say (an older tree)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5) as r:
            page = r.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == "python_gc_collections_total" and sample.labels == {
                "generation": "2"
            }:
                return int(sample.value)
    return None


def start_bare(loop: str, trunk: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "server.py"),
            "--listen",
            f"127.0.0.1:{port}",
            "--trunk",
            f"127.0.0.1:{trunk}",
            "--loop",
            loop,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # overload warnings stay out of the table
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready PORT"
    return proc, port


def start_uas(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "sipp",
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(free_media_ports()),
            "-nostdin",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_uac(workdir: Path, target: int, rate: int, seconds: int, scenario: Path = SCENARIO) -> Step:
    calls = rate * seconds
    tag = f"uac_{target}_{rate}"
    stat_file = workdir / f"{tag}_stat.csv"
    cmd = [
        "sipp",
        "-sf",
        str(scenario),
        "-s",
        "+12205550001",
        f"127.0.0.1:{target}",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mp",
        str(free_media_ports()),
        "-r",
        str(rate),
        "-m",
        str(calls),
        "-l",
        str(max(rate * 4, 100)),
        "-nostdin",
        "-timeout",
        f"{seconds + 40}s",
        "-recv_timeout",
        "8000",
        "-max_socket",
        "10000",
        "-trace_stat",
        "-stf",
        str(stat_file),
        "-fd",
        "1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
    ]
    subprocess.run(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    successful = failed = 0
    if stat_file.exists():
        rows = list(csv.DictReader(stat_file.open(), delimiter=";"))
        if rows:
            last = rows[-1]
            successful = int(last.get("SuccessfulCall(C)", 0) or 0)
            failed = int(last.get("FailedCall(C)", 0) or 0)
    failed = max(failed, calls - successful)  # calls never completed count as failed
    latencies: list[float] = []
    for rtt in workdir.glob("*_rtt.csv"):
        with rtt.open() as fh:
            for row in csv.reader(fh, delimiter=";"):
                if len(row) >= 2:
                    with contextlib.suppress(ValueError):
                        latencies.append(float(row[1]))
        rtt.unlink()
    return Step(rate, calls, failed, latencies)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(name: str, step: Step) -> None:
    extra = "" if step.cpu_ms_per_call is None else f", CPU {step.cpu_ms_per_call:.2f} ms/call"
    if step.full_gcs is not None:
        extra += f", {step.full_gcs} full GC"
    print(
        f"  {name:8s} {step.rate:5d} cps: {step.calls:6d} calls, {step.failed:5d} failed "
        f"({step.failure_ratio:.3%}), INVITE→180 median {step.median:.0f} ms, "
        f"mean {step.mean:.1f} ms, p99 {step.p99:.0f} ms{extra}",
        flush=True,
    )


def ladder(
    targets: dict[str, int],
    rates: list[int],
    seconds: int,
    workdir: Path,
    scenario: Path = SCENARIO,
    cpu_pids: dict[str, int] | None = None,
    http_ports: dict[str, int] | None = None,
) -> dict[str, list[Step]]:
    """Each rate on every path back to back (same machine conditions for the baseline),
    dropping a path from the ladder at its first failed call. For a
    path in ``cpu_pids``, the CPU that process used per call (its trailing store writes
    included) is reported too: the figure that load on the machine moves least."""
    steps: dict[str, list[Step]] = {name: [] for name in targets}
    for rate in rates:
        live = [n for n in targets if not steps[n] or steps[n][-1].failed == 0]
        if not live:
            break
        for name in live:
            pid = (cpu_pids or {}).get(name)
            http = (http_ports or {}).get(name)
            gcs = full_collections(http) if http else None  # before the CPU window opens
            before = cpu_seconds(pid) if pid else 0.0
            step = run_uac(workdir, targets[name], rate, seconds, scenario)
            time.sleep(1.0)  # let the previous calls' transactions drain
            if pid:
                step.cpu_ms_per_call = 1000 * (cpu_seconds(pid) - before) / step.calls
            if http and gcs is not None:
                after = full_collections(http)
                step.full_gcs = None if after is None else after - gcs
            steps[name].append(step)
            report(name, step)
    return steps


def best(steps: list[Step], p99_ms: float | None = None) -> Step | None:
    """The highest rate held with no failed call (and, given ``p99_ms``, INVITE→180's
    p99 under it: a rate where every call completes but setup takes seconds is one the
    path no longer keeps up with)."""
    held = [s for s in steps if s.failed == 0 and (p99_ms is None or s.p99 < p99_ms)]
    return held[-1] if held else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="100,200,300,400,500,600,700,800,1000")
    ap.add_argument("--seconds", type=int, default=5, help="seconds per ladder step")
    ap.add_argument("--check-rate", type=int, default=300)
    ap.add_argument("--check-seconds", type=int, default=10)
    ap.add_argument(
        "--setup-p99-ms",
        type=float,
        default=1000.0,
        help="the second summary's bound on INVITE→180 p99 for a rate to count as kept up",
    )
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    ap.add_argument("--direct", action="store_true", help="SIPp → SIPp uas too (the floor)")
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=SRC",
        help="one more serve, from the source tree SRC (e.g. an earlier commit's src/)",
    )
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")]
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sip-") as tmp:
        workdir = Path(tmp)
        uas_port = free_port()
        procs.append(start_uas(workdir, uas_port))
        try:
            targets: dict[str, int] = {}
            pids: dict[str, int] = {}
            https: dict[str, int] = {}
            if args.direct:
                targets["direct"] = uas_port
            bare, targets["bare"] = start_bare(args.loop, uas_port)
            procs.append(bare)
            pids["bare"] = bare.pid
            services = [("service", ROOT / "src")]
            services += [
                (n, Path(s).resolve()) for n, _, s in (a.partition("=") for a in args.also)
            ]
            for name, src in services:
                proc, targets[name], https[name] = start_serve(workdir, name, src, uas_port)
                procs.append(proc)
                pids[name] = proc.pid
            # calls come from the session's first party
            scenario = workdir / "uac_party.xml"
            scenario.write_text(SCENARIO.read_text().replace("sip:sipp@", f"sip:{CALLER}@"))
            print(
                f"SIP benchmark {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
                f"{args.seconds} s per step, loop={args.loop}, {os.cpu_count()} CPUs, "
                f"load {os.getloadavg()[0]:.1f}"
            )
            print("bare = the B2BUA alone (server.py); service = vts-masking serve (SQLite)")
            for port in targets.values():  # warm up: the first calls compile statements
                run_uac(workdir, port, 20, 1, scenario)
            steps = ladder(targets, rates, args.seconds, workdir, scenario, pids, https)
            print(f"check: {args.check_rate} cps for {args.check_seconds} s")
            checks = ladder(
                targets, [args.check_rate], args.check_seconds, workdir, scenario, pids, https
            )
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(15)
    print("summary (SIPp times in whole milliseconds):")
    held: dict[str, Step | None] = {}
    for name in targets:
        step = held[name] = best(steps[name])
        if step is None:
            print(f"  {name:8s}: no rate held without a failed call")
            continue
        cpu = [s.cpu_ms_per_call for s in steps[name] if s.cpu_ms_per_call is not None]
        cpu_text = f"; CPU {statistics.median(cpu):.2f} ms/call (median of steps)" if cpu else ""
        print(
            f"  {name:8s}: highest rate with 0 failed {step.rate} cps; INVITE→180 there "
            f"median {step.median:.0f} ms, p99 {step.p99:.0f} ms{cpu_text}"
        )
    bare_best = held.get("bare")
    bound = args.setup_p99_ms
    kept_bare = best(steps.get("bare", []), bound)
    for name, _src in services:
        mine = held.get(name)
        if bare_best and mine:
            ratio = mine.rate / bare_best.rate
            verdict = "holds" if ratio >= 0.6 else "misses"
            print(f"  {name}/bare rate ratio {ratio:.2f} (target ≥ 0.60: {verdict})")
        kept = best(steps[name], bound)
        if kept_bare:
            rate = kept.rate if kept else 0
            print(
                f"  {name}/bare with INVITE→180 p99 < {bound:.0f} ms too: {rate} of "
                f"{kept_bare.rate} cps, {rate / kept_bare.rate:.2f}"
            )
        check = checks[name][0]
        verdict = "holds" if check.failure_ratio < 0.001 else "misses"
        cpu = check.cpu_ms_per_call or float("nan")
        print(
            f"  {name} at {check.rate} cps for {args.check_seconds} s: {check.failed} of "
            f"{check.calls} failed ({check.failure_ratio:.2%}; target < 0.1%: {verdict}); "
            f"CPU {cpu:.2f} ms/call (target ≤ 2 ms: {'holds' if cpu <= 2 else 'misses'})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
