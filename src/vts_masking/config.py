"""Operator settings, read from ``VTS_*`` environment variables and CLI options."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .domain.billing import RateTable, parse_rates

if TYPE_CHECKING:
    from .sip.trunks import TrunkTable
    from .store.retention import RetentionPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VTS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("vts-data")
    database_url: str | None = None
    # connections one process keeps open to the database, and as many more at a peak:
    # with several nodes on one PostgreSQL, nodes × 2 × this must stay under the
    # server's max_connections (100 by default)
    db_pool_size: int = Field(20, ge=1)
    sweep_interval: float = Field(1.0, description="seconds between expiry sweeps")
    # Retention (docs/operations.md#retention): days a finished event (delivered, failed,
    # skipped) and its attempt log are kept, days an ended session's call records are
    # kept; 0 keeps them forever. The sweeper prunes at most retention_batch rows of each
    # per transaction.
    event_retention_days: float = Field(30.0, ge=0)
    call_retention_days: float = Field(90.0, ge=0)
    retention_batch: int = Field(1000, ge=1, le=10000)

    sip_listen: str = "127.0.0.1:5060"
    sip_trunk: str = "127.0.0.1:5080"
    # how outbound legs reach sip_trunk (the trunks file names each trunk's own)
    sip_trunk_transport: Literal["udp", "tcp", "tls"] = "udp"
    # several trunks (TOML, deploy/README.md); when set, sip_trunk is not used
    sip_trunks_file: Path | None = None
    # who may send SIP besides the trunks: extra addresses/networks ("any": everyone)
    sip_allow: str = ""
    # loopback may send SIP (a developer's phones); production sets it false
    sip_allow_loopback: bool = True
    # SIP over TLS on sip_listen's host at this port (5061 is the usual one); needs a
    # certificate and key (PEM files); sip_tls_ca: trust for trunks without their own
    sip_tls_port: int | None = None
    sip_tls_cert: Path | None = None
    sip_tls_key: Path | None = None
    sip_tls_ca: Path | None = None
    sip_enabled: bool = True
    # a SIP TCP connection silent this long is closed (unless a call still uses it)
    sip_tcp_idle_timeout: float = 120.0
    # bytes one SIP TCP connection may hold unframed (in) or unsent (out) before closing
    sip_tcp_max_buffer: int = 64 * 1024
    rtp_address: str = "127.0.0.1"
    rtp_ports: str = "20000-29999"
    # the address written into SDP for the relay (a public or 1:1-NAT address); default
    # rtp_address
    rtp_advertise: str = ""
    # put the service in the media path of every call (RTP relay, prompts, recording, PIN)
    media_enabled: bool = True
    media_inactivity_timeout: float = 60.0
    recordings_dir: Path | None = None  # default: <data_dir>/recordings
    prompt_cache_dir: Path | None = None  # default: <data_dir>/prompts
    # fetch play URLs on loopback/private addresses (tests, operator-internal servers)
    prompts_allow_private: bool = False
    # the service's public base URL, put before the paths in RecordingURL etc.
    public_url: str = ""

    # Requests per second per account (0: no limit) and the burst allowed above it.
    rate_limit: float = 0.0
    rate_limit_burst: int = 100
    allow_private_callbacks: bool = False
    worker_enabled: bool = True

    # HTTP limits (api/server.py, api/parsing.py; docs/api.md "Limits"): seconds for a
    # request's headers to arrive, for its body, and for an idle keep-alive connection;
    # open connections at most.
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keepalive_timeout: float = 5.0
    http_max_connections: int = 1000

    rate_default: Decimal = Decimal("0.01000")
    rate_table: str = ""  # "1=0.0085,44=0.012": per-minute rate by E.164 prefix
    billing_increment: int = 60
    # the session's own charge (its `amount`), billed once when it is created
    session_fee: Decimal = Field(Decimal("0"), ge=0, max_digits=14, decimal_places=5)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'vts.sqlite3').resolve()}"

    def trunk_table(self) -> TrunkTable:
        """The trunks: from ``sip_trunks_file``, else the one ``sip_trunk`` (raises
        :class:`~vts_masking.sip.trunks.TrunkConfigError` with the reason)."""
        from .sip.trunks import TrunkConfigError, TrunkTable, load_trunks, parse_target

        allow = tuple(a.strip() for a in self.sip_allow.split(",") if a.strip())
        if self.sip_trunks_file is not None:
            return load_trunks(
                self.sip_trunks_file, allow=allow, allow_loopback=self.sip_allow_loopback
            )
        try:
            addr = parse_target(self.sip_trunk, self.sip_trunk_transport)
            return TrunkTable.single(
                addr,
                self.sip_trunk_transport,
                allow=allow,
                allow_loopback=self.sip_allow_loopback,
            )
        except ValueError as exc:
            raise TrunkConfigError(f"sip_trunk: {exc}") from None

    def retention_policy(self) -> RetentionPolicy:
        from .store.retention import RetentionPolicy

        return RetentionPolicy(
            event_days=self.event_retention_days,
            call_days=self.call_retention_days,
            batch=self.retention_batch,
        )

    def rtp_port_range(self) -> tuple[int, int]:
        lo, _, hi = self.rtp_ports.partition("-")
        return int(lo), int(hi or lo)

    def recordings_path(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"

    def prompt_cache_path(self) -> Path:
        return self.prompt_cache_dir or self.data_dir / "prompts"

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def rate_table_obj(self) -> RateTable:
        return RateTable(
            default_rate=self.rate_default,
            increment=self.billing_increment,
            rates=parse_rates(self.rate_table),
        )
