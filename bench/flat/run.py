"""bench/flat: the store's hot paths cost the same on an empty store and on a big one.

One command (``python bench/flat/run.py``). For each backend it builds two stores side by
side and measures, in the same run, their calls interleaved one by one:

* **create** — ``SessionRepo.create``: allocation of a number, the session, its
  bindings and its ``SessionCreated`` event, one transaction (what ``POST .../Session/``
  does below HTTP);
* **get** — ``SessionRepo.get`` of a random session (``GET .../Session/{uuid}/``);
* **route** — ``CallLog.route(virtual number, caller)``: the lookup the SIP edge makes
  for every INVITE to a virtual number (bench/sip/routing.py, docs/calls.md);
* **deliver** — ``OutboxRepo.claim`` of up to 10 due events plus ``record`` of them as
  delivered, with their attempt log (one cycle of the delivery worker);
* **prune** — one retention batch: ``RetentionRepo.prune_events`` deleting 1,000
  delivered events 40 days old (written just before, in both stores) among all the rows
  the store keeps (docs/operations.md#retention).

The *empty* store has the tenant, a pool of ``--pool`` numbers and nothing else. The
*big* one has, for the same tenant, ``100,000 × scale`` numbers, ``1,000,000 × scale``
active sessions (with their bindings) and ``10,000,000 × scale`` delivered outbox rows
(ten per session, spread over the last 29 days, as a 30-day event retention keeps
them), bulk-loaded with the secondary indexes dropped and rebuilt after: executemany
with ``synchronous=OFF`` on SQLite, ``COPY`` on PostgreSQL. SQLite is measured without
``ANALYZE`` (the service never runs it); PostgreSQL after ``VACUUM ANALYZE``
(autovacuum would have).

Each repeat measures every operation ``--ops`` times on each store; the table shows
the median over ``--repeat`` repeats of p50 and p99 (ms) and the ratios big/empty.
Target: every ratio ≤ 1.5. The machine is shared and noisy: read ratios.

    python bench/flat/run.py [--scale 1.0] [--backends sqlite,postgres] [--ops 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Table as SATable
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import drop_pg_schema, pg_schema_url  # noqa: E402

from vts_masking.domain import events  # noqa: E402
from vts_masking.domain.billing import RateTable  # noqa: E402
from vts_masking.domain.delivery import Decision  # noqa: E402
from vts_masking.domain.session_params import parse_create  # noqa: E402
from vts_masking.store import Principal, Store  # noqa: E402
from vts_masking.store.calllog import CallLog  # noqa: E402
from vts_masking.store.deliveries import AttemptLog, OutboxRepo, Outcome  # noqa: E402
from vts_masking.store.models import bindings, numbers, outbox, sessions  # noqa: E402
from vts_masking.store.sessions import STORED_PARAMS  # noqa: E402

console = Console(stderr=True)
out = Console()
AREAS = ["212", "213", "312", "415", "617", "646", "702", "713", "718", "805"]
CALLBACK = "https://93.184.216.34/events"  # a literal public address: no DNS
EVENTS_PER_SESSION = 10
OPS = ("create", "get", "route", "deliver", "prune")
CLAIM = 10  # events one delivery cycle claims
PRUNE = 1000  # old events one retention batch deletes (the default batch)


def party(rng: random.Random) -> str:
    return f"+1{rng.choice(AREAS)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


# -- seeding ---------------------------------------------------------------------------


def _sql_time(dt: datetime, sqlite: bool) -> Any:
    # SQLAlchemy keeps SQLite DateTime as this exact text; compared as text, it must match.
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else dt


class Loader:
    """Bulk inserts into one table: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, store: Store) -> None:
        self.sqlite = store.engine.dialect.name == "sqlite"
        self.raw = store.engine.raw_connection()
        if self.sqlite:
            cur = self.raw.cursor()
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-262144")  # 256 MiB while seeding
            cur.execute("PRAGMA foreign_keys=OFF")
            cur.close()

    def load(self, table: SATable, cols: list[str], rows: Iterable[tuple]) -> None:
        cur = self.raw.cursor()
        if self.sqlite:
            sql = (
                f"INSERT INTO {table.name} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
            )
            batch: list[tuple] = []
            cur.execute("BEGIN")
            for row in rows:
                batch.append(row)
                if len(batch) >= 50_000:
                    cur.executemany(sql, batch)
                    batch.clear()
            if batch:
                cur.executemany(sql, batch)
            cur.execute("COMMIT")
        else:
            with cur.copy(f"COPY {table.name} ({','.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            self.raw.commit()
        cur.close()

    def close(self) -> None:
        if self.sqlite:
            cur = self.raw.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
        self.raw.close()


def seed_big(store: Store, account_id: int, scale: float, rng: random.Random) -> dict[str, int]:
    """The big store's rows for ``account_id``; returns how many of each were loaded."""
    n_numbers = max(1, int(100_000 * scale))
    n_sessions = max(1, int(1_000_000 * scale))
    sqlite = store.engine.dialect.name == "sqlite"
    now = store.clock.now()
    t = lambda dt: _sql_time(dt, sqlite)  # noqa: E731
    tables = (numbers, sessions, bindings, outbox)
    # Secondary indexes off while loading, rebuilt once after (a sort, not 10M inserts).
    with store.engine.begin() as conn:
        for table in tables:
            for index in table.indexes:
                index.drop(conn)
    loader = Loader(store)
    first_number = _next_id(store, numbers)
    first_session = _next_id(store, sessions)
    first_event = _next_id(store, outbox)

    def number_rows() -> Iterator[tuple]:
        for i in range(n_numbers):
            yield (
                first_number + i,
                f"+1{AREAS[i % 10]}{200 + (i // 10000) % 800}{i % 10000:04d}",
                account_id,
                account_id,
                "US",
                "local",
                "in_service",
                rng.random(),
                t(now),
                t(now),
            )

    started = time.perf_counter()
    loader.load(
        numbers,
        [
            "id",
            "number",
            "account_id",
            "pool_id",
            "country",
            "number_type",
            "state",
            "spread",
            "added_time",
            "modified_time",
        ],
        number_rows(),
    )
    expiry = now + timedelta(days=20)
    # The parameters a create through the API stores, so seeded rows are as wide as real
    # ones (a row's width decides how many fit a page, and so what stays in cache).
    parsed = parse_create(
        {"first_party": party(rng), "second_party": party(rng), "callback_url": CALLBACK}
    )
    params = json.dumps({**{n: getattr(parsed, n) for n in STORED_PARAMS}, "subaccount": None})
    parties: list[tuple[str, str]] = []

    def session_rows() -> Iterator[tuple]:
        for j in range(n_sessions):
            a, b = party(rng), party(rng)
            parties.append((a, b))
            created = now - timedelta(seconds=rng.randint(0, 29 * 86400))
            yield (
                first_session + j,
                str(uuid.uuid4()),
                account_id,
                first_number + j % n_numbers,
                f"+1{AREAS[(j % n_numbers) % 10]}{200 + ((j % n_numbers) // 10000) % 800}"
                f"{(j % n_numbers) % 10000:04d}",
                a,
                b,
                "active",
                0,
                t(created),
                t(created),
                t(expiry),
                1728000,
                params,
                0,
                0,
                0,
                0,
                EVENTS_PER_SESSION,
            )

    loader.load(
        sessions,
        [
            "id",
            "uuid",
            "account_id",
            "number_id",
            "virtual_number",
            "first_party",
            "second_party",
            "status",
            "active_calls",
            "created_time",
            "modified_time",
            "expiry_time",
            "duration",
            "params",
            "amount",
            "total_call_count",
            "total_call_amount",
            "total_call_billed_duration",
            "event_seq",
        ],
        session_rows(),
    )

    def binding_rows() -> Iterator[tuple]:
        seen: set[tuple[int, str]] = set()
        for j, (a, b) in enumerate(parties):
            nid = first_number + j % n_numbers
            for key in (a, b):
                if (nid, key) not in seen:  # a random party may repeat on a number
                    seen.add((nid, key))
                    yield (nid, key, first_session + j, t(expiry))

    loader.load(bindings, ["number_id", "key", "session_id", "blocked_until"], binding_rows())
    payload = json.dumps(  # what a call's event carries (docs/calls.md#events)
        events.base_params(
            event_name="SessionFirstPartyCallAnswer",
            timestamp=now,
            session_uuid=str(uuid.uuid4()),
            virtual_number="+12125550100",
            first_party=party(rng),
            second_party=party(rng),
            sequence=EVENTS_PER_SESSION,
            from_number=party(rng),
            to_number="+12125550100",
            call_uuid=str(uuid.uuid4()),
        )
    )

    def event_rows() -> Iterator[tuple]:
        eid = first_event
        for j in range(n_sessions):
            created = now - timedelta(seconds=rng.randint(3600, 29 * 86400))
            for seq in range(1, EVENTS_PER_SESSION + 1):
                yield (
                    eid,
                    account_id,
                    first_session + j,
                    seq,
                    "SessionCreated",
                    CALLBACK,
                    "POST",
                    payload,
                    "delivered",
                    1,
                    t(created),
                    t(created),
                    t(created + timedelta(seconds=1)),
                    200,
                )
                eid += 1

    loader.load(
        outbox,
        [
            "id",
            "account_id",
            "session_id",
            "seq",
            "event_name",
            "url",
            "method",
            "params",
            "status",
            "attempts",
            "next_attempt_at",
            "created_time",
            "delivered_time",
            "last_status",
        ],
        event_rows(),
    )
    loader.close()
    with store.engine.begin() as conn:
        for table in tables:
            for index in table.indexes:
                index.create(conn)
        if not sqlite:  # ids were given explicitly: move the sequences on
            for table in tables:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                    f" (SELECT max(id) FROM {table.name}))"
                )
    if not sqlite:
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    console.print(f"  seeded in {time.perf_counter() - started:.0f} s")
    return {
        "numbers": n_numbers,
        "sessions": n_sessions,
        "outbox": n_sessions * EVENTS_PER_SESSION,
    }


