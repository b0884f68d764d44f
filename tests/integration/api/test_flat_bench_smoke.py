"""The flat-cost benchmark (bench/flat/run.py) still runs at a tiny scale: it must not rot
unnoticed. No timing is asserted, only that it seeds, measures and prints its table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench" / "flat" / "run.py"


def test_flat_bench_runs_a_tiny_scale_and_prints_its_table(tmp_path: Path) -> None:
    backends = "sqlite,postgres" if PG_URL else "sqlite"
    out = tmp_path / "flat.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--scale",
            "0.0005",
            "--ops",
            "20",
            "--repeat",
            "1",
            "--backends",
            backends,
            "--json",
            str(out),
            *(["--pg-url", PG_URL] if PG_URL else []),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "store hot paths, empty vs big store" in proc.stdout
    rows = json.loads(out.read_text())
    assert {(r["backend"], r["op"]) for r in rows} == {
        (b, op) for b in backends.split(",") for op in ("create", "get", "route", "deliver", "prune")
    }
    assert all(r["outbox"] == 5000 and r["big_p50"] > 0 and r["empty_p50"] > 0 for r in rows)
