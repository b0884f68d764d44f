"""bench/sip/routing.py: the routing decision of an inbound call, on a big store.

The SIP edge asks the store "which session does (virtual number, caller) name?" for every
INVITE (``CallLog.route``). This measures that lookup's latency on SQLite and PostgreSQL
with a pool of ``--numbers`` virtual numbers and ``--sessions`` active sessions, beside a
baseline measured in the same run: the same connection pool answering ``SELECT 1``.
Prints p50/p99 in milliseconds and the ratio to the baseline. Target: p99 under 2 ms.

    python bench/sip/routing.py [--numbers 100000] [--sessions 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "api"))

from run import seed  # noqa: E402  (bench/api/run.py: bulk-loads numbers and sessions)
from tests.conftest import drop_pg_schema, pg_schema_url  # noqa: E402

from vts_masking.domain.billing import RateTable  # noqa: E402
from vts_masking.store import Store  # noqa: E402
from vts_masking.store.calllog import CallLog  # noqa: E402
from vts_masking.store.models import numbers, sessions  # noqa: E402

console = Console()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def measure(url: str, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    store = Store(url, pool_size=2)
    store.migrate()
    account = store.accounts.create("bench")
    main = store.accounts.by_auth_id(account.auth_id)
    console.print(
        f"seeding {args.numbers:,} numbers, {args.sessions:,} sessions"
        f" ({store.engine.dialect.name})"
    )
    seed(store, main.id, args.numbers, args.sessions)
    with store.db.read() as conn:
        rows = conn.execute(
            select(numbers.c.number, sessions.c.first_party)
            .join(sessions, sessions.c.number_id == numbers.c.id)
            .limit(20_000)
        ).all()
    calllog = CallLog(store.db, RateTable())
    rng = random.Random(3)
    probes = [rng.choice(rows) for _ in range(args.lookups)]
    # Half the calls come from strangers (refused after the same lookups).
    strangers = [(p[0], "+13125550199") for p in probes[: args.lookups // 2]]

    def timed(fn) -> list[float]:  # type: ignore[no-untyped-def]
        out = []
        for _ in range(args.lookups):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000)
        return out

    it = iter(probes * 2)
    found = timed(lambda: calllog.route(*next(it)))
    st = iter(strangers * 4)
    refused = timed(lambda: calllog.route(*next(st)))

    def select_one() -> None:
        with store.db.read() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()

    baseline = timed(select_one)
    decision = calllog.route(*probes[0])
    assert decision.kind == "bridge", decision
    store.close()
    return {
        "baseline SELECT 1": percentiles(baseline),
        "route: a party calls": percentiles(found),
        "route: a stranger calls": percentiles(refused),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "VTS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    table = Table(title="routing decision latency (ms), same run")
    for col in ("backend", "lookup", "p50", "p99", "p99 / baseline p99"):
        table.add_column(col)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            schema = None
            if backend == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'routing.sqlite3'}"
            else:
                url, schema = pg_schema_url(args.pg_url)
            try:
                res = measure(url, args)
            finally:
                if schema:
                    drop_pg_schema(args.pg_url, schema)
            base = res["baseline SELECT 1"][1]
            for name, (p50, p99) in res.items():
                table.add_row(backend, name, f"{p50:.3f}", f"{p99:.3f}", f"{p99 / base:.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