def _next_id(store: Store, table: SATable) -> int:
    with store.engine.connect() as conn:
        return (
            int(conn.execute(select(table.c.id).order_by(table.c.id.desc()).limit(1)).scalar() or 0)
            + 1
        )


# -- measuring -------------------------------------------------------------------------


@dataclass
class Target:
    """One store under measurement and the probes its reads use."""

    name: str
    store: Store
    principal: Principal
    rng: random.Random
    probes: list[tuple[str, str, str]] = field(default_factory=list)  # uuid, vn, party

    def __post_init__(self) -> None:
        self.calllog = CallLog(self.store.db, RateTable())
        self.outbox = OutboxRepo(self.store.db)

    def sample_probes(self, n: int) -> None:
        """Random existing sessions (their uuid, number and first party) to read."""
        with self.store.db.read() as conn:
            top = conn.execute(
                select(sessions.c.id).order_by(sessions.c.id.desc()).limit(1)
            ).scalar()
            ids = [self.rng.randint(1, int(top or 1)) for _ in range(n)]
            rows = conn.execute(
                select(sessions.c.uuid, numbers.c.number, sessions.c.first_party)
                .join(numbers, numbers.c.id == sessions.c.number_id)
                .where(sessions.c.id.in_(ids))
            ).all()
        self.probes = [tuple(r) for r in rows]  # type: ignore[misc]

    def create(self) -> None:
        raw = {
            "first_party": party(self.rng),
            "second_party": party(self.rng),
            "callback_url": CALLBACK,
        }
        status, _ = self.store.sessions.create(
            self.principal, parse_create(raw), render=lambda view: view
        )
        assert status == 201, status

    def get(self) -> None:
        self.store.sessions.get(self.principal, self.rng.choice(self.probes)[0])

    def route(self) -> None:
        _, vn, caller = self.rng.choice(self.probes)
        decision = self.calllog.route(vn, caller)
        assert decision.kind == "bridge", decision

    def deliver(self) -> None:
        claimed = self.outbox.claim(CLAIM, 60.0)
        assert claimed, "nothing due to deliver"
        now = self.store.clock.now()
        self.outbox.record(
            Outcome(
                c.id,
                c.lease_until,
                Decision("delivered"),
                200,
                None,
                AttemptLog(c.account_id, c.attempts, now, 3, "ok"),
            )
            for c in claimed
        )

    def add_old_events(self, n: int) -> None:
        """``n`` delivered events 40 days old, for retention batches to delete."""
        old = self.store.clock.now() - timedelta(days=40)
        account_id = self.principal.main.id
        rows = [
            {
                "account_id": account_id,
                "session_id": None,
                "seq": 1,
                "event_name": "SessionCreated",
                "url": CALLBACK,
                "method": "POST",
                "params": "{}",
                "status": "delivered",
                "attempts": 1,
                "next_attempt_at": old,
                "created_time": old,
                "delivered_time": old,
                "last_status": 200,
            }
            for _ in range(n)
        ]
        with self.store.engine.begin() as conn:
            conn.execute(outbox.insert(), rows)

    def prune(self) -> None:
        done = self.store.retention.prune_events(30, PRUNE)
        assert done == PRUNE, done


