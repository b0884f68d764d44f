"""Call legs and recordings as the API reads them (written by the call engine)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, select, update

from ..domain import errors
from ..domain.list_filters import CallFilters, RecordingFilters, storage_days_as_times
from .accounts import AccountRepo, Principal
from .base import Database
from .filters import comparison_conditions
from .models import calls, recordings, sessions

# A leg's parent is the first leg of its interaction (the caller's inbound leg, or the
# call to the first party of initiate_call_to_first_party): the family's A leg. Found
# for a page's legs in one grouped query after the page is read (_with_parents), not by
# a correlated subquery per row: PostgreSQL evaluates those for every row an OFFSET
# skips too, and answered min(id) by walking the primary key (118 s for offset 10000
# of 40 000 legs, bench/api/call_list.py).
# The family's filter names for a leg's columns.
CALL_COLUMNS = {
    "initiation_time": calls.c.initiation_time,
    "answer_time": calls.c.answer_time,
    "end_time": calls.c.end_time,
    "bill_duration": calls.c.duration,
}
RECORDING_COLUMNS = {"add_time": recordings.c.start_time}


class CallRepo:
    def __init__(self, db: Database, accounts: AccountRepo) -> None:
        self.db = db
        self.accounts = accounts

    def _owned_sessions(self, subaccount_id: int) -> Any:
        return select(sessions.c.id).where(sessions.c.subaccount_id == subaccount_id)

    def _subaccount_id(self, who: Principal, auth_id: str | None) -> int | None:
        """The ``subaccount`` filter as an account id (-1, matching nothing, for an id
        that is no subaccount of this account)."""
        if not auth_id:
            return None
        sub = self.accounts.by_auth_id(auth_id)
        return sub.id if sub and sub.parent_id == who.main.id else -1

    def _session_id(self, who: Principal, session_uuid: str) -> int:
        """The id of a session the principal sees (-1, matching nothing, otherwise)."""
        scope = sessions.c.account_id == who.main.id
        if who.subaccount is not None:
            scope = sessions.c.subaccount_id == who.subaccount.id
        with self.db.read() as conn:
            found = conn.execute(
                select(sessions.c.id).where(sessions.c.uuid == session_uuid, scope)
            ).scalar()
        return int(found) if found is not None else -1

    def _call_scope(self, who: Principal) -> Any:
        cond = calls.c.account_id == who.main.id
        if who.subaccount is not None:
            cond = and_(cond, calls.c.session_id.in_(self._owned_sessions(who.subaccount.id)))
        return cond

    def _call_select(self) -> Select[Any]:
        return select(calls, sessions.c.uuid.label("session_uuid")).select_from(
            calls.outerjoin(sessions, sessions.c.id == calls.c.session_id)
        )

    @staticmethod
    def _with_parents(conn: Any, rows: list[Any]) -> list[dict[str, Any]]:
        """The rows as dicts with ``parent_call_uuid``: the first leg of the same
        interaction when that is another leg, else ``None``."""
        interactions = {r.interaction_id for r in rows if r.interaction_id is not None}
        first: dict[int, tuple[int, str]] = {}
        if interactions:
            firsts = (
                select(calls.c.interaction_id, func.min(calls.c.id).label("first_id"))
                .where(calls.c.interaction_id.in_(interactions))
                .group_by(calls.c.interaction_id)
                .subquery()
            )
            first = {
                r.interaction_id: (r.id, r.uuid)
                for r in conn.execute(
                    select(firsts.c.interaction_id, calls.c.id, calls.c.uuid).join(
                        calls, calls.c.id == firsts.c.first_id
                    )
                )
            }
        out = []
        for r in rows:
            lead = first.get(r.interaction_id)
            parent = lead[1] if lead is not None and lead[0] != r.id else None
            out.append({**r._mapping, "parent_call_uuid": parent})
        return out

    def _first_leg(self, who: Principal, call_uuid: str) -> tuple[int, int] | None:
        """(id, interaction id) of a leg the principal sees that is the first of its
        interaction, or ``None``."""
        with self.db.read() as conn:
            leg = conn.execute(
                select(calls.c.id, calls.c.interaction_id).where(
                    calls.c.uuid == call_uuid, self._call_scope(who)
                )
            ).first()
            if leg is None or leg.interaction_id is None:
                return None
            lead = conn.execute(
                select(func.min(calls.c.id)).where(calls.c.interaction_id == leg.interaction_id)
            ).scalar()
        return (leg.id, leg.interaction_id) if lead == leg.id else None

    def get_call(self, who: Principal, call_uuid: str, *, live: bool = False) -> dict[str, Any]:
        """One leg; with ``live`` only while it is still up (the family's live view)."""
        cond = [calls.c.uuid == call_uuid, self._call_scope(who)]
        if live:
            cond.append(calls.c.end_time.is_(None))
        with self.db.read() as conn:
            row = conn.execute(self._call_select().where(*cond)).first()
            if row is None:
                raise errors.NotFound("Call not found.")
            return self._with_parents(conn, [row])[0]

    def list_calls(self, who: Principal, filters: CallFilters) -> tuple[int, list[dict[str, Any]]]:
        """A page of legs, newest first, and how many match."""
        # The narrowest scope first, looked up in the principal's scope: one session's
        # legs by its id, the B legs of an A leg by their interaction. Then the legs'
        # own account needs no condition, so the planner takes that column's index;
        # with the account's too, SQLite walked all the account's legs in time order
        # looking for the few (9x slower, bench/api/call_list.py).
        cond: list[Any] = []
        if filters.session_uuid:
            cond.append(calls.c.session_id == self._session_id(who, filters.session_uuid))
        if filters.parent_call_uuid:
            # The family's "B legs of this A leg": the other legs of its interaction.
            a_leg = self._first_leg(who, filters.parent_call_uuid)
            if a_leg is None:
                cond.append(calls.c.id == -1)
            else:
                cond += [calls.c.interaction_id == a_leg[1], calls.c.id != a_leg[0]]
        if not cond:
            cond.append(self._call_scope(who))
        sub_id = self._subaccount_id(who, filters.subaccount)
        if sub_id is not None:
            cond.append(calls.c.session_id.in_(self._owned_sessions(sub_id)))
        if filters.call_direction:
            cond.append(calls.c.direction == filters.call_direction)
        if filters.from_prefix:
            cond.append(calls.c.from_number.startswith(filters.from_prefix, autoescape=True))
        if filters.to_prefix:
            cond.append(calls.c.to_number.startswith(filters.to_prefix, autoescape=True))
        if filters.call_status:
            cond.append(calls.c.status == filters.call_status)
        if filters.live:
            cond.append(calls.c.end_time.is_(None))
        if filters.hangup_cause_code is not None:
            cond.append(calls.c.hangup_cause_code == filters.hangup_cause_code)
        cond += comparison_conditions(CALL_COLUMNS, filters.comparisons)
        where = and_(*cond)
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(calls).where(where)).scalar()
            rows = conn.execute(
                self._call_select()
                .where(where)
                .order_by(calls.c.initiation_time.desc(), calls.c.id.desc())
                .limit(filters.limit)
                .offset(filters.offset)
            ).all()
            return int(total or 0), self._with_parents(conn, rows)

    def _rec_scope(self, who: Principal) -> Any:
        cond = and_(recordings.c.account_id == who.main.id, recordings.c.deleted.is_(False))
        if who.subaccount is not None:
            owned = self._owned_sessions(who.subaccount.id)
            cond = and_(cond, recordings.c.session_id.in_(owned))
        return cond

    def _rec_select(self) -> Select[Any]:
        return select(
            recordings,
            sessions.c.uuid.label("session_uuid"),
            calls.c.uuid.label("call_uuid"),
            calls.c.from_number.label("from_number"),
            calls.c.to_number.label("to_number"),
        ).select_from(
            recordings.outerjoin(sessions, sessions.c.id == recordings.c.session_id).outerjoin(
                calls, calls.c.id == recordings.c.call_id
            )
        )

    def get_recording(self, who: Principal, recording_uuid: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(
                self._rec_select().where(recordings.c.uuid == recording_uuid, self._rec_scope(who))
            ).first()
        if row is None:
            raise errors.NotFound("Recording not found.")
        return dict(row._mapping)

    def list_recordings(
        self, who: Principal, filters: RecordingFilters
    ) -> tuple[int, list[dict[str, Any]]]:
        cond = [self._rec_scope(who)]
        sub_id = self._subaccount_id(who, filters.subaccount)
        if sub_id is not None:
            cond.append(recordings.c.session_id.in_(self._owned_sessions(sub_id)))
        if filters.session_uuid:
            cond.append(sessions.c.uuid == filters.session_uuid)
        if filters.call_uuid:
            cond.append(calls.c.uuid == filters.call_uuid)
        if filters.from_prefix:
            cond.append(calls.c.from_number.startswith(filters.from_prefix, autoescape=True))
        if filters.to_prefix:
            cond.append(calls.c.to_number.startswith(filters.to_prefix, autoescape=True))
        times = storage_days_as_times(filters.comparisons, self.db.clock.now())
        cond += comparison_conditions(RECORDING_COLUMNS, times)
        base = self._rec_select().where(and_(*cond))
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(base.subquery())).scalar()
            rows = conn.execute(
                base.order_by(recordings.c.start_time.desc(), recordings.c.id.desc())
                .limit(filters.limit)
                .offset(filters.offset)
            ).all()
        return int(total or 0), [dict(r._mapping) for r in rows]

    def delete_recording(self, who: Principal, recording_uuid: str) -> str:
        row = self.get_recording(who, recording_uuid)
        with self.db.write() as conn:
            conn.execute(
                update(recordings).where(recordings.c.id == row["id"]).values(deleted=True)
            )
        return row["path"]
