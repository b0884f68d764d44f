"""bench/events/attempt_log.py: what keeping every delivery attempt costs the worker's
``record`` (the ``delivery_attempts`` insert the console reads), beside the same
``record`` without the log, in the same run.

    python bench/events/attempt_log.py [--events 4000] [--batch 200] [--repeat 5]

For each store (SQLite in a temporary folder; PostgreSQL too when
``VTS_TEST_DATABASE_URL`` names one): ``--events`` due events are written (as
bench/events/run.py writes them), claimed in batches of ``--batch`` under a lease, and
their outcomes (delivered) recorded; once with each outcome carrying its attempt log and
once without (``Outcome.log = None``), alternating, ``--repeat`` times. Printed: the
median milliseconds per recorded batch of each, and their ratio. Only the store's work is
timed (no HTTP), so the ratio is the whole of the log's cost to a batch's bookkeeping.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.events.run import reset, seed  # noqa: E402
from sqlalchemy import delete, update  # noqa: E402

from vts_masking.domain.delivery import Decision  # noqa: E402
from vts_masking.store import Store  # noqa: E402
from vts_masking.store.deliveries import AttemptLog, OutboxRepo, Outcome  # noqa: E402
from vts_masking.store.models import delivery_attempts, outbox  # noqa: E402


def one_pass(store: Store, repo: OutboxRepo, events: int, batch: int, log: bool) -> float:
    """Claim and record every pending event; returns ms per recorded batch."""
    spent, batches = 0.0, 0
    while True:
        claimed = repo.claim(batch, lease=60.0)
        if not claimed:
            break
        now = store.clock.now()
        outcomes = [
            Outcome(
                c.id,
                c.lease_until,
                Decision("delivered"),
                200,
                None,
                AttemptLog(c.account_id, c.attempts, now, 3, "ok") if log else None,
            )
            for c in claimed
        ]
        started = time.perf_counter()
        repo.record(outcomes)
        spent += time.perf_counter() - started
        batches += 1
    # back to pending for the next pass, the log emptied
    with store.db.write() as conn:
        conn.execute(delete(delivery_attempts))
        conn.execute(
            update(outbox).values(status="pending", attempts=0, delivered_time=None)
        )
    return 1000 * spent / max(1, batches)


def bench(url: str, label: str, events: int, batch: int, repeat: int) -> None:
    store = Store(url, pool_size=4)
    store.migrate()
    reset(store)
    seed(store, "http://127.0.0.1:9/cb", events)
    repo = OutboxRepo(store.db)
    with_log, without = [], []
    for _ in range(repeat):
        without.append(one_pass(store, repo, events, batch, log=False))
        with_log.append(one_pass(store, repo, events, batch, log=True))
    store.close()
    a, b = statistics.median(without), statistics.median(with_log)
    print(f"{label}: ms per recorded batch of {batch}, median of {repeat}")
    runs_a = ", ".join(f"{x:.1f}" for x in without)
    runs_b = ", ".join(f"{x:.1f}" for x in with_log)
    print(f"  record, no attempt log   {a:7.2f} ms   (runs {runs_a})")
    print(f"  record + attempt log     {b:7.2f} ms   (runs {runs_b})")
    print(f"  with log / without       {b / a:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.sqlite3", "SQLite", args.events, args.batch, args.repeat)
    pg = os.environ.get("VTS_TEST_DATABASE_URL")
    if pg:
        from tests.conftest import drop_pg_schema, pg_schema_url

        url, schema = pg_schema_url(pg)
        try:
            bench(url, "PostgreSQL", args.events, args.batch, args.repeat)
        finally:
            drop_pg_schema(pg, schema)


if __name__ == "__main__":
    main()
