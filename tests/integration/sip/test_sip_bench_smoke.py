"""The SIP benchmark still runs (two tiny steps): bare B2BUA and ``vts-masking serve``
side by side, with the summary issue 15's targets are read from. It must not rot
unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench" / "sip" / "run.py"


def test_sip_bench_runs_bare_and_service_and_prints_the_summary() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--rates",
            "20",
            "--seconds",
            "1",
            "--check-rate",
            "20",
            "--check-seconds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "bare    : highest rate with 0 failed 20 cps" in out, out
    assert "service : highest rate with 0 failed 20 cps" in out, out
    assert "service/bare rate ratio 1.00" in out, out
    assert "service at 20 cps for 1 s: 0 of 20 failed" in out, out
