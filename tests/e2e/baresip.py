"""Real softphones for end-to-end tests: baresip (Debian ``baresip``), headless.

Each :class:`Baresip` is one instance with its own configuration folder under the test's
``tmp_path``, on its own loopback address (127.0.0.2, 127.0.0.3, … so that its address
is a token the leak check can look for) with free SIP and RTP ports: ``aufile`` plays a
WAV file as its microphone, ``aubridge`` is a speaker that plays nowhere, ``sndfile``
dumps what it sent and what it heard (``dump-…-enc.wav`` / ``-dec.wav``), ``answermode``
is ``auto`` for a callee. ``-e "/dial …"`` places its call, ``-t`` ends the process at
the latest. While it runs, the ``ctrl_tcp`` module (netstring JSON on a loopback port)
takes commands (hold, resume, sndcode for RFC 4733 digits, transfer, hangup) and reports
call events, which is how a test knows when the call is up or over. Its SIP trace (``-s``)
gives every SIP message it received (:meth:`Baresip.sip_received`), no capture needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.leaks import Party
from tests.support.live import free_media_ports, free_port

BARESIP = shutil.which("baresip")
MODULES = Path("/usr/lib/baresip/modules")
requires_baresip = pytest.mark.skipif(
    BARESIP is None or not (MODULES / "ctrl_tcp.so").exists(),
    reason="baresip not installed (Debian baresip)",
)


def tone_file(path: Path, freq: float, seconds: float, rate: int = 8000) -> Path:
    """A sine tone as a mono 16-bit WAV file (what a phone's microphone will send)."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.4 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels())[:, 0]
    return data, rate


def band_energy(x: np.ndarray, rate: int, freq: float, width: float = 40.0) -> float:
    """The share of ``x``'s energy within ``freq`` ± ``width`` Hz (0..1)."""
    if len(x) < 256:
        return 0.0
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    total = float(spec.sum())
    return (
        float(spec[(freqs > freq - width) & (freqs < freq + width)].sum()) / total if total else 0.0
    )


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    spec[:5] = 0  # no DC
    return float(np.argmax(spec) * rate / len(x))


class Baresip:
    """One baresip phone; ``await start()``, talk to it, ``await stop()``."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        *,
        number: str,
        ip: str,
        tone: Path,
        display: str | None = None,
        answer: bool = True,
        transport: str = "udp",
        codecs: tuple[str, ...] = ("g711",),
        quit_after: int = 40,
    ) -> None:
        self.name = name
        self.number = number
        self.ip = ip
        self.display = display
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port()
        self.ctrl_port = free_port()
        base = free_media_ports(8)
        self.rtp_ports = (base, base + 7)
        self.transport = transport
        self.quit_after = quit_after
        modules = "\n".join(f"module {c}.so" for c in codecs)
        (self.dir / "config").write_text(
            f"""poll_method epoll
sip_listen {ip}:{self.sip_port}
net_interface {ip}
call_local_timeout 120
call_max_calls 4
audio_source aufile,{tone}
audio_player aubridge,nil
audio_alert aubridge,nil
rtp_ports {base}-{base + 7}
rtcp_mux no
jitter_buffer_delay 1-10
statmode_default off
module_path {MODULES}
{modules}
module aufile.so
module aubridge.so
module sndfile.so
module_tmp uuid.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}
snd_path {self.dir}
"""
        )
        uri = f"sip:{number}@{ip}:{self.sip_port}" + (
            f";transport={transport}" if transport != "udp" else ""
        )
        name_part = f'"{display}" ' if display else ""
        mode = "auto" if answer else "manual"
        (self.dir / "accounts").write_text(f"{name_part}<{uri}>;regint=0;answermode={mode}\n")
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, Any]] = []
        self._event = asyncio.Event()
        self._ctrl: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tokens = 0
        self.log = b""

    @property
    def party(self) -> Party:
        """This phone for the leak check."""
        return Party(self.name, self.ip, self.sip_port, self.rtp_ports, self.number, self.display)

    async def start(self, dial: str | None = None) -> Baresip:
        args = [BARESIP or "baresip", "-s", "-f", str(self.dir), "-t", str(self.quit_after)]
        self.proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=self.dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        # its control port opens once it is ready
        for _ in range(200):
            try:
                self._ctrl = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name}: baresip exited at start") from None
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"{self.name}: baresip's control port never opened")
        self._reader = asyncio.get_running_loop().create_task(self._read())
        if dial is not None:
            await self.command("dial", dial)
        return self

    async def _read(self) -> None:
        assert self._ctrl is not None
        reader = self._ctrl[0]
        while True:
            try:
                size = await reader.readuntil(b":")
                data = await reader.readexactly(int(size[:-1]) + 1)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                return
            with contextlib.suppress(ValueError):
                msg = json.loads(data[:-1])
                if msg.get("event"):
                    self.events.append(msg)
                    self._event.set()

    async def command(self, command: str, params: str = "") -> None:
        """Send a command (as typed in its menu: dial, hold, resume, sndcode, ...)."""
        assert self._ctrl is not None
        self._tokens += 1
        body = json.dumps(
            {"command": command, "params": params, "token": str(self._tokens)}
        ).encode()
        self._ctrl[1].write(str(len(body)).encode() + b":" + body + b",")
        await self._ctrl[1].drain()

    def _matching(self, kind: str, param: str | None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("type") == kind and (param is None or e.get("param") == param)
        ]

    def saw(self, kind: str, param: str | None = None) -> int:
        return len(self._matching(kind, param))

    async def wait_for(
        self, kind: str, count: int = 1, *, param: str | None = None, timeout: float = 15.0
    ) -> dict[str, Any]:
        """The ``count``-th event of type ``kind`` (CALL_ESTABLISHED, CALL_CLOSED, ...;
        with ``param``: CALL_REMOTE_SDP ``"offer"`` or ``"answer"``)."""
        async with asyncio.timeout(timeout):
            while self.saw(kind, param) < count:
                self._event.clear()
                await self._event.wait()
        return self._matching(kind, param)[count - 1]

    async def stop(self) -> bytes:
        """Quit (hanging up whatever call is up) and return its output."""
        if self.proc is None:
            return self.log
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("quit")
        try:
            out, _ = await asyncio.wait_for(self.proc.communicate(), 10)
        except TimeoutError:
            self.proc.kill()
            out, _ = await self.proc.communicate()
        if self._reader is not None:
            self._reader.cancel()
        if self._ctrl is not None:
            self._ctrl[1].close()
        self.log = out or b""
        self.proc = None
        return self.log

    def _trace(self, received: bool) -> list[str]:
        me = f"{self.ip}:{self.sip_port}"
        out = []
        for block in self.log.decode("utf-8", "replace").split("\x1b[36;1m#\n")[1:]:
            head, _, rest = block.partition("\n")
            src, _, dst = head.partition(" -> ")
            if (dst.strip() if received else src.split()[-1]) == me:
                out.append(rest.split("\x1b[;m")[0].replace("\r\n", "\n"))
        return out

    def sip_received(self) -> list[str]:
        """Every SIP message it received (from its SIP trace; after :meth:`stop`)."""
        return self._trace(True)

    def sip_sent(self) -> list[str]:
        """Every SIP message it sent (from its SIP trace; after :meth:`stop`)."""
        return self._trace(False)

    def dump(self, kind: str) -> tuple[np.ndarray, int]:
        """What it sent (``"enc"``) or heard (``"dec"``) in its last call."""
        files = sorted(self.dir.glob(f"dump-*-{kind}.wav"))
        assert files, f"{self.name}: no {kind} dump in {self.dir}"
        return read_wav(files[-1])
