"""README.md's tour, run as written: its blocks are extracted from the file, the service
is started with the tour's own first block, and every other block runs, in order, in one
fresh shell, on free ports given through the variables the README documents. Each step's
outcome is checked from what it printed; then the call and recording the tour made are
validated against the OpenAPI contract (the only operations test_openapi.py cannot reach
without a call)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SIPP
from tests.integration.operator.test_openapi import Contract
from tests.support.live import free_media_ports, free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.sipp,
    pytest.mark.skipif(SIPP is None, reason="sipp not installed (sip-tester)"),
    pytest.mark.timeout(180),
]


def tour_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the README's tour, in order."""
    text = (ROOT / "README.md").read_text()
    tour = text.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(sh|python)\n(.*?)```", tour, re.S)


def script(blocks: list[tuple[str, str]]) -> str:
    """One bash script running each block as written, marking where each ends."""
    parts = []
    for i, (lang, code) in enumerate(blocks):
        if lang == "python":
            code = f"python3 - <<'TOUR_PY'\n{code}TOUR_PY\n"
        parts.append(f"echo '@@block {i}'\n{code}\necho \"@@rc {i} $?\"\n")
    return "".join(parts)


def outputs(text: str) -> dict[int, tuple[str, int]]:
    found = re.findall(r"@@block (\d+)\n(.*?)@@rc \1 (\d+)\n", text, re.S)
    return {int(i): (out, int(rc)) for i, out, rc in found}


def test_the_readme_tour_runs_as_written(db_url: str, tmp_path: Path) -> None:
    blocks = tour_blocks()
    assert blocks[0] == ("sh", "vts-masking serve --allow-private-callbacks\n")
    (tmp_path / "docs").symlink_to(ROOT / "docs")  # the tour runs from the repository
    bin_dir = str(Path(sys.executable).parent)
    port, sip, trunk = free_port(), free_port(), free_port()
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "VTS_PORT": str(port),
        "VTS_SIP_LISTEN": f"127.0.0.1:{sip}",
        "VTS_SIP_TRUNK": f"127.0.0.1:{trunk}",
        "RECEIVER_PORT": str(free_port()),
        "CALLER_PORT": str(free_port()),
        "CALLER_RTP": str(free_media_ports()),
        "CALLEE_RTP": str(free_media_ports()),
    }
    if not db_url.startswith("sqlite"):
        env["VTS_DATABASE_URL"] = db_url
    if "PYTHONPATH" in os.environ:  # a developer's worktree; CI installs the package
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        ["bash", "-c", blocks[0][1]],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc=serve)
        shell = subprocess.run(
            ["bash"],
            input=script(blocks[1:]),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
            start_new_session=True,
        )
        steps = outputs(shell.stdout)
        everything = shell.stdout + shell.stderr + (tmp_path / "serve.log").read_text()
        assert len(steps) == len(blocks) - 1, everything
        out = {i + 1: text for i, (text, _) in steps.items()}
        for i, (_, rc) in steps.items():
            assert rc == 0, (i + 1, blocks[i + 1][1], everything)
        check_steps(blocks, out, trunk, sip, port)
        check_contract(tmp_path, port, out)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(20)
        log.close()


def find(blocks: list[tuple[str, str]], needle: str) -> int:
    return next(i for i, (_, code) in enumerate(blocks) if needle in code)


def check_steps(
    blocks: list[tuple[str, str]], out: dict[int, str], trunk: int, sip: int, port: int
) -> None:
    assert f"trunk on port {trunk}" in out[find(blocks, "RECEIVER_PORT=")]
    assert f"SIP edge on port {sip}" in out[find(blocks, "RECEIVER_PORT=")]
    assert re.search(r"account MA[0-9A-Z]{18}", out[find(blocks, "account create")])
    numbers = out[find(blocks, "numbers add")]
    assert "added 3, already present 0" in numbers and numbers.count("+1220555002") == 3
    session = re.search(
        r"session ([0-9a-f-]{36}) on virtual number (\+\d+)", out[find(blocks, "curl -s -u")]
    )
    assert session, out
    virtual = session.group(2)
    sdk = re.search(r"SDK session [0-9a-f-]{36} on (\+\d+)", out[find(blocks, "import vts")])
    assert sdk and sdk.group(1) != virtual  # the same parties: another number
    assert "the call went through" in out[find(blocks, "caller_talks.xml")]
    seen = out[find(blocks, "grep -m1")]
    assert f"From: <sip:{virtual}@" in seen
    assert "the caller's number never reached the callee" in seen
    record = out[find(blocks, "jq '.response")]
    view, _ = json.JSONDecoder().raw_decode(record)  # jq's object, then the other lines
    assert view["total_call_count"] == 2, record
    assert view["interaction"][0]["first_party_status"] == "completed"
    assert view["interaction"][0]["second_party_status"] == "completed"
    assert "+12165554567" in record and "NORMAL_CLEARING" in record  # calls list
    assert "SessionCreated signature valid" in record
    assert "SessionSecondPartyAnswer signature valid" in record
    assert "SessionRecordingInitiated signature valid" in record  # its own URL, also signed
    assert "INVALID" not in record
    length = float(re.search(r"Length \(seconds\):\s+([\d.]+)", record).group(1))  # type: ignore[union-attr]
    rms = float(re.search(r"RMS\s+amplitude:\s+([\d.]+)", record).group(1))  # type: ignore[union-attr]
    assert length > 2.5 and rms > 0.01, record  # seconds of speech, not silence


def check_contract(tmp_path: Path, port: int, out: dict[int, str]) -> None:
    url = f"http://127.0.0.1:{port}"
    account = json.loads((tmp_path / "account.json").read_text())
    session = json.loads((tmp_path / "session.json").read_text())["session_uuid"]
    auth = (account["auth_id"], account["auth_token"])
    base = f"{url}/v1/Account/{account['auth_id']}/"
    contract = Contract(httpx.get(url + "/openapi.json").json())
    view = httpx.get(f"{base}Masking/Session/{session}/", auth=auth).json()["response"]
    leg = view["interaction"][0]["second_party_resource_url"]
    call = httpx.get(leg, auth=auth)  # absolute, like every URL the API returns
    contract.check("get", "/v1/Account/{auth_id}/Call/{call_uuid}", call)
    listed = httpx.get(f"{base}Recording/", params={"session_uuid": session}, auth=auth)
    rec = contract.check("get", "/v1/Account/{auth_id}/Recording", listed)
    rec_id = rec["objects"][0]["recording_id"]
    one = httpx.get(f"{base}Recording/{rec_id}/", auth=auth)
    contract.check("get", "/v1/Account/{auth_id}/Recording/{recording_id}", one)
    media = httpx.get(f"{base}Recording/{rec_id}/Media/", auth=auth)
    assert media.headers["content-type"].startswith("audio/")
    contract.check("get", "/v1/Account/{auth_id}/Recording/{recording_id}/Media", media)
    gone = httpx.delete(f"{base}Recording/{rec_id}/", auth=auth)
    contract.check("delete", "/v1/Account/{auth_id}/Recording/{recording_id}", gone)
