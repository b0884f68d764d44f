"""The media benchmark still runs (tiny load, no rtpengine): it must not rot unnoticed."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "media" / "run.py"


def test_bench_runs_a_tiny_level_and_reports_json(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--levels",
            "4",
            "--seconds",
            "0.5",
            "--warmup",
            "0.2",
            "--systems",
            "direct,vts",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["system"]: r for r in json.loads(out.read_text())}
    assert rows["vts"]["sent"] > 0 and rows["vts"]["loss_pct"] < 5
    assert "cpu_pct_per_call" in rows["vts"]
