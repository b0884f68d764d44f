"""Make the PNG screenshots of docs/console.md: the console's browser tests run once (on
SQLite) with ``VTS_CONSOLE_SCREENSHOTS`` set, so every picture shows the pages as they
were after a real recorded SIPp call, refused callbacks, a retry and a drained number.

    python docs/console/screenshots.py

Needs what the tests need: sipp, sox, chromium (Debian) and playwright (pip).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

if __name__ == "__main__":
    env = {**os.environ, "VTS_CONSOLE_SCREENSHOTS": str(HERE)}
    env.pop("VTS_TEST_DATABASE_URL", None)  # one store is enough for pictures
    command = [sys.executable, "-m", "pytest", "-q", "tests/console/test_browser.py"]
    sys.exit(subprocess.call(command, cwd=ROOT, env=env))
