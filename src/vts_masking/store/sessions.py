"""Masking sessions: create (allocation), read, update, expire, list, sweep.

Allocation (docs/reference.md#allocation) is a search for a number of the right pool on
which none of the new session's binding keys is live, walked in each number's fixed random
``spread`` order from a random start and wrapping around: complete (finds a free number
whenever one exists) and spreading load. The unique index on ``bindings (number_id, key)``
is the rule itself: if two creates race for the same (number, party), one insert fails and
that create searches again. On PostgreSQL creates sharing a party also queue on an advisory
lock, so such races are rare rather than retried in bulk.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import anyio.to_thread
from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import DataError, IntegrityError

from ..domain import allocation, errors, phone
from ..domain.list_filters import SessionFilters
from ..domain.session_params import CreateParams, UpdateParams
from ..domain.views import absolute, account_path, interaction_view, session_view
from . import idempotency, outbox
from .accounts import Account, AccountRepo, Principal
from .base import Database
from .filters import comparison_conditions
from .idempotency import Answer, Idempotency
from .models import bindings, calls, interactions, numbers, recordings, sessions
from .prepared import Prepared

MAX_ATTEMPTS = 8
log = logging.getLogger("vts_masking.store")
# What a damaged row raises while it is processed (bad JSON, a value the database or
# the encoder refuses). Connection and operational errors are not among them: those
# fail the whole pass, which the next sweep retries.
ROW_ERRORS = (ValueError, TypeError, LookupError, DataError)


def _key_params(n: int) -> list[Any]:
    # One bound parameter per key (k0, k1, …) rather than an expanding IN: a create has
    # 1–4 keys, and a statement per count compiles once and runs on the driver's cursor.
    return [bindparam(f"k{i}") for i in range(n)]


def _free_number_query(geo: bool, upper: bool, n_keys: int) -> Any:
    """Prebuilt allocation search (compiled once; only parameters change per call)."""
    busy = (
        select(bindings.c.id)
        .where(
            bindings.c.number_id == numbers.c.id,
            bindings.c.key.in_(_key_params(n_keys)),
            bindings.c.blocked_until > bindparam("now"),
        )
        .exists()
    )
    cond = [numbers.c.pool_id == bindparam("pool_id"), numbers.c.state == "in_service", ~busy]
    if geo:
        cond.append(numbers.c.country == bindparam("country"))
    cond.append(
        numbers.c.spread >= bindparam("start") if upper else numbers.c.spread < bindparam("start")
    )
    return select(numbers.c.id, numbers.c.number).where(*cond).order_by(numbers.c.spread).limit(1)


@functools.cache
def _free_number(geo: bool, upper: bool, n_keys: int) -> Prepared:
    return Prepared(_free_number_query(geo, upper, n_keys))


@functools.cache
def _delete_dead_keys(n_keys: int) -> Prepared:
    return Prepared(
        delete(bindings).where(
            bindings.c.number_id == bindparam("number_id"),
            bindings.c.key.in_(_key_params(n_keys)),
            bindings.c.blocked_until <= bindparam("now"),
        )
    )


def _keys(keys: list[str]) -> dict[str, str]:
    return {f"k{i}": key for i, key in enumerate(keys)}


SESSION_COLUMNS = (
    "uuid",
    "account_id",
    "subaccount_id",
    "number_id",
    "virtual_number",
    "first_party",
    "second_party",
    "status",
    "active_calls",
    "created_time",
    "modified_time",
    "expiry_time",
    "ended_time",
    "duration",
    "last_interaction_time",
    "last_peer",
    "params",
    "amount",
    "total_call_count",
    "total_call_amount",
    "total_call_billed_duration",
    "event_seq",
)
INSERT_SESSION = Prepared(sessions.insert().returning(sessions.c.id), SESSION_COLUMNS)
INSERT_BINDING = Prepared(bindings.insert(), ("number_id", "key", "session_id", "blocked_until"))
SESSION_BY_UUID = Prepared(select(sessions).where(sessions.c.uuid == bindparam("uuid")))
STORED_PARAMS = tuple(
    f.name
    for f in dataclasses.fields(CreateParams)
    if f.name not in ("first_party", "second_party", "extra")
)


RACE_CONSTRAINTS = ("uq_bindings_number_key", "bindings.number_id")


def lost_race(exc: IntegrityError) -> bool:
    """A unique violation on a binding or an idempotency key: another writer won."""
    return any(name in str(exc.orig) for name in RACE_CONSTRAINTS) or idempotency.lost_key_race(exc)


def find_free_number(
    conn: Connection, pool_id: int, country: str | None, keys: list[str], now: datetime
) -> Any:
    """The allocation rule's search: an in-service number of the pool on which none of
    ``keys`` is live (``None``: the pool is exhausted for these keys)."""
    values = {
        **_keys(keys),
        "now": now,
        "pool_id": pool_id,
        "country": country,
        "start": allocation.spread_start(),
    }
    for upper in (True, False):  # from a random point to the end, then wrap around
        row = _free_number(country is not None, upper, len(keys)).first(conn, values)
        if row is not None:
            return row
    return None


def move_sessions_off(db: Database, conn: Connection, number_id: int, now: datetime) -> int:
    """Move every active session on a number being taken out of service to another number
    of the same pool, by the allocation rule, and tell each customer
    (``SessionVirtualNumberReplaced``, with ``PreviousVirtualNumber``).

    Runs inside the caller's transaction, after the number has left ``in_service`` (so
    the search cannot pick it again). If one session finds no number, the pool is
    exhausted and nothing moves: the caller's transaction rolls back whole. A call in
    progress keeps its dialog; the session's next calls use the new number. Returns how
    many sessions moved.
    """
    live = conn.execute(
        select(sessions)
        .where(
            sessions.c.number_id == number_id,
            sessions.c.status == "active",
            sessions.c.expiry_time > now,
        )
        .order_by(sessions.c.id)
    ).all()
    for row in live:
        params = json.loads(row.params)
        keys = list(
            conn.execute(select(bindings.c.key).where(bindings.c.session_id == row.id)).scalars()
        )
        db.lock(conn, *[p for p in (row.first_party, row.second_party) if p])
        country = None
        geo_party = row.first_party or row.second_party
        if params.get("geomatch") and geo_party:
            country = phone.country_of(geo_party)
        target = find_free_number(conn, row.subaccount_id or row.account_id, country, keys, now)
        if target is None:
            raise errors.ApiError(errors.POOL_EXHAUSTED)
        _delete_dead_keys(len(keys)).run(conn, {"number_id": target.id, "now": now, **_keys(keys)})
        conn.execute(
            update(bindings).where(bindings.c.session_id == row.id).values(number_id=target.id)
        )
        conn.execute(
            update(sessions)
            .where(sessions.c.id == row.id)
            .values(number_id=target.id, virtual_number=target.number, modified_time=now)
        )
        fresh = conn.execute(select(sessions).where(sessions.c.id == row.id)).one()
        outbox.emit(
            conn,
            fresh,
            "SessionVirtualNumberReplaced",
            now,
            extra={"PreviousVirtualNumber": row.virtual_number},
        )
    return len(live)


class SessionRepo:
    def __init__(self, db: Database, accounts: AccountRepo) -> None:
        self.db = db
        self.accounts = accounts
        # The service's public URL, before the links a session view carries (its
        # interactions' call and recording URLs); set by ``Store.public_url``.
        self.base_url = ""
        self.session_fee = Decimal(0)  # each new session's own ``amount``
        self._stuck: set[int] = set()  # sessions even _set_aside could not mark

    # -- scope ----------------------------------------------------------------------

    def _scope(self, principal: Principal) -> Any:
        if principal.subaccount is not None:
            return sessions.c.subaccount_id == principal.subaccount.id
        return sessions.c.account_id == principal.main.id

    def _owns(self, principal: Principal, row: Any) -> bool:
        if principal.subaccount is not None:
            return row.subaccount_id == principal.subaccount.id
        return row.account_id == principal.main.id

    def _load(self, conn: Connection, principal: Principal, session_uuid: str) -> Any:
        row = SESSION_BY_UUID.first(conn, {"uuid": session_uuid})
        if row is None or not self._owns(principal, row):
            raise errors.NotFound(errors.SESSION_NOT_FOUND)
        return row

    # -- create ---------------------------------------------------------------------

    def _pool(self, principal: Principal, params: CreateParams) -> Account | None:
        """The subaccount a new session belongs to (None: the main account's own)."""
        if principal.subaccount is not None:
            if params.subaccount and params.subaccount != principal.subaccount.auth_id:
                raise errors.invalid("subaccount", "is not this subaccount")
            return principal.subaccount
        if params.subaccount:
            sub = self.accounts.by_auth_id(params.subaccount)
            if sub is None or sub.parent_id != principal.main.id:
                raise errors.invalid("subaccount", "is not a subaccount of this account")
            if not sub.enabled:
                raise errors.invalid("subaccount", "is disabled")
            return sub
        return None

    def find_free_number(
        self,
        conn: Connection,
        pool_id: int,
        country: str | None,
        keys: list[str],
        now: datetime,
    ) -> Any:
        return find_free_number(conn, pool_id, country, keys, now)

    def _create_target(
        self, principal: Principal, params: CreateParams
    ) -> tuple[Account | None, int, str | None]:
        """Who a create allocates for: (subaccount or None, pool id, country or None)."""
        if principal.read_only:
            raise errors.Forbidden(
                "Forbidden. A main account may only read a subaccount's resources."
            )
        sub = self._pool(principal, params)
        pool_id = (sub or principal.main).id
        country = None
        if params.geomatch and params.geo_party:
            country = phone.country_of(params.geo_party)
        return sub, pool_id, country

    def create(
        self,
        principal: Principal,
        params: CreateParams,
        render: Callable[[dict[str, Any]], dict[str, Any]],
        idem: Idempotency | None = None,
    ) -> Answer:
        """Create a session; returns (HTTP status, response body made by ``render``).

        Everything — session, bindings, ``SessionCreated`` event, idempotency record —
        is one transaction: a refused create leaves nothing behind.
        """
        sub, pool_id, country = self._create_target(principal, params)
        last_error: Exception | None = None
        for _ in range(MAX_ATTEMPTS):
            try:
                with self.db.write() as conn:
                    return self._create_in(
                        conn, principal, sub, pool_id, country, params, render, idem
                    )
            except IntegrityError as exc:
                if not lost_race(exc):
                    raise
                last_error = exc  # another create took a key first: search again
                continue
        raise errors.ApiError(errors.POOL_EXHAUSTED) from last_error

    async def create_async(
        self,
        principal: Principal,
        params: CreateParams,
        render: Callable[[dict[str, Any]], dict[str, Any]],
        idem: Idempotency | None = None,
    ) -> Answer:
        """:meth:`create` from async code: on SQLite its transaction is group-committed
        with the other writes of the moment on the event loop (:meth:`Database.run_write`);
        on PostgreSQL it runs in a worker thread."""
        if self.db.postgres:
            return await anyio.to_thread.run_sync(self.create, principal, params, render, idem)
        sub, pool_id, country = await self.db.run_read(self._create_target, principal, params)
        last_error: Exception | None = None
        for _ in range(MAX_ATTEMPTS):
            try:
                return await self.db.run_write(
                    self._create_in, principal, sub, pool_id, country, params, render, idem
                )
            except IntegrityError as exc:
                if not lost_race(exc):
                    raise
                last_error = exc
                continue
        raise errors.ApiError(errors.POOL_EXHAUSTED) from last_error

    def _create_in(
        self,
        conn: Connection,
        principal: Principal,
        sub: Account | None,
        pool_id: int,
        country: str | None,
        params: CreateParams,
        render: Callable[[dict[str, Any]], dict[str, Any]],
        idem: Idempotency | None,
    ) -> Answer:
        """One attempt at a create, in the caller's write transaction."""
        if idem is not None:
            replay = idempotency.replay(conn, idem)
            if replay is not None:
                return replay
        self.db.lock(conn, *params.parties)
        return self._create_once(conn, principal, sub, pool_id, country, params, render, idem)

    def _create_once(
        self,
        conn: Connection,
        principal: Principal,
        sub: Account | None,
        pool_id: int,
        country: str | None,
        params: CreateParams,
        render: Callable[[dict[str, Any]], dict[str, Any]],
        idem: Idempotency | None,
    ) -> Answer:
        now = self.db.clock.now()
        if params.is_pin_authentication_required and params.generate_pin:
            length = params.generate_pin_length
            first_pin = allocation.generate_pin(length)
            second_pin = allocation.generate_pin(length)
            while second_pin == first_pin:
                second_pin = allocation.generate_pin(length)
            params = dataclasses.replace(
                params, first_party_pin=first_pin, second_party_pin=second_pin
            )
        expiry = now + timedelta(seconds=params.session_expiry)
        wanted = allocation.session_bindings(
            parties=params.parties,
            single_party=params.is_single_party,
            pin_required=params.is_pin_authentication_required,
            pins=(params.first_party_pin, params.second_party_pin),
            ends_at=expiry,
            cooloff_seconds=params.virtual_number_cooloff_period,
        )
        keys = [b.key for b in wanted]
        number = self.find_free_number(conn, pool_id, country, keys, now)
        if number is None:
            raise errors.ApiError(errors.POOL_EXHAUSTED)
        # Dead claims (expired, cool-off over) on these keys give way before we insert.
        _delete_dead_keys(len(keys)).run(conn, {"number_id": number.id, "now": now, **_keys(keys)})
        stored = {name: getattr(params, name) for name in STORED_PARAMS}
        stored["subaccount"] = sub.auth_id if sub else None
        row: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "account_id": principal.main.id,
            "subaccount_id": sub.id if sub else None,
            "number_id": number.id,
            "virtual_number": number.number,
            "first_party": params.first_party,
            "second_party": params.second_party,
            "status": "active",
            "active_calls": 0,
            "created_time": now,
            "modified_time": now,
            "expiry_time": expiry,
            "ended_time": None,
            "duration": params.session_expiry,
            "last_interaction_time": None,
            "last_peer": None,
            "params": json.dumps(stored),
            "amount": self.session_fee,
            "total_call_count": 0,
            "total_call_amount": Decimal(0),
            "total_call_billed_duration": 0,
            "event_seq": 1,  # SessionCreated below takes sequence number 1
        }
        row["id"] = INSERT_SESSION.scalar(conn, row)
        INSERT_BINDING.run_many(
            conn,
            [
                {
                    "number_id": number.id,
                    "key": b.key,
                    "session_id": row["id"],
                    "blocked_until": b.blocked_until,
                }
                for b in wanted
            ],
        )
        outbox.emit(conn, SimpleNamespace(**row), "SessionCreated", now, seq=1)
        body = render(session_view(row, now))
        if idem is not None:
            idempotency.remember(conn, idem, 201, body, now)
        return Answer(201, body)

    # -- read -----------------------------------------------------------------------

    def _interactions(
        self, conn: Connection, auth_id: str, session_ids: list[int]
    ) -> dict[int, list[dict[str, Any]]]:
        if not session_ids:
            return {}
        rows = conn.execute(
            select(interactions)
            .where(interactions.c.session_id.in_(session_ids))
            .order_by(interactions.c.start_time, interactions.c.id)
        ).all()
        if not rows:
            return {}
        call_ids = {
            cid
            for r in rows
            for cid in (r.first_party_call_id, r.second_party_call_id)
            if cid is not None
        }
        rec_ids = {r.recording_id for r in rows if r.recording_id is not None}
        call_uuids = (
            dict(
                conn.execute(select(calls.c.id, calls.c.uuid).where(calls.c.id.in_(call_ids))).all()
            )
            if call_ids
            else {}
        )
        rec_uuids = (
            dict(
                conn.execute(
                    select(recordings.c.id, recordings.c.uuid).where(recordings.c.id.in_(rec_ids))
                ).all()
            )
            if rec_ids
            else {}
        )
        root = absolute(self.base_url, account_path(auth_id))
        result: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            result.setdefault(r.session_id, []).append(
                interaction_view(
                    r._mapping,
                    api_root=root,
                    first_call_uuid=call_uuids.get(r.first_party_call_id),
                    second_call_uuid=call_uuids.get(r.second_party_call_id),
                    recording_uuid=rec_uuids.get(r.recording_id),
                )
            )
        return result

    def view(self, conn: Connection, principal: Principal, row: Any) -> dict[str, Any]:
        now = self.db.clock.now()
        inter = (
            self._interactions(conn, principal.path_auth_id, [row.id])
            if row.total_call_count or row.last_interaction_time
            else {}
        )
        return session_view(row._mapping, now, inter.get(row.id))

    def get(self, principal: Principal, session_uuid: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = self._load(conn, principal, session_uuid)
            return self.view(conn, principal, row)

    # -- update / expire --------------------------------------------------------------

    def update(
        self,
        principal: Principal,
        session_uuid: str,
        change: UpdateParams,
        idem: Idempotency | None = None,
        render: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any] | Answer:
        """Change a session; returns its view. With ``idem``, ``render(view)`` is kept
        as the answer to its key in the same transaction (a repeat must not count
        ``session_expiry`` from a later now), and a twin that committed first under the
        same key makes this return that :class:`Answer` instead."""
        if principal.read_only:
            raise errors.Forbidden(
                "Forbidden. A main account may only read a subaccount's resources."
            )
        for _ in range(MAX_ATTEMPTS):
            try:
                with self.db.write() as conn:
                    return self._update_in(conn, principal, session_uuid, change, idem, render)
            except IntegrityError as exc:
                if not lost_race(exc):
                    raise
                continue
        raise errors.InvalidParameter("Could not update the session, please retry.")

    async def update_async(
        self,
        principal: Principal,
        session_uuid: str,
        change: UpdateParams,
        idem: Idempotency | None = None,
        render: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any] | Answer:
        """:meth:`update` from async code: group-committed on SQLite
        (:meth:`Database.run_write`), in a worker thread on PostgreSQL."""
        if self.db.postgres:
            return await anyio.to_thread.run_sync(
                self.update, principal, session_uuid, change, idem, render
            )
        if principal.read_only:
            raise errors.Forbidden(
                "Forbidden. A main account may only read a subaccount's resources."
            )
        for _ in range(MAX_ATTEMPTS):
            try:
                return await self.db.run_write(
                    self._update_in, principal, session_uuid, change, idem, render
                )
            except IntegrityError as exc:
                if not lost_race(exc):
                    raise
                continue
        raise errors.InvalidParameter("Could not update the session, please retry.")

    def _update_in(
        self,
        conn: Connection,
        principal: Principal,
        session_uuid: str,
        change: UpdateParams,
        idem: Idempotency | None,
        render: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> dict[str, Any] | Answer:
        """One attempt at an update, in the caller's write transaction."""
        if idem is not None:
            # a twin under the same key committed first: its answer is ours
            replay = idempotency.replay(conn, idem)
            if replay is not None:
                return replay
        view = self._update_once(conn, principal, session_uuid, change)
        if idem is not None and render is not None:
            idempotency.remember(conn, idem, 200, render(view), self.db.clock.now())
        return view

    def _update_once(
        self, conn: Connection, principal: Principal, session_uuid: str, change: UpdateParams
    ) -> dict[str, Any]:
        now = self.db.clock.now()
        row = self._load(conn, principal, session_uuid)
        if row.status == "expired" or row.expiry_time <= now:
            raise errors.InvalidParameter(errors.SESSION_ALREADY_EXPIRED)
        params = json.loads(row.params)
        values: dict[str, Any] = {}
        params.update(change.changes)
        expiry = row.expiry_time
        if "session_expiry" in change.changes:
            expiry = now + timedelta(seconds=change.changes["session_expiry"])
            values["expiry_time"] = expiry
            values["duration"] = int((expiry - row.created_time).total_seconds())
        parties = {"first_party": row.first_party, "second_party": row.second_party}
        for name in ("first_party", "second_party"):
            new = getattr(change, name)
            if new is None or new == parties[name]:
                continue
            was_single = bool(params.get("create_session_with_single_party")) and (
                row.first_party is None or row.second_party is None
            )
            if not was_single:
                raise errors.invalid(name, "can only be changed on a single-party session")
            parties[name] = new
        if parties["first_party"] == parties["second_party"]:
            raise errors.invalid("second_party", "must be different from first_party")
        parties_changed = (parties["first_party"], parties["second_party"]) != (
            row.first_party,
            row.second_party,
        )
        if parties_changed:
            values.update(parties)
            self.db.lock(conn, *[p for p in parties.values() if p])
        cooloff = int(params.get("virtual_number_cooloff_period") or 0)
        if parties_changed or "session_expiry" in change.changes:
            self._rebind(conn, row, parties, params, expiry, cooloff, now)
        values["params"] = json.dumps(params)
        values["modified_time"] = now
        conn.execute(update(sessions).where(sessions.c.id == row.id).values(**values))
        fresh = conn.execute(select(sessions).where(sessions.c.id == row.id)).one()
        return self.view(conn, principal, fresh)

    def _rebind(
        self,
        conn: Connection,
        row: Any,
        parties: dict[str, str | None],
        params: dict[str, Any],
        expiry: datetime,
        cooloff: int,
        now: datetime,
    ) -> None:
        """Replace a session's bindings after a party or expiry change."""
        present = tuple(p for p in (parties["first_party"], parties["second_party"]) if p)
        wanted = allocation.session_bindings(
            parties=present,
            single_party=len(present) == 1,
            pin_required=bool(params.get("is_pin_authentication_required")),
            pins=(params.get("first_party_pin"), params.get("second_party_pin")),
            ends_at=expiry,
            cooloff_seconds=cooloff,
        )
        keys = [b.key for b in wanted]
        conn.execute(delete(bindings).where(bindings.c.session_id == row.id))
        taken = conn.execute(
            select(bindings.c.key).where(
                bindings.c.number_id == row.number_id,
                bindings.c.key.in_(keys),
                bindings.c.blocked_until > now,
            )
        ).first()
        if taken is not None:
            name = "first_party" if taken.key == parties["first_party"] else "second_party"
            raise errors.invalid(name, "already has an active session on this virtual number")
        conn.execute(
            delete(bindings).where(
                bindings.c.number_id == row.number_id,
                bindings.c.key.in_(keys),
                bindings.c.blocked_until <= now,
            )
        )
        conn.execute(
            bindings.insert(),
            [
                {
                    "number_id": row.number_id,
                    "key": b.key,
                    "session_id": row.id,
                    "blocked_until": b.blocked_until,
                }
                for b in wanted
            ],
        )

    def expire(self, principal: Principal, session_uuid: str) -> None:
        """DELETE: end the session now; it is kept and reads as ``expired``."""
        if principal.read_only:
            raise errors.Forbidden(
                "Forbidden. A main account may only read a subaccount's resources."
            )
        with self.db.write() as conn:
            now = self.db.clock.now()
            row = self._load(conn, principal, session_uuid)
            if row.status == "expired" or row.expiry_time <= now:
                raise errors.InvalidParameter(errors.SESSION_ALREADY_EXPIRED)
            self._end(conn, row, now, now)

    def _end(self, conn: Connection, row: Any, ended: datetime, now: datetime) -> None:
        """Mark a session ended at ``ended``; party keys stay blocked for the cool-off."""
        params = json.loads(row.params)
        cooloff = timedelta(seconds=int(params.get("virtual_number_cooloff_period") or 0))
        conn.execute(
            update(sessions)
            .where(sessions.c.id == row.id)
            .values(
                status="expired",
                ended_time=ended,
                expiry_time=min(row.expiry_time, ended),
                duration=int((min(row.expiry_time, ended) - row.created_time).total_seconds()),
                modified_time=now,
            )
        )
        party_keys = [p for p in (row.first_party, row.second_party) if p]
        if party_keys and cooloff:
            conn.execute(
                update(bindings)
                .where(bindings.c.session_id == row.id, bindings.c.key.in_(party_keys))
                .values(blocked_until=ended + cooloff)
            )
            conn.execute(
                delete(bindings).where(
                    bindings.c.session_id == row.id, bindings.c.key.not_in(party_keys)
                )
            )
        else:
            conn.execute(delete(bindings).where(bindings.c.session_id == row.id))
        if ended >= row.expiry_time:  # reached its expiry (not deleted early)
            fresh = conn.execute(select(sessions).where(sessions.c.id == row.id)).one()
            outbox.emit(conn, fresh, "SessionTimeout", now)

    # -- list -----------------------------------------------------------------------

    def list(
        self, principal: Principal, filters: SessionFilters
    ) -> tuple[int, list[dict[str, Any]]]:
        now = self.db.clock.now()
        cond = [self._scope(principal)]
        if filters.subaccount:
            sub = self.accounts.by_auth_id(filters.subaccount)
            cond.append(
                sessions.c.subaccount_id
                == (sub.id if sub and sub.main_id == principal.main.id else -1)
            )
        for name in ("first_party", "second_party", "virtual_number"):
            value = getattr(filters, name)
            if value:
                cond.append(sessions.c[name] == value)
        live = and_(sessions.c.status == "active", sessions.c.expiry_time > now)
        if filters.status == "active":
            cond += [live, sessions.c.active_calls == 0]
        elif filters.status == "in-progress":
            cond.append(sessions.c.active_calls > 0)
        elif filters.status == "expired":
            cond += [~live, sessions.c.active_calls == 0]
        cond += comparison_conditions(sessions.c, filters.comparisons)
        where = and_(*cond)
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(sessions).where(where)).scalar()
            rows = conn.execute(
                select(sessions)
                .where(where)
                .order_by(sessions.c.created_time.desc(), sessions.c.id.desc())
                .limit(filters.limit)
                .offset(filters.offset)
            ).all()
            inter = self._interactions(
                conn,
                principal.path_auth_id,
                [r.id for r in rows if r.total_call_count or r.last_interaction_time],
            )
            return int(total or 0), [session_view(r._mapping, now, inter.get(r.id)) for r in rows]

    # -- background -----------------------------------------------------------------

    def sweep(self, batch: int = 500) -> int:
        """Mark sessions whose expiry passed as expired, write ``SessionTimeout``,
        release dead bindings and finish draining numbers; returns how many sessions
        were expired. Safe in many processes at once: rows are claimed with
        ``FOR UPDATE SKIP LOCKED`` on PostgreSQL.

        Each of the three steps runs even when another fails (the first failure is
        raised after all ran), and a session that cannot be expired normally is set
        aside on its own (:meth:`_set_aside`) — one bad row never holds back another
        tenant's expiry.
        """
        done = 0
        failure: Exception | None = None
        for step in (self._expire_due, self._release_dead_bindings, self._finish_draining):
            try:
                done += step(batch)
            except Exception as exc:  # the next step, and the next sweep, still run
                failure = failure or exc
        if failure is not None:
            raise failure
        return done

    def _expire_due(self, batch: int) -> int:
        done = 0
        with self.db.write() as conn:
            now = self.db.clock.now()
            query = (
                select(sessions)
                .where(sessions.c.status == "active", sessions.c.expiry_time <= now)
                .order_by(sessions.c.expiry_time)
                .limit(batch)
            )
            if self._stuck:
                query = query.where(sessions.c.id.not_in(self._stuck))
            if self.db.postgres:
                query = query.with_for_update(skip_locked=True)
            for row in conn.execute(query).all():
                try:
                    with conn.begin_nested():  # a savepoint: a failure undoes this row only
                        self._end(conn, row, row.expiry_time, now)
                except ROW_ERRORS as exc:
                    self._set_aside(conn, row, now, exc)
                done += 1
        return done

    def _set_aside(self, conn: Connection, row: Any, now: datetime, exc: Exception) -> None:
        """A session whose expiry cannot be processed (its stored row is damaged: its
        params do not decode, its event cannot be written) is marked expired without
        ``SessionTimeout`` and its bindings are freed, and that is logged once — the
        row no longer comes back. Should even that fail, the row is skipped by this
        process from then on (logged once too), so it never blocks the batch."""
        try:
            with conn.begin_nested():
                conn.execute(
                    update(sessions)
                    .where(sessions.c.id == row.id)
                    .values(status="expired", ended_time=row.expiry_time, modified_time=now)
                )
                conn.execute(delete(bindings).where(bindings.c.session_id == row.id))
            log.error(
                "session %s could not be expired normally (%s: %s); marked expired "
                "without SessionTimeout",
                row.uuid,
                type(exc).__name__,
                exc,
            )
        except ROW_ERRORS as again:
            self._stuck.add(row.id)
            log.error(
                "session %s cannot be expired (%s: %s); skipped from now on",
                row.uuid,
                type(again).__name__,
                again,
            )

    def _release_dead_bindings(self, _batch: int) -> int:
        # Housekeeping in transactions of their own, claiming rows with SKIP LOCKED so
        # two sweepers never wait on each other's rows (no deadlock, no double work).
        with self.db.write() as conn:
            now = self.db.clock.now()
            dead = select(bindings.c.id).where(bindings.c.blocked_until <= now).limit(5000)
            if self.db.postgres:
                dead = dead.with_for_update(skip_locked=True)
            ids = list(conn.execute(dead).scalars())
            if ids:
                conn.execute(delete(bindings).where(bindings.c.id.in_(ids)))
        return 0

    def _finish_draining(self, _batch: int) -> int:
        with self.db.write() as conn:
            now = self.db.clock.now()
            draining = select(numbers.c.id).where(numbers.c.state == "draining")
            if self.db.postgres:
                draining = draining.with_for_update(skip_locked=True)
            still_live = (
                select(sessions.c.id)
                .where(
                    sessions.c.number_id == numbers.c.id,
                    or_(sessions.c.status == "active", sessions.c.active_calls > 0),
                )
                .exists()
            )
            drained = [
                r.id
                for r in conn.execute(
                    select(numbers.c.id).where(
                        numbers.c.id.in_(list(conn.execute(draining).scalars())), ~still_live
                    )
                )
            ]
            if drained:
                conn.execute(
                    update(numbers)
                    .where(numbers.c.id.in_(drained))
                    .values(state="removed", modified_time=now)
                )
        return 0

    def events(self, principal: Principal, session_uuid: str) -> list[Any]:
        with self.db.read() as conn:
            row = self._load(conn, principal, session_uuid)
            return outbox.session_events(conn, row.id)
