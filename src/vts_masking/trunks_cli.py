"""``vts-masking trunks``: check a trunks file, see a running node's trunks.

- ``trunks check FILE``: read the file as ``serve`` would (``VTS_SIP_TRUNKS_FILE``) and
  print what it means, or the precise error (exit 2) — before a restart, not after.
- ``trunks status``: registration state and counters from the running service's
  ``GET /trunks/status`` (served to loopback only: run it on the node).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from .cli_options import JsonOut
from .sip.trunks import TrunkConfigError, load_trunks

trunks_app = typer.Typer(
    help="SIP trunks: check a trunks file, see their state.", no_args_is_help=True
)
console = Console()


@trunks_app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="The trunks file (TOML).")],
    allow_loopback: Annotated[
        bool, typer.Option(envvar="VTS_SIP_ALLOW_LOOPBACK", help="Loopback may send SIP.")
    ] = True,
    as_json: JsonOut = False,
) -> None:
    """Read a trunks file and show the trunks it defines (or why it cannot be used)."""
    try:
        table = load_trunks(path, allow_loopback=allow_loopback)
    except TrunkConfigError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
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
        typer.echo(json.dumps(rows))
        return
    out = Table("name", "address", "transport", "numbers", "inbound", "auth", "srtp")
    for r in rows:
        auth = (
            ", ".join(k for k in ("credentials", "register", "inbound_auth") if r[k])
            or "by address"
        )
        out.add_row(
            r["name"] + (" (default)" if r["default"] else ""),
            r["address"],
            r["transport"],
            ", ".join("+" + n for n in r["numbers"]) or "-",
            ", ".join(r["inbound"]) or "-",
            auth,
            r["srtp"],
        )
    console.print(out)


@trunks_app.command("status")
def status(
    url: Annotated[
        str, typer.Option(envvar="VTS_STATUS_URL", help="The running service's base URL.")
    ] = "http://127.0.0.1:8080",
    as_json: JsonOut = False,
) -> None:
    """Registration state and counters of the running service's trunks."""
    try:
        resp = httpx.get(url.rstrip("/") + "/trunks/status", timeout=5)
    except httpx.HTTPError as exc:
        console.print(f"[red]No service at {url}: {exc}[/]")
        raise typer.Exit(2) from None
    if resp.status_code != 200:
        console.print(f"[red]{url}: {resp.status_code} {resp.text}[/]")
        raise typer.Exit(2)
    data = resp.json()
    if as_json:
        typer.echo(json.dumps(data))
        return
    out = Table("trunk", "address", "registered", "expires in", "failures", "last", "challenges")
    for t in data["trunks"]:
        reg = t["registration"]
        out.add_row(
            t["name"],
            f"{t['address']}/{t['transport']}",
            "-" if reg is None else ("yes" if reg["registered"] else "[red]no[/]"),
            "-" if reg is None or reg["expires_in"] is None else f"{reg['expires_in']:.0f} s",
            "-" if reg is None else str(reg["failures"]),
            "-" if reg is None else (reg["last_error"] or str(reg["last_status"] or "")),
            f"{t['challenges_answered']} answered, {t['challenges_refused']} refused",
        )
    console.print(out)
    acl = data["access_list"]
    console.print(f"Refused by the access list: {acl['refused_total']}")
