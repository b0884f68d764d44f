"""SIP signalling benchmark: SIPp → B2BUA → SIPp uas, against SIPp → SIPp uas directly.

For each call rate of a rising ladder it places ``rate × seconds`` calls with SIPp (the
built-in uac flow, 180 timed as response time 1) on both paths back to back, so the
baseline is measured under the same machine conditions, and reports per rate: calls,
failed calls, median, mean and p99 INVITE→180 latency. The highest rate held with under
0.1% failed calls is printed for both paths. The B2BUA runs alone in one process
(``server.py``, uvloop as ``vts-masking serve`` uses). One command:

    python bench/sip/run.py                       # default ladder
    python bench/sip/run.py --rates 100,300,500 --seconds 10 --loop asyncio
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
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.support.live import free_media_ports, free_port  # noqa: E402

SCENARIO = HERE / "uac_latency.xml"


@dataclass
class Step:
    rate: int
    calls: int
    failed: int
    latencies_ms: list[float]
    cpu_ms_per_call: float | None = None  # the B2BUA/service process's CPU, when known

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
    cpu = "" if step.cpu_ms_per_call is None else f", CPU {step.cpu_ms_per_call:.2f} ms/call"
    print(
        f"  {name:6s} {step.rate:5d} cps: {step.calls:6d} calls, {step.failed:5d} failed "
        f"({step.failure_ratio:.3%}), INVITE→180 median {step.median:.0f} ms, "
        f"mean {step.mean:.1f} ms, p99 {step.p99:.0f} ms{cpu}",
        flush=True,
    )


def ladder(
    targets: dict[str, int],
    rates: list[int],
    seconds: int,
    workdir: Path,
    scenario: Path = SCENARIO,
    cpu_pids: dict[str, int] | None = None,
) -> dict[str, list[Step]]:
    """Each rate on every path back to back (same machine conditions for the baseline),
    dropping a path from the ladder once it fails more than 0.1% of its calls. For a
    path in ``cpu_pids``, the CPU that process used per call (its trailing store writes
    included) is reported too: the figure that load on the machine moves least."""
    steps: dict[str, list[Step]] = {name: [] for name in targets}
    for rate in rates:
        live = [n for n in targets if not steps[n] or steps[n][-1].failure_ratio < 0.001]
        if not live:
            break
        for name in live:
            pid = (cpu_pids or {}).get(name)
            before = cpu_seconds(pid) if pid else 0.0
            step = run_uac(workdir, targets[name], rate, seconds, scenario)
            time.sleep(1.0)  # let the previous calls' transactions drain
            if pid:
                step.cpu_ms_per_call = 1000 * (cpu_seconds(pid) - before) / step.calls
            steps[name].append(step)
            report(name, step)
    return steps


def best(steps: list[Step]) -> Step | None:
    held = [s for s in steps if s.failure_ratio < 0.001]
    return held[-1] if held else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="50,100,200,300,400,500,600,800,1000")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    ap.add_argument(
        "--service",
        action="store_true",
        help="run the real call engine on a SQLite store (routing, records, events per call)",
    )
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-sip-") as tmp:
        workdir = Path(tmp)
        uas_port = free_port()
        uas = start_uas(workdir, uas_port)
        b2bua_port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "server.py"),
                "--listen",
                f"127.0.0.1:{b2bua_port}",
                "--trunk",
                f"127.0.0.1:{uas_port}",
                "--loop",
                args.loop,
                *(["--service"] if args.service else []),
            ],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert server.stdout is not None
            server.stdout.readline()  # "ready PORT"
            print(
                f"SIP benchmark: {args.seconds} s per step, loop={args.loop}, {os.cpu_count()} CPUs"
            )
            print("direct = SIPp uac → SIPp uas (baseline); b2bua = SIPp uac → B2BUA → SIPp uas")
            scenario = SCENARIO
            if args.service:  # calls come from the session's first party
                scenario = workdir / "uac_party.xml"
                scenario.write_text(SCENARIO.read_text().replace("sip:sipp@", "sip:+14155550001@"))
            steps = ladder(
                {"direct": uas_port, "b2bua": b2bua_port},
                rates,
                args.seconds,
                workdir,
                scenario,
                cpu_pids={"b2bua": server.pid},
            )
            base, through = steps["direct"], steps["b2bua"]
        finally:
            server.terminate()
            server.wait(10)
            uas.terminate()
            uas.wait(10)
    b, t = best(base), best(through)
    print("summary (SIPp times in whole milliseconds; latency at the highest rate held):")
    for name, step in (("direct", b), ("b2bua", t)):
        if step is None:
            print(f"  {name:6s}: no rate held under 0.1% failed calls")
            continue
        print(
            f"  {name:6s}: highest rate held {step.rate} cps; INVITE→180 median "
            f"{step.median:.0f} ms, mean {step.mean:.1f} ms, p99 {step.p99:.0f} ms"
        )
    if b and t:
        extra = t.mean - b.mean
        print(
            f"  b2bua/direct: rate ratio {t.rate / b.rate:.2f}; "
            f"the B2BUA adds {extra:.1f} ms mean INVITE→180"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
