"""bench/api/run.py runs and prints its table, with both same-run baselines (tiny run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (Debian package wrk)")
def test_the_api_bench_prints_ops_beside_health_and_bare_fastapi() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "api" / "run.py"),
            "--seconds",
            "1",
            "--repeat",
            "1",
            "--connections",
            "2",
            "--backends",
            "sqlite",
            "--skip-big",
            "--ops",
            "get",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "bare FastAPI" in out.stdout
    assert "/health" in out.stdout
    assert "get ÷ /health ≥ 0.6" in out.stdout
