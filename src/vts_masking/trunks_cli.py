"""``vts-masking trunks``: check a trunks file, see a running node's trunks.

- ``trunks check FILE``: read the file as ``serve`` would (``VTS_SIP_TRUNKS_FILE``) and
  print what it means, or the precise error (exit 2) — before a restart, not after.
- ``trunks status``: registration state and counters from the running service's
  ``GET /trunks/status`` (served to loopback only: run it on the node).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_options import JsonOut, emit_json, fail, print_table

# Imports that cost time (httpx, the trunks parser) happen inside the commands, so
# ``vts-masking --help`` stays fast.
trunks_app = typer.Typer(
    help="SIP trunks: check a trunks file, see their state.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@trunks_app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="The trunks file (TOML).")],
    no_loopback: Annotated[
        bool,
        typer.Option(
            "--no-loopback",
            help="Check as serve would with VTS_SIP_ALLOW_LOOPBACK=false (loopback may not "
            "send SIP); without it the variable decides, as for serve.",
        ),
    ] = False,
    as_json: JsonOut = False,
) -> None:
    """Read a trunks file and show the trunks it defines (or why it cannot be used)."""
    from .config import Settings
    from .sip.trunks import TrunkConfigError, load_trunks

    allow_loopback = not no_loopback and Settings().sip_allow_loopback
    try:
        table = load_trunks(path, allow_loopback=allow_loopback)
    except TrunkConfigError as exc:
        fail(str(exc))
    rows: list[dict[str, Any]] = [
        {
            "name": t.name,
            "address": f"{t.host}:{t.port}",
            "transport": t.transport,
            "default": t is table.default,
            "numbers": list(t.numbers),
            "inbound": list(t.inbound or t.addresses),
            "credentials": t.credentials is not None,
            "register": t.register,
            "inbound_auth": bool(t.inbound_credentials),
            "srtp": t.srtp,
            "tls_verify": t.tls_verify if t.transport == "tls" else None,
            "max_redirects": t.max_redirects,
        }
        for t in table.trunks
    ]
    if as_json:
        emit_json(rows)
        return
    lines = []
    for r in rows:
        auth = (
            ", ".join(k for k in ("credentials", "register", "inbound_auth") if r[k])
            or "by address"
        )
        lines.append(
            (
                r["name"] + (" (default)" if r["default"] else ""),
                r["address"],
                r["transport"],
                ", ".join("+" + n for n in r["numbers"]) or "-",
                ", ".join(r["inbound"]) or "-",
                auth,
                r["srtp"],
            )
        )
    print_table(("name", "address", "transport", "numbers", "inbound", "auth", "srtp"), lines)


@trunks_app.command("status")
def status(
    url: Annotated[
        str, typer.Option(envvar="VTS_STATUS_URL", help="The running service's base URL.")
    ] = "http://127.0.0.1:8080",
    as_json: JsonOut = False,
) -> None:
    """Registration state and counters of the running service's trunks."""
    import httpx

    try:
        resp = httpx.get(url.rstrip("/") + "/trunks/status", timeout=5)
    except httpx.HTTPError as exc:
        fail(f"No service at {url}: {exc}")
    if resp.status_code != 200:
        fail(f"{url}: {resp.status_code} {resp.text}")
    data: dict[str, Any] = resp.json()
    if as_json:
        emit_json(data)
        return
    rows = []
    for t in data["trunks"]:
        reg = t["registration"]
        rows.append(
            (
                t["name"],
                f"{t['address']}/{t['transport']}",
                "-" if reg is None else ("yes" if reg["registered"] else "no"),
                "-" if reg is None or reg["expires_in"] is None else f"{reg['expires_in']:.0f} s",
                "-" if reg is None else str(reg["failures"]),
                "-" if reg is None else (reg["last_error"] or str(reg["last_status"] or "")),
                f"{t['challenges_answered']} answered, {t['challenges_refused']} refused",
            )
        )
    headers = ("trunk", "address", "registered", "expires in", "failures", "last", "challenges")
    print_table(headers, rows)
    typer.echo(f"Refused by the access list: {data['access_list']['refused_total']}")
