"""The number pool: virtual numbers an account owns on its SIP trunk."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError

from ..domain import errors, phone
from ..domain.views import number_type
from .accounts import Account
from .base import Database
from .models import numbers, sessions


@dataclass(frozen=True)
class NumberFilters:
    subaccount_id: int | None = None
    country: str | None = None
    alias: str | None = None
    state: str | None = None
    number_contains: str | None = None
    number_startswith: str | None = None  # E.164 with "+"
    number_type: str | None = None  # local | mobile | tollfree | national


def _unavailable(raw: str) -> errors.InvalidParameter:
    """One answer for a number that is invalid and for one that is someone else's."""
    return errors.invalid("numbers", f"contains an invalid or unavailable number: {raw[:40]}")


@dataclass(frozen=True)
class NumbersAdded:
    """What an add did: every number named (normalised, once each) and those of them
    that were not in the account's pool before (the rest were already present)."""

    numbers: list[str]
    new: list[str]

    @property
    def present(self) -> list[str]:
        fresh = set(self.new)
        return [n for n in self.numbers if n not in fresh]


class NumberRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        main: Account,
        raw_numbers: list[str],
        *,
        pool: Account | None = None,
        alias: str | None = None,
        app_id: str | None = None,
        answer_url: str | None = None,
        by_main: bool = True,
    ) -> list[str]:
        """Add numbers to a pool (``pool``: a subaccount of ``main``, or ``main``'s own).

        The ownership rule: a number is added only where it is free — not held by
        another account, and, when a subaccount adds it (``by_main=False``), not in any
        other pool of its main account (moving a number between pools is its main
        account's decision). A number that may not be added is refused with the very
        answer an invalid number gets, so the refusal never tells that it exists.
        The request is refused whole: nothing is added when one number is refused.

        Returns the numbers named, normalised, each once (see :meth:`add_report` for
        which of them were new).
        """
        return self.add_report(
            main,
            raw_numbers,
            pool=pool,
            alias=alias,
            app_id=app_id,
            answer_url=answer_url,
            by_main=by_main,
        ).numbers

    def add_report(
        self,
        main: Account,
        raw_numbers: list[str],
        *,
        pool: Account | None = None,
        alias: str | None = None,
        app_id: str | None = None,
        answer_url: str | None = None,
        by_main: bool = True,
    ) -> NumbersAdded:
        """:meth:`add`, telling apart the numbers new to the pool from those already in it."""
        parsed: list[tuple[str, str, str]] = []
        for raw in raw_numbers:
            try:
                e164 = phone.normalize(raw)
            except phone.InvalidNumber:
                raise _unavailable(raw) from None
            parsed.append((e164, phone.country_of(e164) or "ZZ", raw))
        if not parsed:
            raise errors.missing("numbers")
        once: dict[str, tuple[str, str, str]] = {}
        for item in parsed:
            once.setdefault(item[0], item)  # a number named twice is one number
        parsed = list(once.values())
        for attempt in range(2):
            try:
                new = self._add_once(
                    main, parsed, (pool or main).id, alias, app_id, answer_url, by_main
                )
                break
            except IntegrityError:
                # a concurrent add inserted one of these numbers first: once more, as an
                # update of the now existing row (or the refusal)
                if attempt:
                    raise
        return NumbersAdded([p[0] for p in parsed], new)

    def _add_once(
        self,
        main: Account,
        parsed: list[tuple[str, str, str]],
        pool_id: int,
        alias: str | None,
        app_id: str | None,
        answer_url: str | None,
        by_main: bool,
    ) -> list[str]:
        now = self.db.clock.now()
        new: list[str] = []
        with self.db.write() as conn:
            existing = {
                r.number: r
                for r in conn.execute(
                    select(numbers).where(numbers.c.number.in_([p[0] for p in parsed]))
                )
            }
            for e164, _, raw in parsed:
                row = existing.get(e164)
                if row is None or row.state == "removed":
                    continue  # free
                if row.account_id != main.id or (row.pool_id != pool_id and not by_main):
                    raise _unavailable(raw)
            for e164, (country, _raw) in {p[0]: p[1:] for p in parsed}.items():
                values = {
                    "account_id": main.id,
                    "pool_id": pool_id,
                    "country": country,
                    "number_type": number_type(e164),
                    "alias": alias,
                    "app_id": app_id,
                    "answer_url": answer_url,
                    "state": "in_service",
                    "modified_time": now,
                }
                row = existing.get(e164)
                if row is None or row.account_id != main.id or row.state == "removed":
                    new.append(e164)
                if row is not None:
                    conn.execute(update(numbers).where(numbers.c.number == e164).values(**values))
                else:
                    conn.execute(
                        numbers.insert().values(
                            number=e164, spread=random.random(), added_time=now, **values
                        )
                    )
        return new

    def _scope(self, main: Account, sub: Account | None) -> Any:
        cond = and_(numbers.c.account_id == main.id, numbers.c.state != "removed")
        if sub is not None:
            cond = and_(cond, numbers.c.pool_id == sub.id)
        return cond

    def _with_counts(self, conn: Any, rows: list[Any]) -> list[dict[str, Any]]:
        now = self.db.clock.now()
        ids = [r.id for r in rows]
        counts: dict[int, int] = {}
        if ids:
            counts = dict(
                conn.execute(
                    select(sessions.c.number_id, func.count())
                    .where(
                        sessions.c.number_id.in_(ids),
                        sessions.c.status == "active",
                        sessions.c.expiry_time > now,
                    )
                    .group_by(sessions.c.number_id)
                ).all()
            )
        return [dict(r._mapping, active_sessions=counts.get(r.id, 0)) for r in rows]

    def list(
        self,
        main: Account,
        sub: Account | None,
        filters: NumberFilters,
        limit: int,
        offset: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        cond = self._scope(main, sub)
        if filters.subaccount_id is not None:
            cond = and_(cond, numbers.c.pool_id == filters.subaccount_id)
        if filters.country:
            cond = and_(cond, numbers.c.country == filters.country.upper())
        if filters.alias:
            cond = and_(cond, numbers.c.alias == filters.alias)
        if filters.state:
            cond = and_(cond, numbers.c.state == filters.state)
        if filters.number_contains:
            cond = and_(cond, numbers.c.number.contains(filters.number_contains))
        if filters.number_startswith:
            cond = and_(cond, numbers.c.number.startswith(filters.number_startswith))
        if filters.number_type:
            cond = and_(cond, numbers.c.number_type == filters.number_type)
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(numbers).where(cond)).scalar()
            rows = conn.execute(
                select(numbers)
                .where(cond)
                .order_by(numbers.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            return int(total or 0), self._with_counts(conn, rows)

    def get(self, main: Account, sub: Account | None, raw_number: str) -> dict[str, Any]:
        e164 = phone.normalize_lenient(raw_number)
        with self.db.read() as conn:
            row = conn.execute(
                select(numbers).where(self._scope(main, sub), numbers.c.number == e164)
            ).first()
            if row is None:
                raise errors.NotFound("Number not found.")
            return self._with_counts(conn, [row])[0]

    def update(
        self,
        main: Account,
        sub: Account | None,
        raw_number: str,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        current = self.get(main, sub, raw_number)
        if values:
            values = dict(values, modified_time=self.db.clock.now())
            with self.db.write() as conn:
                conn.execute(update(numbers).where(numbers.c.id == current["id"]).values(**values))
        return self.get(main, sub, raw_number)

    def remove(
        self,
        main: Account,
        sub: Account | None,
        raw_number: str,
        *,
        drain: bool,
        replace: bool = False,
    ) -> str:
        """Take a number out of the pool; with active sessions only if ``drain`` or
        ``replace``.

        Returns ``"removed"`` or ``"draining"`` (no new sessions; the sweeper removes it
        when its last session ends). With ``replace`` every active session moves to
        another number of its pool (``SessionVirtualNumberReplaced``) and the number is
        removed at once; if the pool cannot take them all, nothing changes (400).
        """
        from .sessions import MAX_ATTEMPTS, lost_race

        current = self.get(main, sub, raw_number)
        for _ in range(MAX_ATTEMPTS - 1):
            try:
                return self._remove_once(current["id"], drain=drain, replace=replace)
            except IntegrityError as exc:
                # a create took the number our search picked for a moved session
                if not lost_race(exc):
                    raise
        return self._remove_once(current["id"], drain=drain, replace=replace)

    def _remove_once(self, number_id: int, *, drain: bool, replace: bool) -> str:
        from .sessions import move_sessions_off

        now = self.db.clock.now()
        with self.db.write() as conn:
            live = conn.execute(
                select(func.count())
                .select_from(sessions)
                .where(
                    sessions.c.number_id == number_id,
                    sessions.c.status == "active",
                    sessions.c.expiry_time > now,
                )
            ).scalar()
            if live and not (drain or replace):
                raise errors.InvalidParameter(
                    "Number has active sessions. Pass drain=true to remove it after they end, "
                    "or replace=true to move them to other numbers now."
                )
            state = "draining" if live and not replace else "removed"
            conn.execute(
                update(numbers)
                .where(numbers.c.id == number_id)
                .values(state=state, modified_time=now)
            )
            if live and replace:
                move_sessions_off(self.db, conn, number_id, now)
        return state
