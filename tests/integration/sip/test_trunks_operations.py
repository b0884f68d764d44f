"""The operator's view of trunks: ``vts-masking trunks check`` on a file, and a running
service's ``/trunks/status``, ``/metrics`` lines and ``vts-masking trunks status``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.live import LiveService, free_port
from vts_masking.cli import app

runner = CliRunner()

GOOD = """
[[trunk]]
name = "carrier"
address = "127.0.0.1:5080"
numbers = ["+1415"]
username = "acct"
password = "pw"
"""


def test_trunks_check_prints_the_trunks_of_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "trunks.toml"
    path.write_text(GOOD)
    result = runner.invoke(app, ["trunks", "check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["name"] == "carrier" and row["numbers"] == ["1415"] and row["credentials"]


def test_trunks_check_names_what_is_wrong_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "trunks.toml"
    path.write_text(GOOD.replace('password = "pw"', ""))
    result = runner.invoke(app, ["trunks", "check", str(path)])
    assert result.exit_code == 2
    assert "username and password go together" in result.output


def test_service_refuses_to_start_on_a_bad_trunks_file_with_the_reason(tmp_path: Path) -> None:
    from vts_masking.config import Settings
    from vts_masking.service import build_app

    path = tmp_path / "trunks.toml"
    path.write_text('[[trunk]]\naddress = "x"\ntransport = "sctp"\n')
    settings = Settings(data_dir=tmp_path, sip_trunks_file=path)
    with pytest.raises(SystemExit) as err:
        build_app(settings, background=False)
    assert "transport: one of udp, tcp, tls" in str(err.value)


@pytest.fixture
def live(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "trunks.toml"
    path.write_text(GOOD)
    with LiveService(
        f"sqlite:///{tmp_path / 'vts.sqlite3'}",
        tmp_path,
        sip=True,
        sip_listen=f"127.0.0.1:{free_port()}",
        sip_trunks_file=path,
    ) as service:
        yield service


def test_status_endpoint_lists_trunks_and_counters(live: LiveService) -> None:
    data = httpx.get(live.url + "/trunks/status").json()
    (trunk,) = data["trunks"]
    assert trunk["name"] == "carrier" and trunk["registration"] is None
    assert data["access_list"]["refused_total"] == 0


def test_metrics_carry_the_trunk_counters(live: LiveService) -> None:
    text = httpx.get(live.url + "/metrics").text
    assert 'vts_sip_trunk_challenges_answered_total{trunk="carrier"} 0' in text
    assert "vts_sip_acl_refused_total 0" in text


def test_trunks_status_command_reads_the_running_service(live: LiveService) -> None:
    result = runner.invoke(app, ["trunks", "status", "--url", live.url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["trunks"][0]["address"] == "127.0.0.1:5080"


def test_trunks_status_command_without_a_service_exits_2() -> None:
    result = runner.invoke(app, ["trunks", "status", "--url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 2 and "No service" in result.output
