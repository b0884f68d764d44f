"""The schema: accounts, the number pool, sessions, their bindings, calls and the outbox.

SQLAlchemy Core tables (no ORM: the hot paths are a handful of statements and Core keeps
them visible). Alembic migrations under ``store/migrations`` create exactly this.
Timestamps are naive UTC; money is ``Numeric`` read back as ``Decimal``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

Money = Numeric(14, 5, asdecimal=True)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("auth_id", String(20), nullable=False, unique=True),
    Column("auth_token", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    # NULL for a main account; the main account's id for a subaccount.
    Column("parent_id", Integer, ForeignKey("accounts.id"), nullable=True, index=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created_time", DateTime, nullable=False),
    Column("modified_time", DateTime, nullable=False),
    # What the family's account update sets (POST .../ with name, city, address).
    Column("city", String(255), nullable=True),
    Column("address", String(1000), nullable=True),
)

numbers = Table(
    "numbers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    # The pool the number serves: a subaccount's id, or the main account's id.
    Column("pool_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("country", String(2), nullable=False),
    Column("alias", String(255), nullable=True),
    Column("app_id", String(64), nullable=True),
    Column("answer_url", String(1000), nullable=True),
    # The family's number_type (local | mobile | tollfree | national), from phonenumbers.
    Column("number_type", String(16), nullable=True),
    # in_service | draining (takes no new sessions, removed when its last one ends)
    Column("state", String(16), nullable=False, default="in_service"),
    Column("spread", Float, nullable=False),
    Column("added_time", DateTime, nullable=False),
    Column("modified_time", DateTime, nullable=False),
    Index("ix_numbers_alloc_geo", "pool_id", "state", "country", "spread"),
    Index("ix_numbers_alloc_any", "pool_id", "state", "spread"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("subaccount_id", Integer, ForeignKey("accounts.id"), nullable=True),
    Column("number_id", Integer, ForeignKey("numbers.id"), nullable=False),
    Column("virtual_number", String(20), nullable=False),
    Column("first_party", String(20), nullable=True),
    Column("second_party", String(20), nullable=True),
    # active | expired. "in-progress" is derived from active_calls; an active session
    # whose expiry_time has passed reads as expired before the sweeper marks it.
    Column("status", String(16), nullable=False),
    Column("active_calls", Integer, nullable=False, default=0),
    Column("created_time", DateTime, nullable=False),
    Column("modified_time", DateTime, nullable=False),
    Column("expiry_time", DateTime, nullable=False),
    Column("ended_time", DateTime, nullable=True),
    Column("duration", Integer, nullable=False),
    Column("last_interaction_time", DateTime, nullable=True),
    # The last number that reached a single-party session (docs/calls.md#single-party-sessions).
    Column("last_peer", String(20), nullable=True),
    Column("params", Text, nullable=False),  # JSON of the validated parameters
    Column("amount", Money, nullable=False),
    Column("total_call_count", Integer, nullable=False, default=0),
    Column("total_call_amount", Money, nullable=False),
    Column("total_call_billed_duration", Integer, nullable=False, default=0),
    Column("event_seq", Integer, nullable=False, default=0),
    Index("ix_sessions_account_created", "account_id", "created_time"),
    Index("ix_sessions_sub_created", "subaccount_id", "created_time"),
    Index("ix_sessions_due", "status", "expiry_time"),
    # Routing's "newest active session on this number": all three columns usable, so
    # no planner (SQLite without statistics included) prefers ix_sessions_due for it.
    Index("ix_sessions_number_live", "number_id", "status", "expiry_time"),
    Index("ix_sessions_first", "first_party"),
    Index("ix_sessions_second", "second_party"),
)

# Live claims of a session on its number (see domain/allocation.py). The unique index is
# the allocation rule; rows whose blocked_until has passed are dead and get swept.
bindings = Table(
    "bindings",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("number_id", Integer, ForeignKey("numbers.id"), nullable=False),
    Column("key", String(24), nullable=False),
    Column("session_id", BigInteger, ForeignKey("sessions.id"), nullable=False, index=True),
    Column("blocked_until", DateTime, nullable=False, index=True),
    UniqueConstraint("number_id", "key", name="uq_bindings_number_key"),
)

calls = Table(
    "calls",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("session_id", BigInteger, ForeignKey("sessions.id"), nullable=True, index=True),
    Column("interaction_id", BigInteger, nullable=True, index=True),
    Column("party", String(8), nullable=True),  # first | second
    Column("direction", String(8), nullable=False),  # inbound | outbound
    Column("from_number", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("initiation_time", DateTime, nullable=False),
    Column("answer_time", DateTime, nullable=True),
    Column("end_time", DateTime, nullable=True),
    Column("duration", Integer, nullable=False, default=0),
    Column("billed_duration", Integer, nullable=False, default=0),
    Column("amount", Money, nullable=False),
    Column("hangup_cause", String(64), nullable=True),
    Column("hangup_cause_code", Integer, nullable=True),
    Column("sip_status", Integer, nullable=True),
    # GET .../Call/: an account's legs, newest first.
    Index("ix_calls_account_initiated", "account_id", "initiation_time"),
    # The console's "calls per hour" and "calls in progress" read a recent time range.
    Index("ix_calls_initiation_time", "initiation_time"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("session_id", BigInteger, ForeignKey("sessions.id"), nullable=False, index=True),
    Column("start_time", DateTime, nullable=False),
    Column("end_time", DateTime, nullable=True),
    Column("duration", Integer, nullable=False, default=0),
    Column("first_party_call_id", BigInteger, nullable=True),
    Column("second_party_call_id", BigInteger, nullable=True),
    Column("first_party_status", String(16), nullable=True),
    Column("second_party_status", String(16), nullable=True),
    Column("recording_id", BigInteger, nullable=True),
    Column("call_billed_duration", Integer, nullable=False, default=0),
    Column("total_call_amount", Money, nullable=False),
    Column("total_call_count", Integer, nullable=False, default=0),
)

recordings = Table(
    "recordings",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("session_id", BigInteger, ForeignKey("sessions.id"), nullable=True, index=True),
    Column("call_id", BigInteger, ForeignKey("calls.id"), nullable=True, index=True),
    Column("format", String(4), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("status", String(16), nullable=False),  # in-progress | completed | failed
    Column("start_time", DateTime, nullable=False),
    Column("end_time", DateTime, nullable=True),
    Column("duration", Float, nullable=False, default=0.0),
    Column("size", BigInteger, nullable=False, default=0),
    Column("deleted", Boolean, nullable=False, default=False),
)

# Every event the service will send, written in the transaction of its cause.
# The condition of ix_outbox_open_session: a session's events not finished yet, in SQL
# with literal values (a partial index serves only queries whose condition implies it:
# the same literal values, not parameters). "session_id IS NOT NULL" keeps the claim's
# scan for candidates off it: that one names no session, so only the order check (its
# session_id = ... implies NOT NULL) can use it, and the candidates walk ix_outbox_due
# in order, even when the planner's statistics say the open rows are few.
OPEN_EVENTS = "session_id IS NOT NULL AND status IN ('pending', 'delivering')"
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("session_id", BigInteger, ForeignKey("sessions.id"), nullable=True),
    Column("seq", Integer, nullable=False),
    Column("event_name", String(64), nullable=False),
    Column("url", String(1000), nullable=True),
    Column("method", String(4), nullable=False),
    Column("params", Text, nullable=False),  # JSON object of the event's form fields
    # pending | delivering | delivered | failed | skipped (no URL)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("lease_until", DateTime, nullable=True),
    Column("created_time", DateTime, nullable=False),
    Column("delivered_time", DateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_session", "session_id", "seq"),
    # The claim's "is an earlier event of this session still open?": only open rows, so
    # the probe is one short index lookup per candidate whatever the planner believes of
    # the backlog. On PostgreSQL, statistics of a big outbox go stale (autovacuum
    # re-analyses after 10 % of the rows changed) and it walked every open event per
    # candidate: 104 ms a claim with 20 000 waiting (bench/flat/run.py, docs/benchmarks.md).
    Index(
        "ix_outbox_open_session",
        "session_id",
        "seq",
        postgresql_where=text(OPEN_EVENTS),
        sqlite_where=text(OPEN_EVENTS),
    ),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_time", DateTime, nullable=False, index=True),
    UniqueConstraint("account_id", "key", name="uq_idempotency_account_key"),
)

# One row per HTTP attempt to deliver an outbox event: what the receiver answered and how
# long it took (the console shows each attempt; the dashboard reads the p95 latency).
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("event_id", BigInteger, ForeignKey("outbox.id"), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_time", DateTime, nullable=False),  # when the answer (or error) came
    Column("latency_ms", Integer, nullable=False),  # request sent → answer read
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("answer", String(500), nullable=True),  # the start of the receiver's body
    Column("outcome", String(16), nullable=False),  # delivered | retry | failed
    Index("ix_delivery_attempts_account_time", "account_id", "attempted_time"),
)

# Operators of the console (made from the CLI): they see every account. Only a salted
# scrypt hash of the token is kept (unlike accounts, whose token signs callbacks).
console_operators = Table(
    "console_operators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String(20), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("token_hash", String(128), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_time", DateTime, nullable=False),
)

# Signed-in console browsers. The cookie carries a random token; only its SHA-256 is
# kept, so a leaked database does not sign anyone in. A row is a session that any
# process sharing the database honours, and signing out deletes it.
console_logins = Table(
    "console_logins",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("csrf", String(64), nullable=False),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=True),
    Column("operator_id", Integer, ForeignKey("console_operators.id"), nullable=True),
    Column("created_time", DateTime, nullable=False),
    Column("expires_time", DateTime, nullable=False, index=True),
)