def timed_pair(a: Callable[[], None], b: Callable[[], None], n: int) -> tuple[tuple, tuple]:
    """(p50, p99) in ms of ``a`` and of ``b``, their calls interleaved one by one (in
    alternating order), so both meet the same moments of a noisy machine."""
    samples: tuple[list[float], list[float]] = ([], [])
    for i in range(n):
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            fn = (a, b)[k]
            t0 = time.perf_counter()
            fn()
            samples[k].append((time.perf_counter() - t0) * 1000)
    out = []
    for s in samples:
        s.sort()
        out.append((statistics.median(s), s[max(0, math.ceil(len(s) * 0.99) - 1)]))
    return out[0], out[1]


def make_target(name: str, url: str, args: argparse.Namespace, big: bool) -> tuple[Target, dict]:
    store = Store(url, pool_size=2)
    store.migrate()
    account = store.accounts.create(f"flat-{name}")
    main = store.accounts.by_auth_id(account.auth_id)
    assert main is not None
    rng = random.Random(7)
    seeded = {"numbers": 0, "sessions": 0, "outbox": 0}
    if big:
        console.print(f"[{name}] seeding the big store (scale {args.scale})")
        seeded = seed_big(store, main.id, args.scale, rng)
    store.numbers.add(main, [f"+1220{200 + i // 10000}{i % 10000:04d}" for i in range(args.pool)])
    target = Target(name, store, Principal(main, main, None), rng)
    return target, seeded


