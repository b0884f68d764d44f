"""TLS for SIP (RFC 3261 §26.2, RFC 5630): the contexts the transport uses.

- :func:`server_context`: what we present on the TLS port (certificate chain and key from
  files, TLS 1.2 or newer). Phones and trunks connecting to us are not asked for a client
  certificate: they are authenticated by the access list and digest, as over UDP.
- :func:`client_context`: what we check when *we* connect to a trunk: its certificate
  must chain to ``ca_file`` (or the system's trust store) and name the host we dialled
  (``server_name``, default the trunk's host) — on by default; ``verify=False`` is the
  operator's explicit choice for a trunk with a self-signed certificate.

Contexts are built once per trunk and reused: a connection to a trunk is opened once and
kept for every later request and response (the transport's connection table), so the
handshake cost is paid per connection, not per call.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["TlsConfigError", "client_context", "server_context"]


class TlsConfigError(ValueError):
    """A certificate, key or CA file that cannot be used (the message says which)."""


def server_context(cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"TLS certificate {cert_file} / key {key_file}: {exc}") from None
    return ctx


def client_context(*, verify: bool = True, ca_file: str | Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        if ca_file is not None:
            ctx.load_verify_locations(cafile=str(ca_file))
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"TLS CA file {ca_file}: {exc}") from None
    return ctx
