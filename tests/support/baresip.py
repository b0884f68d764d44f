"""baresip as an encrypting phone in tests: SIP over TLS, SRTP (SDES), a sine tone.

:class:`Baresip` writes a config folder per test (its own SIP port, our test CA to
verify the service's certificate, ``mediaenc`` for SRTP, ``ausine`` as microphone,
``aubridge`` as loudspeaker, and ``sndfile`` dumping what it heard as WAV), dials one URI
at start and quits after ``seconds`` (hanging up first). What it heard is read back from
the dump.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.support.live import free_port

BARESIP = shutil.which("baresip")
MODULES = Path("/usr/lib/baresip/modules")
requires_baresip = pytest.mark.skipif(
    BARESIP is None or not (MODULES / "srtp.so").exists(), reason="baresip not installed"
)


class Baresip:
    def __init__(
        self,
        workdir: Path,
        *,
        user: str,
        dial: str,
        ca_file: Path,
        tone_hz: int,
        seconds: float,
        mediaenc: str = "srtp-mand",
    ) -> None:
        self.dir = workdir / "baresip"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dumps = self.dir / "dumps"
        self.dumps.mkdir(exist_ok=True)
        self.port = free_port()
        self.dial = dial
        self.seconds = seconds
        modules = ["g711", "ausine", "aubridge", "srtp", "sndfile", "menu", "account"]
        (self.dir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.port}",
                    f"sip_cafile {ca_file}",
                    "audio_path /usr/share/baresip",
                    f"audio_source ausine,{tone_hz}",
                    "audio_player aubridge,heard",
                    "audio_alert aubridge,alert",
                    "ausrc_srate 48000",
                    "ausrc_channels 2",
                    "auplay_srate 48000",
                    "auplay_channels 2",
                    "rtp_timeout 0",
                    f"module_path {MODULES}",
                    *[f"module {m}.so" for m in modules if m not in ("menu", "account")],
                    "module_app account.so",
                    "module_app menu.so",
                    f"snd_path {self.dumps}",
                    "",
                ]
            )
        )
        (self.dir / "accounts").write_text(
            f"<sip:{user}@127.0.0.1;transport=tls>;regint=0;mediaenc={mediaenc};"
            "audio_codecs=PCMU/8000/1\n"
        )
        (self.dir / "contacts").write_text("")
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = b""

    def start(self) -> Baresip:
        assert BARESIP is not None
        self.proc = subprocess.Popen(
            [
                BARESIP,
                "-f",
                str(self.dir),
                "-e",
                f"/dial {self.dial}",
                "-t",
                str(int(self.seconds)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        return self

    def finish(self, timeout: float = 30.0) -> str:
        assert self.proc is not None
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.output = out or b""
        (self.dir / "output.log").write_bytes(self.output)
        return self.output.decode(errors="replace")

    def heard(self) -> tuple[np.ndarray, int]:
        """What it decoded from the call (mono int16 samples, sample rate)."""
        files = sorted(self.dumps.glob("*dec*.wav")) or sorted(self.dumps.glob("*.wav"))
        if not files:
            return np.zeros(0, dtype=np.int16), 8000
        with wave.open(str(files[0])) as w:
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
            if w.getnchannels() > 1:
                data = data[:: w.getnchannels()]
            return data, w.getframerate()
