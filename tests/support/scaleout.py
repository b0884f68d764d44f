"""Several ``vts-masking serve`` nodes on one PostgreSQL, behind Kamailio's dispatcher.

:class:`Cluster` starts, on a database it is given (already migrated here, once, before
any node starts):

* one node per loopback address (``127.0.0.2``, ``127.0.0.3``, …: Linux answers all of
  127/8), each a real ``vts-masking serve`` subprocess with its HTTP API, SIP edge and RTP
  relay on its own address, its own data folder, and its event worker;
* with ``sip=True``, a SIPp ``uas`` playing the operator's trunk (every node sends its
  outbound legs there) and a :class:`~tests.support.kamailio.Dispatcher` running
  ``deploy/kamailio/kamailio.cfg`` in front of the nodes' SIP edges.

:class:`SippLoad` places masked calls through the dispatcher from an injection file of
(caller, virtual number) pairs and reads SIPp's own count of successful and failed
calls. :func:`node_metric` reads one counter from a node's ``/metrics``: calls and
delivered events are counted per process, so they tell which node did the work.

Used by ``tests/e2e/test_scaleout.py`` and ``bench/scaleout/run.py``. Every process is
stopped by :meth:`Cluster.close` (the context manager's exit), whatever happened.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.kamailio import Dispatcher
from tests.support.live import ServiceProcess, free_media_ports, free_port, wait_healthy
from vts_masking.store import Store

SIPP = shutil.which("sipp")
SCENARIO = Path(__file__).resolve().parents[1] / "e2e" / "sipp" / "caller_load.xml"
NODE_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")


@dataclass
class Node:
    """One ``vts-masking serve`` of the cluster."""

    name: str
    host: str
    sip_port: int
    proc: ServiceProcess

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def alive(self) -> bool:
        return self.proc.proc is not None and self.proc.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, leases and dialogs are left as they were."""
        self.proc.stop(kill=True)


@dataclass
class Account:
    auth_id: str
    auth_token: str

    @property
    def base(self) -> str:
        return f"/v1/Account/{self.auth_id}/"


class RoundRobin:
    """An HTTP client per node, speaking as one account; requests take turns over the
    live nodes (as a load balancer in front of them would)."""

    def __init__(self, nodes: list[Node], account: Account) -> None:
        self.nodes = nodes
        self.account = account
        self.clients = {
            n.name: httpx.Client(
                base_url=n.url, auth=(account.auth_id, account.auth_token), timeout=30
            )
            for n in nodes
        }
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def client(self, node: Node | None = None) -> httpx.Client:
        if node is None:
            live = [n for n in self.nodes if n.alive]
            with self._lock:
                node = live[next(self._turn) % len(live)]
        return self.clients[node.name]

    def post(self, path: str, *, node: Node | None = None, **kw: Any) -> httpx.Response:
        return self.client(node).post(self.account.base + path, **kw)

    def get(self, path: str, *, node: Node | None = None, **kw: Any) -> httpx.Response:
        return self.client(node).get(self.account.base + path, **kw)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


