"""bench/api: the HTTP API under load, beside a trivial endpoint of the same stack.

One command (``python bench/api/run.py``): for SQLite and PostgreSQL, start
``vts-masking serve`` as its own process, load it from wrk (a separate process, over
loopback) and print requests/s and p50/p99 latency for create / get / update / list,
beside ``GET /health`` — the same server stack answering a trivial JSON endpoint — in the
same run. Then the same create/get load against a store seeded with a big pool and many
stored sessions, to show allocation stays flat as the store grows.

Needs ``wrk`` (Debian package ``wrk``). The machine is shared and noisy: read ratios and
medians, not absolute figures; each figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import drop_pg_schema, pg_schema_url  # noqa: E402
from tests.support.live import ServiceProcess  # noqa: E402

from vts_masking.store import Store  # noqa: E402
from vts_masking.store.models import bindings, numbers, sessions  # noqa: E402

console = Console()
AREAS = ["212", "213", "312", "415", "617", "646", "702", "713", "718", "805"]

LUA_COMMON = """
local auth = "Basic %(auth)s"
local base = "%(base)s"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) %% 100000)
local areas = {%(areas)s}
local function party()
  return "+1" .. areas[math.random(#areas)] .. math.random(200, 999) .. string.format("%%04d", math.random(0, 9999))
end
local uuids = {%(uuids)s}
"""

LUA = {
    "create": """
request = function()
  local body = '{"first_party":"' .. party() .. '","second_party":"' .. party() .. '"}'
  return wrk.format("POST", base, {["Authorization"]=auth, ["Content-Type"]="application/json"}, body)
end
""",
    "get": """
request = function()
  return wrk.format("GET", base .. uuids[math.random(#uuids)] .. "/", {["Authorization"]=auth})
end
""",
    "update": """
request = function()
  local body = '{"call_time_limit":' .. math.random(60, 3600) .. '}'
  return wrk.format("POST", base .. uuids[math.random(#uuids)] .. "/",
    {["Authorization"]=auth, ["Content-Type"]="application/json"}, body)
end
""",
    "list": """
request = function()
  return wrk.format("GET", base .. "?limit=20", {["Authorization"]=auth})
end
""",
    "baseline": """
request = function()
  return wrk.format("GET", "/health", {})
end
""",
}

DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %d %d %f %f %f\\n", summary.requests, errors,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    assert match, out
    requests, errors, duration, p50, p99 = match.groups()
    return {
        "rps": int(requests) / float(duration),
        "errors": int(errors),
        "p50": float(p50),
        "p99": float(p99),
    }


def seed(store: Store, account_id: int, n_numbers: int, n_sessions: int) -> None:
    """Bulk-load a pool and active sessions (with their bindings) straight into the store."""
    now = store.clock.now()
    expiry = now + timedelta(days=20)
    params = json.dumps({"record": False, "call_time_limit": 3600, "session_expiry": 1728000})
    rng = random.Random(1)
    chunk = 20_000
    with store.engine.begin() as conn:
        rows = [
            {
                "number": f"+1{AREAS[i % 10]}{200 + (i // 10000) % 800}{i % 10000:04d}",
                "account_id": account_id,
                "pool_id": account_id,
                "country": "US",
                "state": "in_service",
                "spread": rng.random(),
                "added_time": now,
                "modified_time": now,
            }
            for i in range(n_numbers)
        ]
        for start in range(0, len(rows), chunk):
            conn.execute(numbers.insert(), rows[start : start + chunk])
        ids = [r.id for r in conn.execute(numbers.select().with_only_columns(numbers.c.id))]
    done = 0
    while done < n_sessions:
        batch = min(chunk, n_sessions - done)
        with store.engine.begin() as conn:
            first_id = (
                conn.execute(
                    sessions.select()
                    .with_only_columns(sessions.c.id)
                    .order_by(sessions.c.id.desc())
                    .limit(1)
                ).scalar()
                or 0
            )
            srows, brows = [], []
            for j in range(batch):
                sid = first_id + j + 1
                nid = ids[(done + j) % len(ids)]
                a = f"+1{AREAS[j % 10]}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
                b = f"+1{AREAS[(j + 3) % 10]}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
                srows.append(
                    {
                        "id": sid,
                        "uuid": str(uuid.uuid4()),
                        "account_id": account_id,
                        "subaccount_id": None,
                        "number_id": nid,
                        "virtual_number": "+10000000000",
                        "first_party": a,
                        "second_party": b,
                        "status": "active",
                        "active_calls": 0,
                        "created_time": now,
                        "modified_time": now,
                        "expiry_time": expiry,
                        "duration": 1728000,
                        "params": params,
                        "amount": Decimal(0),
                        "total_call_count": 0,
                        "total_call_amount": Decimal(0),
                        "total_call_billed_duration": 0,
                        "event_seq": 0,
                    }
                )
                brows.append(
                    {"number_id": nid, "key": a, "session_id": sid, "blocked_until": expiry}
                )
                brows.append(
                    {"number_id": nid, "key": b, "session_id": sid, "blocked_until": expiry}
                )
            conn.execute(sessions.insert(), srows)
            if store.engine.dialect.name == "sqlite":
                conn.execute(bindings.insert().prefix_with("OR IGNORE"), brows)
            else:  # a random party may repeat on a number: skip such duplicates
                conn.execute(pg_insert(bindings).on_conflict_do_nothing(), brows)
        done += batch
        console.print(f"  seeded {done:,}/{n_sessions:,} sessions", end="\r")
    console.print()
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:  # ids were given explicitly: move the sequence on
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('sessions', 'id'), (SELECT max(id) FROM sessions))"
            )
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def run_backend(name: str, url: str, args: argparse.Namespace, tmp: Path, big: bool) -> dict:
    store = Store(url, pool_size=2)
    store.migrate()
    account = store.accounts.create("bench")
    main = store.accounts.by_auth_id(account.auth_id)
    if big:
        console.print(
            f"[{name}] seeding {args.big_numbers:,} numbers and {args.big_sessions:,} sessions"
        )
        seed(store, main.id, args.big_numbers, args.big_sessions)
    else:
        store.numbers.add(
            main, [f"+1220{200 + i // 10000}{i % 10000:04d}" for i in range(args.numbers)]
        )
    auth = base64.b64encode(f"{account.auth_id}:{account.auth_token}".encode()).decode()
    base = f"/v1/Account/{account.auth_id}/Masking/Session/"
    results: dict[str, dict[str, float]] = {}
    with ServiceProcess(url, tmp / f"data-{name}-{big}") as svc:
        with httpx.Client(base_url=svc.url, auth=(account.auth_id, account.auth_token)) as c:
            answers = [
                c.post(
                    base,
                    json={"first_party": f"+1415555{i:04d}", "second_party": f"+1212555{i:04d}"},
                )
                for i in range(200)
            ]
            if any(a.status_code != 201 for a in answers):
                sys.exit(f"create failed: {[a.text for a in answers if a.status_code != 201][:1]}")
            uuids = [a.json()["session_uuid"] for a in answers]
        ops = (
            ["baseline", "create", "get"]
            if big
            else ["baseline", "create", "get", "update", "list"]
        )
        for op in ops:
            script = tmp / f"{op}.lua"
            script.write_text(
                LUA_COMMON
                % {
                    "auth": auth,
                    "base": base,
                    "areas": ",".join(f'"{a}"' for a in AREAS),
                    "uuids": ",".join(f'"{u}"' for u in uuids),
                }
                + LUA[op]
                + DONE
            )
            runs = [
                wrk(svc.url, script, args.seconds, args.connections) for _ in range(args.repeat)
            ]
            results[op] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            console.print(f"  [{name}{' big' if big else ''}] {op}: {results[op]['rps']:.0f}/s")
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--numbers", type=int, default=1000)
    parser.add_argument("--big-numbers", type=int, default=100_000)
    parser.add_argument("--big-sessions", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "VTS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/api needs wrk: apt-get install wrk")
    table = Table(title="bench/api — median of runs; ratio = op rps / baseline rps (same run)")
    for col in ("backend", "store", "operation", "req/s", "ratio", "p50 ms", "p99 ms", "errors"):
        table.add_column(
            col, justify="right" if col not in ("backend", "store", "operation") else "left"
        )
    summary: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for backend in args.backends.split(","):
            for big in [False] if args.skip_big else [False, True]:
                schema = None
                if backend == "sqlite":
                    url = f"sqlite:///{tmp / f'bench-{big}.sqlite3'}"
                else:
                    url, schema = pg_schema_url(args.pg_url)
                try:
                    res = run_backend(backend, url, args, tmp, big)
                finally:
                    if schema:
                        drop_pg_schema(args.pg_url, schema)
                label = (
                    f"{args.big_numbers:,} nums / {args.big_sessions:,} sess"
                    if big
                    else f"{args.numbers:,} nums / empty"
                )
                summary[f"{backend}{'-big' if big else ''}"] = res
                for op, r in res.items():
                    table.add_row(
                        backend,
                        label,
                        op,
                        f"{r['rps']:.0f}",
                        "1.00" if op == "baseline" else f"{r['rps'] / res['baseline']['rps']:.2f}",
                        f"{r['p50']:.2f}",
                        f"{r['p99']:.2f}",
                        str(int(r["errors"])),
                    )
    console.print(table)
    for backend in args.backends.split(","):
        if f"{backend}-big" in summary:
            small, big = summary[backend]["create"], summary[f"{backend}-big"]["create"]
            console.print(
                f"{backend}: create p50 with big store / empty store = {big['p50'] / small['p50']:.2f}x "
                f"(p99 {big['p99'] / small['p99']:.2f}x)"
            )
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    console.print(f"finished {started}")


if __name__ == "__main__":
    main()
