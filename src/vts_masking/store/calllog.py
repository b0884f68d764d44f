"""What calls need of the store: the routing lookup, and the records every call leaves.

Named operations the call engine uses (docs/architecture.md: no SQL outside ``store``):
:meth:`CallLog.route` resolves (virtual number, caller) to a decision per
docs/calls.md#routing-a-call-to-a-virtual-number; the ``leg_*``/``call_*`` operations write
Call records, the session's interaction and totals, and the session events — each in one
transaction with its events (the outbox), so a crash never leaves an event without its cause
or the reverse.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, literal, select, union_all, update

from ..domain.billing import RateTable
from ..domain.views import account_path
from . import outbox
from .base import Database
from .models import accounts, bindings, calls, interactions, numbers, recordings, sessions
from .prepared import Prepared

Role = Literal["first", "second"]

# The write transaction a batch of record operations shares (CallLog.batch), per thread:
# set only on the thread running the batch, so any other caller gets its own transaction.
_batch = threading.local()


@contextlib.contextmanager
def _write(db: Database) -> Iterator[Connection]:
    """The transaction a record operation writes in: the batch's, when one is open on
    this thread, else one of its own."""
    conn = getattr(_batch, "conn", None)
    if conn is not None:
        yield conn
        return
    with db.write() as own:
        yield own


def _emit(conn: Connection, session_id: int, names: list[str], at: datetime, **kw: Any) -> None:
    """Emit a session's events in ``conn``'s transaction: inside a batch they wait for its
    end (``outbox.Deferred``: one sequence bump per session, one INSERT for the batch),
    else they are written now."""
    if getattr(_batch, "conn", None) is conn:  # a batch's connection: it has its events
        _batch.events.add(session_id, names, at, outbox.Happened(**kw))
    else:
        outbox.emit_for(conn, session_id, names, at, **kw)


NUMBER_BY_E164 = select(numbers.c.id, numbers.c.answer_url, numbers.c.state).where(
    numbers.c.number == bindparam("number"), numbers.c.state != "removed"
)
# The binding is found by its unique (number, key) index first, then its session by
# primary key: two point lookups whatever the planner thinks of the join.
_BOUND_SESSION = (
    select(bindings.c.session_id)
    .where(
        bindings.c.number_id == bindparam("number_id"),
        bindings.c.key == bindparam("key"),
        bindings.c.blocked_until > bindparam("now"),
    )
    .scalar_subquery()
)
SESSION_BY_KEY = select(sessions).where(
    sessions.c.id == _BOUND_SESSION,
    sessions.c.status == "active",
    sessions.c.expiry_time > bindparam("now"),
)

# The record writes, built once and run on the driver's cursor (store/prepared.py): a
# statement built or executed through SQLAlchemy per call costs more CPU (values(), cache
# keys, execution context) than SQLite takes to run it.
INSERT_INTERACTION = Prepared(
    interactions.insert().returning(interactions.c.id),
    [
        "session_id",
        "start_time",
        "duration",
        "call_billed_duration",
        "total_call_amount",
        "total_call_count",
    ],
)
INSERT_CALL = Prepared(
    calls.insert().returning(calls.c.id),
    [
        "uuid",
        "account_id",
        "session_id",
        "interaction_id",
        "party",
        "direction",
        "from_number",
        "to_number",
        "status",
        "initiation_time",
        "duration",
        "billed_duration",
        "amount",
    ],
)
_THIS_INTERACTION = interactions.c.id == bindparam("p_interaction_id")
_THIS_CALL = calls.c.id == bindparam("p_call_id")
_THIS_SESSION = sessions.c.id == bindparam("p_session_id")
SESSION_CALL_STARTS = Prepared(
    update(sessions)
    .where(_THIS_SESSION)
    .values(active_calls=sessions.c.active_calls + 1, last_interaction_time=bindparam("p_at"))
)
LEG_JOINS_INTERACTION = {
    role: Prepared(
        update(interactions)
        .where(_THIS_INTERACTION)
        .values(
            {
                f"{role}_party_call_id": bindparam("p_call_id"),
                f"{role}_party_status": "initiated",
                "total_call_count": interactions.c.total_call_count + 1,
            }
        )
    )
    for role in ("first", "second")
}
LEG_STATUS = {
    role: Prepared(
        update(interactions)
        .where(_THIS_INTERACTION)
        .values({f"{role}_party_status": bindparam("p_status")})
    )
    for role in ("first", "second")
}
CALL_ANSWERED = Prepared(
    update(calls).where(_THIS_CALL).values(status="in-progress", answer_time=bindparam("p_at"))
)
CALL_FINISHED = Prepared(
    update(calls)
    .where(_THIS_CALL)
    .values(
        status=bindparam("p_status"),
        end_time=bindparam("p_at"),
        duration=bindparam("p_duration"),
        billed_duration=bindparam("p_billed"),
        amount=bindparam("p_amount"),
        hangup_cause=bindparam("p_cause"),
        hangup_cause_code=bindparam("p_cause_code"),
        sip_status=bindparam("p_sip_status"),
    )
)
LEG_FINISHED = {
    role: Prepared(
        update(interactions)
        .where(_THIS_INTERACTION)
        .values(
            {
                f"{role}_party_status": bindparam("p_status"),
                "call_billed_duration": interactions.c.call_billed_duration + bindparam("p_billed"),
                "total_call_amount": interactions.c.total_call_amount + bindparam("p_amount"),
            }
        )
    )
    for role in ("first", "second")
}
SET_LAST_PEER = update(sessions).where(_THIS_SESSION).values(last_peer=bindparam("p_peer"))
# its start_time and amounts come back through the types' result processors (a datetime,
# Decimals), as conn.execute would read them
INTERACTION_BY_ID = Prepared(select(interactions).where(_THIS_INTERACTION))
INTERACTION_ENDS = Prepared(
    update(interactions)
    .where(_THIS_INTERACTION)
    .values(end_time=bindparam("p_at"), duration=bindparam("p_duration"))
)
SESSION_CALL_ENDS = Prepared(
    update(sessions)
    .where(_THIS_SESSION)
    .values(
        active_calls=sessions.c.active_calls - 1,
        total_call_count=sessions.c.total_call_count + bindparam("p_count"),
        total_call_amount=sessions.c.total_call_amount + bindparam("p_amount"),
        total_call_billed_duration=sessions.c.total_call_billed_duration + bindparam("p_billed"),
        last_interaction_time=bindparam("p_at"),
    )
)


# What a routing decision reads of a session: only these columns, so a lookup per call
# does not convert the session's timestamps and amounts it never looks at.
ROUTE_COLUMNS = (
    sessions.c.id,
    sessions.c.uuid,
    sessions.c.account_id,
    sessions.c.virtual_number,
    sessions.c.first_party,
    sessions.c.second_party,
    sessions.c.last_peer,
    sessions.c.params,
)


def _route_candidates() -> Any:
    """Every session a call to ``:number`` from ``:caller`` may belong to, in one round
    trip: the caller's own (``via`` = the caller), the single-party one (``via`` = ``*``)
    and the newest live one (``via`` = ``latest``, for a stranger's PIN or prompt).
    No row at all: the number has no live session (or does not exist)."""
    number_id = (
        select(numbers.c.id)
        .where(numbers.c.number == bindparam("number"), numbers.c.state != "removed")
        .scalar_subquery()
    )
    live = (sessions.c.status == "active", sessions.c.expiry_time > bindparam("now"))
    keyed = (
        select(bindings.c.key.label("via"), *ROUTE_COLUMNS)
        .join(sessions, sessions.c.id == bindings.c.session_id)
        .where(
            bindings.c.number_id == number_id,
            bindings.c.key.in_([bindparam("caller"), "*"]),
            bindings.c.blocked_until > bindparam("now"),
            *live,
        )
    )
    newest = (
        select(*ROUTE_COLUMNS)
        .where(sessions.c.number_id == number_id, *live)
        .order_by(sessions.c.id.desc())
        .limit(1)
        .subquery()
    )
    return union_all(keyed, select(literal("latest").label("via"), *newest.c))


ROUTE_CANDIDATES = _route_candidates()
# run on the driver's cursor, once per call (its columns are plain ints and strings, so
# its records are made without a processor)
_ROUTE_CANDIDATES = Prepared(ROUTE_CANDIDATES)


@dataclass
class Route:
    """The routing decision for one inbound call (docs/calls.md)."""

    kind: Literal["bridge", "reject", "pin", "unknown_caller_play", "application"]
    status: int = 0
    reason: str = ""
    session_id: int | None = None
    session_uuid: str | None = None
    account_id: int | None = None
    virtual_number: str | None = None
    caller_role: Role | None = None  # the role the caller plays in this call
    target: str | None = None  # number to dial
    params: dict[str, Any] = field(default_factory=dict)
    answer_url: str | None = None
    #: a registered party of a PIN session, let through without a PIN (AuthorizedCaller)
    authorized_caller: bool = False


def other(role: Role) -> Role:
    return "second" if role == "first" else "first"


@dataclass
class CallRef:
    """What the engine keeps of a call between store operations."""

    session_id: int
    session_uuid: str
    account_id: int
    virtual_number: str
    interaction_id: int | None = None
    legs: dict[str, tuple[int, str, Role]] = field(
        default_factory=dict
    )  # leg id → (row id, uuid, role)


class CallLog:
    def __init__(self, db: Database, rates: RateTable) -> None:
        self.db = db
        self.rates = rates

    @contextlib.contextmanager
    def batch(self) -> Iterator[Connection]:
        """One write transaction for many record operations (``leg_*``, ``call_*``,
        ``pin_status`` and RecordingLog's) run on this thread inside it: they commit
        together, or — when one raises — roll back together (the call engine's writer
        then runs each alone). Every event still commits with the change that caused it."""
        if getattr(_batch, "conn", None) is not None:  # before taking the write lock
            raise RuntimeError("a record batch is already open on this thread")
        with self.db.write() as conn, self.joined(conn):
            yield conn

    @contextlib.contextmanager
    def joined(self, conn: Connection) -> Iterator[Connection]:
        """A batch in a write transaction someone else began and ends (the loop's group
        commit, ``Database.run_write``): the record operations run in ``conn`` on this
        thread, and their events are written when the block ends without an error."""
        if getattr(_batch, "conn", None) is not None:
            raise RuntimeError("a record batch is already open on this thread")
        _batch.conn, _batch.events = conn, outbox.Deferred()
        try:
            yield conn
            _batch.events.flush(conn)  # the batch's events, before it commits
        finally:
            _batch.conn = _batch.events = None

    # -- routing --------------------------------------------------------------------

    def route(self, virtual_number: str, caller: str) -> Route:
        """docs/calls.md#routing-a-call-to-a-virtual-number. One round trip when the number
        has a live session (a party's call, or a stranger's), two when it has none (404,
        application or 480)."""
        now = self.db.clock.now()
        # Only a number can be a party: a From user such as "*" or "anonymous" must
        # never match a binding key (NULL matches nothing).
        party_key = caller if caller.startswith("+") else None
        with self.db.read() as conn:
            found = {
                row.via: row
                for row in _ROUTE_CANDIDATES.all(
                    conn, {"number": virtual_number, "caller": party_key, "now": now}
                )
            }
            number = None
            if not found:
                number = conn.execute(NUMBER_BY_E164, {"number": virtual_number}).first()
        if party_key is not None and party_key in found:
            return self._route_party(found[party_key], caller)
        if "*" in found:
            return self._route_to_single(found["*"], caller)
        latest = found.get("latest")
        if latest is None:
            if number is None:
                return Route("reject", 404, "Not Found")
            if number.answer_url:
                return Route(
                    "application", answer_url=number.answer_url, virtual_number=virtual_number
                )
            return Route("reject", 480, "Temporarily Unavailable")
        params = json.loads(latest.params)
        if params.get("is_pin_authentication_required"):
            return self._make(latest, "pin", None, None, params)
        if params.get("unknown_caller_play"):
            return self._make(latest, "unknown_caller_play", None, None, params)
        return Route("reject", 403, "Forbidden")

    def _make(
        self,
        row: Any,
        kind: Any,
        role: Role | None,
        target: str | None,
        params: dict[str, Any] | None = None,
    ) -> Route:
        """A decision for the session ``row`` (``params``: its parameters, if parsed)."""
        return Route(
            kind,
            session_id=row.id,
            session_uuid=row.uuid,
            account_id=row.account_id,
            virtual_number=row.virtual_number,
            caller_role=role,
            target=target,
            params=params if params is not None else json.loads(row.params),
        )

    def _route_party(self, row: Any, caller: str) -> Route:
        params = json.loads(row.params)
        role: Role = "first" if row.first_party == caller else "second"
        if params.get("is_pin_authentication_required") and params.get("force_pin_authentication"):
            return self._make(row, "pin", None, None, params)
        target = row.second_party if role == "first" else row.first_party
        if target is None:  # the registered party of a single-party session calls back
            target = row.last_peer
            if target is None:
                return Route("reject", 480, "Temporarily Unavailable")
        route = self._make(row, "bridge", role, target, params)
        route.authorized_caller = bool(params.get("is_pin_authentication_required"))
        return route

    def session_by_pin(
        self, virtual_number: str, pin: str, caller: str | None = None
    ) -> Route | None:
        """The live session on ``virtual_number`` whose first or second party PIN is
        ``pin``, as a bridge from that party to the other one (docs/calls.md#pin-entry).

        On a single-party session either PIN names the session: a stranger (``caller``)
        reaches the registered party and is remembered for the call back; the registered
        party itself (made to key a PIN by ``force_pin_authentication``) calls the last
        stranger back."""
        if not pin:
            return None
        now = self.db.clock.now()
        with self.db.read() as conn:
            number = conn.execute(NUMBER_BY_E164, {"number": virtual_number}).first()
            if number is None:
                return None
            row = conn.execute(
                SESSION_BY_KEY, {"number_id": number.id, "now": now, "key": f"pin:{pin}"}
            ).first()
        if row is None:
            return None
        params = json.loads(row.params)
        if params.get("first_party_pin") == pin:
            role: Role = "first"
        elif params.get("second_party_pin") == pin:
            role = "second"
        else:
            return None
        if row.first_party is None or row.second_party is None:  # a single-party session
            registered = row.first_party or row.second_party
            if registered is None:
                return None
            registered_role: Role = "first" if row.first_party else "second"
            if caller == registered:
                if row.last_peer is None:
                    return None
                return self._make(row, "bridge", registered_role, row.last_peer, params)
            self._remember_peer(row, caller or "")
            return self._make(row, "bridge", other(registered_role), registered, params)
        target = row.second_party if role == "first" else row.first_party
        return self._make(row, "bridge", role, target, params)

    def pin_status(
        self,
        ref: CallRef,
        leg_id: str | None,
        status: str,
        counter: int,
        from_number: str,
        to_number: str,
        at: datetime,
    ) -> None:
        """``SessionPinAuthenticationStatus`` (success | failed | AuthorizedCaller)."""
        call_uuid = ref.legs[leg_id][1] if leg_id in ref.legs else None
        with _write(self.db) as conn:
            _emit(
                conn,
                ref.session_id,
                ["SessionPinAuthenticationStatus"],
                at,
                from_number=from_number,
                to_number=to_number,
                call_uuid=call_uuid,
                extra={"PinAuthenticationStatus": status, "PinRetryCounter": counter},
            )

    def _route_to_single(self, row: Any, caller: str) -> Route:
        """Any caller reaches the registered party; remember them for the call back."""
        registered_role: Role = "first" if row.first_party else "second"
        target = row.first_party or row.second_party
        self._remember_peer(row, caller)
        return self._make(row, "bridge", other(registered_role), target)

    def _remember_peer(self, row: Any, caller: str) -> None:
        """The stranger a single-party session's registered party calls back: the last
        caller who got through. An anonymous caller gets through but cannot be called
        back (nor can the stranger before them: the call back goes to the last caller or
        nobody)."""
        peer = caller if caller.startswith("+") else None
        if row.last_peer != peer:  # a write on the routing path only when it changes
            with self.db.write() as conn:
                conn.execute(SET_LAST_PEER, {"p_session_id": row.id, "p_peer": peer})

    def session_for_call(self, session_uuid: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(select(sessions).where(sessions.c.uuid == session_uuid)).first()

    # -- records --------------------------------------------------------------------

    def call_started(self, ref: CallRef, at: datetime) -> None:
        """A call begins: an interaction opens and the session reads ``in-progress``."""
        with _write(self.db) as conn:
            ref.interaction_id = INSERT_INTERACTION.scalar(
                conn,
                {
                    "session_id": ref.session_id,
                    "start_time": at,
                    "duration": 0,
                    "call_billed_duration": 0,
                    "total_call_amount": Decimal(0),
                    "total_call_count": 0,
                },
            )
            SESSION_CALL_STARTS.run(conn, {"p_session_id": ref.session_id, "p_at": at})

    def leg_initiated(
        self,
        ref: CallRef,
        leg_id: str,
        role: Role,
        direction: str,
        from_number: str,
        to_number: str,
        at: datetime,
    ) -> str:
        call_uuid = str(uuid.uuid4())
        with _write(self.db) as conn:
            row_id = INSERT_CALL.scalar(
                conn,
                {
                    "uuid": call_uuid,
                    "account_id": ref.account_id,
                    "session_id": ref.session_id,
                    "interaction_id": ref.interaction_id,
                    "party": role,
                    "direction": direction,
                    "from_number": from_number,
                    "to_number": to_number,
                    "status": "ringing" if direction == "outbound" else "in-progress",
                    "initiation_time": at,
                    "duration": 0,
                    "billed_duration": 0,
                    "amount": Decimal(0),
                },
            )
            ref.legs[leg_id] = (row_id, call_uuid, role)
            LEG_JOINS_INTERACTION[role].run(
                conn,
                {"p_interaction_id": ref.interaction_id, "p_call_id": row_id},
            )
            _emit(
                conn,
                ref.session_id,
                [_event(role, "Initiated")],
                at,
                from_number=from_number,
                to_number=to_number,
                call_uuid=call_uuid,
            )
        return call_uuid

    def leg_ringing(
        self, ref: CallRef, leg_id: str, from_number: str, to_number: str, at: datetime
    ) -> None:
        _row_id, call_uuid, role = ref.legs[leg_id]
        with _write(self.db) as conn:
            LEG_STATUS[role].run(
                conn, {"p_interaction_id": ref.interaction_id, "p_status": "ringing"}
            )
            _emit(
                conn,
                ref.session_id,
                [_event(role, "Ringing")],
                at,
                from_number=from_number,
                to_number=to_number,
                call_uuid=call_uuid,
            )

    def leg_answered(
        self,
        ref: CallRef,
        leg_id: str,
        direction: str,
        from_number: str,
        to_number: str,
        at: datetime,
    ) -> None:
        row_id, call_uuid, role = ref.legs[leg_id]
        with _write(self.db) as conn:
            CALL_ANSWERED.run(conn, {"p_call_id": row_id, "p_at": at})
            LEG_STATUS[role].run(
                conn, {"p_interaction_id": ref.interaction_id, "p_status": "answered"}
            )
            names = ["SessionVirtualNumberAnswer"] if direction == "inbound" else []
            names.append(_event(role, "Answer"))
            _emit(
                conn,
                ref.session_id,
                names,
                at,
                from_number=from_number,
                to_number=to_number,
                call_uuid=call_uuid,
            )

    def leg_finished(
        self,
        ref: CallRef,
        leg_id: str,
        *,
        answered_at: datetime | None,
        sip_status: int | None,
        cause: str | None,
        cause_code: int | None,
        from_number: str,
        to_number: str,
        at: datetime,
    ) -> None:
        """A leg is over: billed if it was answered, else recorded as failed."""
        row_id, call_uuid, role = ref.legs[leg_id]
        duration = int((at - answered_at).total_seconds()) if answered_at else 0
        billed, amount = self.rates.amount(to_number, duration) if answered_at else (0, Decimal(0))
        status = "completed" if answered_at else _failed_status(sip_status, cause)
        extra = {"HangupCause": cause, "HangupCauseCode": cause_code}
        with _write(self.db) as conn:
            CALL_FINISHED.run(
                conn,
                {
                    "p_call_id": row_id,
                    "p_status": status,
                    "p_at": at,
                    "p_duration": duration,
                    "p_billed": billed,
                    "p_amount": amount,
                    "p_cause": cause,
                    "p_cause_code": cause_code,
                    "p_sip_status": sip_status,
                },
            )
            LEG_FINISHED[role].run(
                conn,
                {
                    "p_interaction_id": ref.interaction_id,
                    "p_status": status,
                    "p_billed": billed,
                    "p_amount": amount,
                },
            )
            if answered_at:
                extra.update(Duration=duration, BilledDuration=billed, Amount=f"{amount:.5f}")
                names = [_event(role, "Complete")]
            else:
                names = [_event(role, "Failed")]
            _emit(
                conn,
                ref.session_id,
                names,
                at,
                from_number=from_number,
                to_number=to_number,
                call_uuid=call_uuid,
                extra=extra,
            )

    def call_ended(self, ref: CallRef, at: datetime, *, both_answered: bool) -> None:
        """Close the interaction, add it to the session's totals, leave ``in-progress``."""
        with _write(self.db) as conn:
            this = {"p_interaction_id": ref.interaction_id}
            inter = INTERACTION_BY_ID.first(conn, this)
            if inter is None:
                raise LookupError(f"no interaction {ref.interaction_id}")
            duration = int((at - inter.start_time).total_seconds())
            INTERACTION_ENDS.run(conn, {**this, "p_at": at, "p_duration": duration})
            SESSION_CALL_ENDS.run(
                conn,
                {
                    "p_session_id": ref.session_id,
                    "p_count": inter.total_call_count,
                    "p_amount": inter.total_call_amount,
                    "p_billed": inter.call_billed_duration,
                    "p_at": at,
                },
            )
            if both_answered:
                _emit(
                    conn, ref.session_id, ["SessionPartiesHangup"], at, extra={"Duration": duration}
                )


@dataclass
class RecordingRef:
    """A recording in progress, as the engine keeps it until the call ends."""

    uuid: str
    format: str  # "wav" | "mp3"
    path: str
    start_time: datetime
    row_id: int | None = None


def _recording_extra(
    conn: Connection, ref: CallRef, rec: RecordingRef, base_url: str, **more: Any
) -> dict[str, Any]:
    auth_id = conn.execute(
        select(accounts.c.auth_id).where(accounts.c.id == ref.account_id)
    ).scalar_one()
    resource = f"{base_url}{account_path(auth_id)}Recording/{rec.uuid}/"
    return {
        "RecordingUUID": rec.uuid,
        "RecordingURL": f"{resource}Media/",
        "RecordingResourceURL": resource,
        "RecordingFormat": f".{rec.format}",
        "RecordingStartTime": rec.start_time.strftime("%Y-%m-%d %H:%M:%S"),
        **more,
    }


class RecordingLog:
    """Store operations for call recordings (rows, the interaction's link, events)."""

    def __init__(self, db: Database, base_url: str = "") -> None:
        self.db = db
        self.base_url = base_url

    def recording_started(self, ref: CallRef, rec: RecordingRef, leg_id: str | None) -> None:
        """A Recording row (in-progress), linked to the interaction; Initiated event."""
        call_row = ref.legs[leg_id][0] if leg_id in ref.legs else None
        with _write(self.db) as conn:
            rec.row_id = conn.execute(
                recordings.insert().values(
                    uuid=rec.uuid,
                    account_id=ref.account_id,
                    session_id=ref.session_id,
                    call_id=call_row,
                    format=rec.format,
                    path=rec.path,
                    status="in-progress",
                    start_time=rec.start_time,
                    duration=0.0,
                    size=0,
                    deleted=False,
                )
            ).inserted_primary_key[0]
            if ref.interaction_id is not None:
                conn.execute(
                    update(interactions)
                    .where(interactions.c.id == ref.interaction_id)
                    .values(recording_id=rec.row_id)
                )
            _emit(
                conn,
                ref.session_id,
                ["SessionRecordingInitiated"],
                rec.start_time,
                call_uuid=ref.legs[leg_id][1] if leg_id in ref.legs else None,
                extra=_recording_extra(conn, ref, rec, self.base_url),
            )

    def recording_finished(
        self,
        ref: CallRef,
        rec: RecordingRef,
        leg_id: str | None,
        at: datetime,
        *,
        duration: float,
        size: int,
        failed: bool,
    ) -> None:
        """The file is written (or could not be): row completed/failed and its event."""
        if rec.row_id is None:
            return
        with _write(self.db) as conn:
            conn.execute(
                update(recordings)
                .where(recordings.c.id == rec.row_id)
                .values(
                    status="failed" if failed else "completed",
                    end_time=at,
                    duration=duration,
                    size=size,
                )
            )
            _emit(
                conn,
                ref.session_id,
                ["SessionRecordingFailed" if failed else "SessionRecordingCompleted"],
                at,
                call_uuid=ref.legs[leg_id][1] if leg_id in ref.legs else None,
                extra=_recording_extra(
                    conn,
                    ref,
                    rec,
                    self.base_url,
                    RecordingEndTime=at.strftime("%Y-%m-%d %H:%M:%S"),
                    RecordingDuration=round(duration),
                    RecordingDurationMs=round(duration * 1000),
                ),
            )


def _event(role: Role, what: str) -> str:
    return f"Session{'First' if role == 'first' else 'Second'}Party{what}"


def _failed_status(sip_status: int | None, cause: str | None) -> str:
    if cause == "ORIGINATOR_CANCEL" or sip_status == 487:
        return "canceled"
    if sip_status in (486, 600):
        return "busy"
    if sip_status in (408, 480) or cause in ("NO_ANSWER", "NO_USER_RESPONSE"):
        return "no-answer"
    return "failed"