def measure(url_empty: str, url_big: str, args: argparse.Namespace) -> tuple[dict, dict]:
    empty, _ = make_target("empty", url_empty, args, big=False)
    big, seeded = make_target("big", url_big, args, big=True)
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}

    def one_round(ops: int) -> dict[tuple[str, str], tuple[float, float]]:
        got = {}
        for op in OPS:
            # Deliveries claim the events this round's creates wrote (one each).
            n = ops if op != "deliver" else max(1, ops // CLAIM)
            if op == "get":
                empty.sample_probes(500)
                big.sample_probes(500)
            if op == "prune":  # one retention batch of old delivered events
                n = max(2, ops // 50)
                empty.add_old_events(n * PRUNE)
                big.add_old_events(n * PRUNE)
            figures = timed_pair(getattr(empty, op), getattr(big, op), n)
            got[(op, "empty")], got[(op, "big")] = figures
        return got

    try:
        one_round(max(CLAIM, args.ops // 5))  # warm-up: caches, pools, statements
        for r in range(args.repeat):
            console.print(f"  repeat {r + 1}/{args.repeat}")
            for key, figures in one_round(args.ops).items():
                runs.setdefault(key, []).append(figures)
    finally:
        empty.store.close()
        big.store.close()
    result = {
        key: (statistics.median(p50 for p50, _ in v), statistics.median(p99 for _, p99 in v))
        for key, v in runs.items()
    }
    return result, seeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="of the target (100,000 numbers, 1,000,000 sessions, 10,000,000 events)",
    )
    parser.add_argument("--ops", type=int, default=1000, help="samples per op per repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pool", type=int, default=100, help="numbers both stores add")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "VTS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    table = Table(title=f"store hot paths, empty vs big store (ms), scale {args.scale}, same run")
    for col in ("backend", "op", "empty p50", "big p50", "p50 ×", "empty p99", "big p99", "p99 ×"):
        table.add_column(col)
    report: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            schemas: list[str] = []
            if backend == "sqlite":
                urls = [f"sqlite:///{Path(tmp) / f'{n}.sqlite3'}" for n in ("empty", "big")]
            else:
                urls = []
                for _ in range(2):
                    url, schema = pg_schema_url(args.pg_url)
                    urls.append(url)
                    schemas.append(schema)
            try:
                res, seeded = measure(urls[0], urls[1], args)
            finally:
                for schema in schemas:
                    drop_pg_schema(args.pg_url, schema)
            console.print(
                f"[{backend}] big store: " + ", ".join(f"{v:,} {k}" for k, v in seeded.items())
            )
            for op in OPS:
                (e50, e99), (b50, b99) = res[(op, "empty")], res[(op, "big")]
                table.add_row(
                    backend,
                    op,
                    f"{e50:.3f}",
                    f"{b50:.3f}",
                    f"{b50 / e50:.2f}",
                    f"{e99:.3f}",
                    f"{b99:.3f}",
                    f"{b99 / e99:.2f}",
                )
                report.append(
                    {
                        "backend": backend,
                        "op": op,
                        "scale": args.scale,
                        **seeded,
                        "empty_p50": e50,
                        "big_p50": b50,
                        "empty_p99": e99,
                        "big_p99": b99,
                    }
                )
    out.print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