def node_metric(node: Node, name: str) -> float:
    """The value of the unlabelled series ``name`` on ``node``'s ``/metrics``."""
    text = httpx.get(node.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not on {node.url}/metrics")


class Cluster:
    """``count`` nodes on ``db_url`` (PostgreSQL), with the trunk and the dispatcher
    when ``sip``; ``env`` is added to every node's environment (``VTS_*``)."""

    def __init__(
        self,
        db_url: str,
        workdir: Path,
        *,
        count: int = 2,
        sip: bool = True,
        env: dict[str, str] | None = None,
        ping_interval: int = 1,
        node_timeout: int = 1500,
    ) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.count = count
        self.sip = sip
        self.env = env or {}
        self.ping_interval = ping_interval
        self.node_timeout = node_timeout
        self.nodes: list[Node] = []
        self.store: Store | None = None
        self.dispatcher: Dispatcher | None = None
        self.trunk: subprocess.Popen[bytes] | None = None
        self.trunk_port = 0
        self._clients: list[RoundRobin] = []

    def __enter__(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        self.store = Store(self.db_url, pool_size=2)
        self.store.migrate()  # before the nodes (they would also queue on its advisory lock)
        if self.sip:
            self.trunk_port = free_port()
            uas = [SIPP or "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(self.trunk_port)]
            self.trunk = subprocess.Popen(
                [*uas, "-mp", str(free_media_ports()), "-nostdin", "-max_socket", "2000"],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for i, host in enumerate(NODE_HOSTS[: self.count]):
            name = "AB"[i] if i < 2 else str(i)
            data = self.workdir / f"node-{name}"
            data.mkdir(parents=True, exist_ok=True)
            sip_port = free_port(host)
            env = {
                "VTS_RTP_ADDRESS": host,
                "VTS_RTP_PORTS": "20000-29999",
                # a few connections each: the test PostgreSQL (max_connections 100) is
                # shared with the rest of the suite, running beside this in CI
                "VTS_DB_POOL_SIZE": "3",
                **self.env,
            }
            proc = ServiceProcess(
                self.db_url,
                data,
                "--allow-private-callbacks",
                env=env,
                host=host,
                sip_listen=f"{host}:{sip_port}" if self.sip else None,
                sip_trunk=f"127.0.0.1:{self.trunk_port}" if self.sip else None,
            )
            self.nodes.append(Node(name, host, sip_port, proc))
        # Start them all, then wait for each: the nodes come up side by side.
        for node in self.nodes:
            node.proc.proc = subprocess.Popen(node.proc.args, env=node.proc.env)
        for node in self.nodes:
            wait_healthy(node.url, timeout=60, proc=node.proc.proc)
        if self.sip:
            self.dispatcher = Dispatcher(
                self.workdir,
                [(n.host, n.sip_port) for n in self.nodes],
                ping_interval=self.ping_interval,
                node_timeout=self.node_timeout,
            )
            self.dispatcher.start()

    def close(self) -> None:
        # Each step on its own: one that fails never leaves the others running.
        for rr in self._clients:
            rr.close()
        if self.dispatcher is not None:
            with contextlib.suppress(Exception):
                self.dispatcher.stop()
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.proc.stop()
        if self.trunk is not None:
            self.trunk.terminate()
            try:
                self.trunk.wait(10)
            except subprocess.TimeoutExpired:
                self.trunk.kill()
                self.trunk.wait(5)
            self.trunk = None
        if self.store is not None:
            self.store.close()
            self.store = None

    # -- what tests and the bench need ---------------------------------------------------

    @property
    def sip_front(self) -> tuple[str, int]:
        assert self.dispatcher is not None
        return self.dispatcher.addr

    def account(self, name: str = "scaleout") -> Account:
        assert self.store is not None
        a = self.store.accounts.create(name)
        return Account(a.auth_id, a.auth_token)

    def round_robin(self, account: Account) -> RoundRobin:
        """HTTP clients of ``account`` over the nodes, closed with the cluster."""
        rr = RoundRobin(self.nodes, account)
        self._clients.append(rr)
        return rr

    def calls_started(self) -> dict[str, float]:
        """Calls each live node's SIP edge took on so far."""
        return {
            n.name: node_metric(n, "vts_calls_started_total") for n in self.nodes if n.alive
        }


@dataclass
class LoadResult:
    calls: int
    successful: int
    failed: int
    returncode: int
    seconds: float
    output: str = ""
    errors: str = ""

    @property
    def rate(self) -> float:
        """Completed calls per second of the run."""
        return self.successful / self.seconds if self.seconds else 0.0


@dataclass
class SippLoad:
    """``calls`` masked calls at ``rate`` per second to ``target``, call ``i`` from
    ``pairs[i % len(pairs)]`` (caller, virtual number), each held ``hold_ms``."""

    workdir: Path
    target: tuple[str, int]
    pairs: list[tuple[str, str]]
    calls: int
    rate: float
    hold_ms: int = 300
    name: str = "load"
    limit: int = 200  # calls open at once at most
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    _files: dict[str, Path] = field(default_factory=dict)

    def args(self) -> list[str]:
        scenario = self.workdir / f"{self.name}.xml"
        scenario.write_text(SCENARIO.read_text().replace("@HOLD_MS@", str(self.hold_ms)))
        inject = self.workdir / f"{self.name}.csv"
        rows = [self.pairs[i % len(self.pairs)] for i in range(self.calls)]
        inject.write_text("SEQUENTIAL\n" + "".join(f"{c};{v};\n" for c, v in rows))
        stat = self.workdir / f"{self.name}_stat.csv"
        errors = self.workdir / f"{self.name}_errors.log"
        self._files = {"stat": stat, "errors": errors}
        return [
            SIPP or "sipp",
            "-sf",
            str(scenario),
            "-inf",
            str(inject),
            f"{self.target[0]}:{self.target[1]}",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "-mp",
            str(free_media_ports()),
            "-r",
            str(self.rate),
            "-m",
            str(self.calls),
            "-l",
            str(self.limit),
            "-nostdin",
            "-recv_timeout",
            "10000",
            "-timeout",
            f"{int(self.calls / self.rate) + 60}s",
            "-max_socket",
            "2000",
            "-trace_stat",
            "-stf",
            str(stat),
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            str(errors),
        ]

    def start(self) -> SippLoad:
        self.proc = subprocess.Popen(
            self.args(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.started = time.monotonic()
        return self

    def wait(self, timeout: float | None = None) -> LoadResult:
        assert self.proc is not None
        limit = timeout if timeout is not None else self.calls / self.rate + 90
        try:
            out, _ = self.proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        seconds = time.monotonic() - self.started
        successful = failed = 0
        stat = self._files["stat"]
        if stat.exists():
            rows = list(csv.DictReader(stat.open(), delimiter=";"))
            if rows:
                successful = int(rows[-1].get("SuccessfulCall(C)") or 0)
                failed = int(rows[-1].get("FailedCall(C)") or 0)
        errors = self._files["errors"]
        text = out.decode(errors="replace")
        return LoadResult(
            self.calls,
            successful,
            failed,
            self.proc.returncode if self.proc.returncode is not None else -1,
            seconds,
            text[-3000:],
            errors.read_text(errors="replace")[-3000:] if errors.exists() else "",
        )

    def run(self) -> LoadResult:
        return self.start().wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def pg_database(base: str) -> Iterator[str]:
    """A schema of its own on the test PostgreSQL at ``base``, dropped afterwards."""
    from tests.conftest import drop_pg_schema, pg_schema_url

    url, schema = pg_schema_url(base)
    try:
        yield url
    finally:
        drop_pg_schema(base, schema)
