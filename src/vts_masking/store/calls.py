"""Call legs and recordings as the API reads them (written by the call engine)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select, update

from ..domain import errors
from .accounts import Principal
from .base import Database
from .models import calls, recordings, sessions


class CallRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _call_scope(self, who: Principal) -> Any:
        cond = calls.c.account_id == who.main.id
        if who.subaccount is not None:
            owned = select(sessions.c.id).where(sessions.c.subaccount_id == who.subaccount.id)
            cond = and_(cond, calls.c.session_id.in_(owned))
        return cond

    def get_call(self, who: Principal, call_uuid: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(
                select(calls, sessions.c.uuid.label("session_uuid"))
                .select_from(calls.outerjoin(sessions, sessions.c.id == calls.c.session_id))
                .where(calls.c.uuid == call_uuid, self._call_scope(who))
            ).first()
        if row is None:
            raise errors.NotFound("Call not found.")
        return dict(row._mapping)

    def _rec_scope(self, who: Principal) -> Any:
        cond = and_(recordings.c.account_id == who.main.id, recordings.c.deleted.is_(False))
        if who.subaccount is not None:
            owned = select(sessions.c.id).where(sessions.c.subaccount_id == who.subaccount.id)
            cond = and_(cond, recordings.c.session_id.in_(owned))
        return cond

    def _rec_select(self) -> Any:
        return select(
            recordings,
            sessions.c.uuid.label("session_uuid"),
            calls.c.uuid.label("call_uuid"),
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
        self,
        who: Principal,
        *,
        session_uuid: str | None,
        call_uuid: str | None,
        limit: int,
        offset: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        cond = self._rec_scope(who)
        if session_uuid:
            cond = and_(cond, sessions.c.uuid == session_uuid)
        if call_uuid:
            cond = and_(cond, calls.c.uuid == call_uuid)
        base = self._rec_select().where(cond)
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(base.subquery())).scalar()
            rows = conn.execute(
                base.order_by(recordings.c.start_time.desc(), recordings.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return int(total or 0), [dict(r._mapping) for r in rows]

    def delete_recording(self, who: Principal, recording_uuid: str) -> str:
        row = self.get_recording(who, recording_uuid)
        with self.db.write() as conn:
            conn.execute(
                update(recordings).where(recordings.c.id == row["id"]).values(deleted=True)
            )
        return row["path"]
