"""``vts-masking demo`` as a newcomer runs it: one command, a masked call, a report."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_masks_a_call_between_the_two_phones_it_plays() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vts_masking.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    virtual = re.search(r"on (\+\d+)\n", out)
    assert virtual, out
    v = virtual.group(1)
    assert f"The caller (+14155550101) dialled {v}:" in out
    assert "INVITE sip:+12125550102@" in out  # the callee was called ...
    assert f"From: <sip:{v}@" in out  # ... from the virtual number
    assert f"Masked: the callee saw {v}, never +14155550101" in out
    assert re.search(r"audio: sent \d+ RTP packets, received [1-9]\d*", out)
    assert "first party completed, second party completed" in out
    assert "Where to look next:" in out and "Traceback" not in done.stderr
