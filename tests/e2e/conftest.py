"""Helpers for end-to-end tests that run real SIPp phones on loopback.

Scenarios live in ``tests/e2e/sipp/``; ``@STATUS@``-style placeholders in them are filled
in per test. Every SIPp gets free ports of its own and runs unattended
(``-nostdin -timeout 20s -timeout_error -m 1``); tests skip when ``sipp`` is missing.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.live import free_media_ports, free_port

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).parent / "sipp"

requires_sipp = pytest.mark.skipif(SIPP is None, reason="sipp not installed (sip-tester)")


@dataclass
class SippResult:
    returncode: int
    messages: str  # everything SIPp sent and received (-trace_msg)
    output: str

    def received(self) -> str:
        """Only the messages this SIPp received."""
        blocks = self.messages.split("-----------------------------------------------")
        return "\n".join(b for b in blocks if "message received" in b)


class Sipp:
    """One SIPp process: ``start()`` it, then ``await finish()``."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        *,
        scenario: str | None = None,
        builtin: str | None = None,
        remote: tuple[str, int] | None = None,
        service: str | None = None,
        port: int | None = None,
        subs: dict[str, str] | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.port = port or free_port()
        self.log = workdir / f"{name}_messages.log"
        args = [SIPP or "sipp"]
        if scenario is not None:
            text = (SCENARIOS / scenario).read_text()
            for key, value in (subs or {}).items():
                text = text.replace(f"@{key}@", value)
            path = workdir / f"{name}.xml"
            path.write_text(text)
            args += ["-sf", str(path)]
        else:
            args += ["-sn", builtin or "uas"]
        if service:
            args += ["-s", service]
        if remote:
            args.append(f"{remote[0]}:{remote[1]}")
        args += ["-i", "127.0.0.1", "-p", str(self.port), "-mp", str(free_media_ports())]
        args += ["-nostdin", "-m", "1", "-timeout", "20s", "-timeout_error"]
        args += ["-trace_msg", "-message_file", str(self.log), *(extra or [])]
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Sipp:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return self

    async def finish(self, timeout: float = 30.0) -> SippResult:
        assert self.proc is not None
        try:
            out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            out, _ = await self.proc.communicate()
        messages = self.log.read_text(errors="replace") if self.log.exists() else ""
        return SippResult(self.proc.returncode or 0, messages, out.decode(errors="replace")[-3000:])
