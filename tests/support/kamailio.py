"""Kamailio in tests: as the carrier, or as the dispatcher front of several nodes.

:class:`Kamailio` fills ``tests/e2e/kamailio/carrier.cfg`` (ports, credentials, digest
algorithm, the callee to relay to, TLS files), checks it with ``kamailio -c``, runs
``kamailio -DD -E`` on its own ports with its runtime folder under the test's tmp_path,
and waits until it answers SIP. Its log (stderr) is kept: tests read what it did
(``carrier: challenge INVITE``, ``carrier: registered ...``) from there.

:class:`Dispatcher` runs the shipped ``deploy/kamailio/kamailio.cfg`` itself (its
listen address, dispatcher list, probe interval and node timeout set with ``-A``), in
front of the nodes it is given; it logs ``dispatcher: node sip:HOST:PORT down`` / ``up``
when probing takes a node out of the rotation or back in.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.live import free_port

KAMAILIO = shutil.which("kamailio") or (
    "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
)
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "tests" / "e2e" / "kamailio" / "carrier.cfg"
DEPLOY_CONFIG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")

requires_kamailio = pytest.mark.skipif(KAMAILIO is None, reason="kamailio not installed")


class KamailioProcess:
    """One ``kamailio -DD -E`` on 127.0.0.1:``port``: subclasses write its config."""

    workdir: Path
    config: Path
    port: int
    defines: list[str]
    proc: subprocess.Popen[bytes] | None = None
    _log: list[str]
    _reader: threading.Thread | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def _args(self) -> list[str]:
        assert KAMAILIO is not None
        return [KAMAILIO, "-f", str(self.config), *self.defines, "-Y", str(self.workdir)]

    def check(self) -> None:
        out = subprocess.run(
            [*self._args(), "-c"], capture_output=True, text=True, timeout=30, check=False
        )
        assert out.returncode == 0, out.stdout + out.stderr

    def start(self) -> KamailioProcess:
        self.check()
        self._log = []
        self.proc = subprocess.Popen(
            [*self._args(), "-DD", "-E", "-m", "32", "-M", "4"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # never leave a Kamailio running behind a failed start
            raise
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._log.append(line.decode(errors="replace"))

    def _wait_ready(self, timeout: float = 15.0) -> None:
        probe = (
            f"OPTIONS sip:probe@127.0.0.1:{self.port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKprobe;rport\r\n"
            "From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:probe@127.0.0.1>\r\n"
            "Call-ID: probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.2)
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError("kamailio exited:\n" + self.log[-3000:])
                s.sendto(probe, self.addr)
                try:
                    s.recv(4096)
                    return
                except TimeoutError:
                    continue
        raise RuntimeError("kamailio did not answer:\n" + self.log[-3000:])

    @property
    def log(self) -> str:
        return "".join(self._log)

    def count(self, text: str) -> int:
        return self.log.count(text)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(2)
        self.proc = None


class Kamailio(KamailioProcess):
    """One Kamailio carrier on 127.0.0.1:``port`` (and ``tls_port`` with TLS)."""

    def __init__(
        self,
        workdir: Path,
        *,
        callee: tuple[str, int],
        user: str = "acct",
        password: str = "pw",
        realm: str = "carrier",
        algorithm: str = "MD5",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.workdir = workdir / "kamailio"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.user, self.password, self.realm = user, password, realm
        subs = {
            "PORT": str(self.port),
            "TLS_PORT": str(self.tls_port or 0),
            "CALLEE": f"{callee[0]}:{callee[1]}",
            "CALLEE_PORT": str(callee[1]),
            "USER": user,
            "PASSWORD": password,
            "REALM": realm,
            "ALGORITHM": algorithm,
            "TLS_CONFIG": str(self.workdir / "tls.cfg"),
        }
        text = TEMPLATE.read_text()
        for key, value in subs.items():
            text = text.replace(f"@{key}@", value)
        self.config = self.workdir / "kamailio.cfg"
        self.config.write_text(text)
        self.defines = []
        if tls:
            cert, key = tls
            (self.workdir / "tls.cfg").write_text(
                "[server:default]\nmethod = TLSv1.2+\n"
                f"certificate = {cert}\nprivate_key = {key}\nverify_certificate = no\n"
                "require_certificate = no\n\n"
                "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
            )
            self.defines = ["-A", "WITH_TLS"]
        self._log = []

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Dispatcher(KamailioProcess):
    """deploy/kamailio/kamailio.cfg on 127.0.0.1:``port``, dispatching to ``nodes``
    (each a ``(host, sip_port)`` of a ``vts-masking serve``), probing them every
    ``ping_interval`` seconds and failing a request over after ``node_timeout`` ms."""

    def __init__(
        self,
        workdir: Path,
        nodes: list[tuple[str, int]],
        *,
        ping_interval: int = 1,
        node_timeout: int = 1500,
        name: str = "dispatcher",
    ) -> None:
        self.workdir = workdir / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.nodes = nodes
        listing = self.workdir / "dispatcher.list"
        listing.write_text("".join(f"1 sip:{host}:{port} 0 0\n" for host, port in nodes))
        self.config = DEPLOY_CONFIG
        self.defines = [
            "-A",
            f"LISTEN_UDP=udp:127.0.0.1:{self.port}",
            "-A",
            f"LISTEN_TCP=tcp:127.0.0.1:{self.port}",
            "-A",
            f'DISPATCHER_LIST="{listing}"',
            "-A",
            f"PING_INTERVAL={ping_interval}",
            "-A",
            f"NODE_TIMEOUT={node_timeout}",
        ]
        self._log = []

    def down(self, host: str, port: int) -> bool:
        """Whether probing (or a failed-over call) took the node out of the rotation."""
        return f"dispatcher: node sip:{host}:{port} down" in self.log

    def __enter__(self) -> Dispatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
