"""The call records' writer (calls/writer.py), on SQLite and PostgreSQL: steps committed
in order, a bad step costing only itself. That the records' statements (run on the
driver's cursor, store/prepared.py) read back exactly as SQLAlchemy writes them:
tests/integration/store/test_prepared.py."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import select

from tests.conftest import Tenant, us
from tests.support.call_fixtures import session_ref
from vts_masking.calls.writer import LINGER, LoopRecordWriter, RecordWriter
from vts_masking.store import outbox
from vts_masking.store.calllog import CallLog, CallRef
from vts_masking.store.models import calls

AT = datetime(2026, 12, 3, 7, 0, 0, 123456)


Writer = RecordWriter | LoopRecordWriter


@pytest.fixture(params=["thread", "loop"])
def writer_kind(request: pytest.FixtureRequest) -> str:
    """Both writers keep the same promises: a thread of its own (PostgreSQL's), and the
    event loop's group commit (SQLite's); each is run on both stores."""
    return request.param


def new_writer(kind: str, log: CallLog, linger: float = LINGER) -> Writer:
    if kind == "thread":
        return RecordWriter(log.batch, linger=linger)
    return LoopRecordWriter(log.db.run_write, log.joined, linger=linger)


def event_names(log: CallLog, session_id: int) -> list[str]:
    return [name for _, name in numbered_events(log, session_id)]


def numbered_events(log: CallLog, session_id: int) -> list[tuple[int, str]]:
    with log.db.read() as conn:
        return [(e.seq, e.event_name) for e in outbox.session_events(conn, session_id)]


def call_rows(log: CallLog, session_id: int) -> list:
    with log.db.read() as conn:
        return conn.execute(
            select(calls).where(calls.c.session_id == session_id).order_by(calls.c.id)
        ).all()


def start_call(writer: Writer, log: CallLog, ref: CallRef) -> None:
    writer.put(log.call_started, (ref, AT))
    writer.put(log.leg_initiated, (ref, "a", "first", "inbound", us(1), ref.virtual_number, AT))
    writer.put(log.leg_initiated, (ref, "b", "second", "outbound", ref.virtual_number, us(2), AT))


@pytest.mark.asyncio
async def test_a_calls_steps_are_committed_in_the_order_they_were_queued(
    writer_kind: str, log: CallLog, ref: CallRef
) -> None:
    writer = new_writer(writer_kind, log)
    start_call(writer, log, ref)
    writer.put(log.leg_ringing, (ref, "b", ref.virtual_number, us(2), AT))
    await writer.drain()
    writer.close()
    names = event_names(log, ref.session_id)  # in sequence order
    steps = [
        "SessionFirstPartyInitiated",
        "SessionSecondPartyInitiated",
        "SessionSecondPartyRinging",
    ]
    assert [names.index(n) for n in steps] == sorted(names.index(n) for n in steps)
    assert [r.party for r in call_rows(log, ref.session_id)] == ["first", "second"]


LEGS = (("a", "first", "inbound"), ("b", "second", "outbound"))


async def written(writer: Writer, steps: int) -> None:
    """Until the writer has committed ``steps`` steps (at most 10 s)."""
    for _ in range(2000):
        if writer.stats["steps"] >= steps:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{writer.stats} after 10 s")


@pytest.mark.asyncio
async def test_steps_queued_while_the_writer_lingers_share_one_transaction(
    writer_kind: str, log: CallLog, ref: CallRef
) -> None:
    """Steps that come a few milliseconds apart, as a call's do, are written together
    while the writer waits for more (1 s here, against 0.1 s of steps)."""
    writer = new_writer(writer_kind, log, linger=1.0)
    writer.put(log.call_started, (ref, AT))
    for leg, role, direction in LEGS:
        await asyncio.sleep(0.05)  # the next SIP message, a moment later
        writer.put(log.leg_initiated, (ref, leg, role, direction, us(1), us(2), AT))
    await writer.drain()
    writer.close()
    assert writer.stats == {"batches": 1, "steps": 4, "fallbacks": 0}  # drain's marker too
    assert len(call_rows(log, ref.session_id)) == 2


@pytest.mark.asyncio
async def test_without_the_linger_a_lone_step_is_written_without_waiting_for_more(
    writer_kind: str, log: CallLog, ref: CallRef
) -> None:
    """Each step is committed while the next has not come yet (a writer that waited for
    a batch to fill would leave it waiting here)."""
    writer = new_writer(writer_kind, log, linger=0.0)
    writer.put(log.call_started, (ref, AT))
    await written(writer, 1)
    for n, (leg, role, direction) in enumerate(LEGS, start=2):
        writer.put(log.leg_initiated, (ref, leg, role, direction, us(1), us(2), AT))
        await written(writer, n)
    writer.close()
    assert writer.stats == {"batches": 3, "steps": 3, "fallbacks": 0}
    assert len(call_rows(log, ref.session_id)) == 2


@pytest.mark.asyncio
async def test_a_failing_step_does_not_lose_the_others_in_its_batch(
    writer_kind: str, log: CallLog, ref: CallRef
) -> None:
    writer = new_writer(writer_kind, log)

    def broken() -> None:
        raise RuntimeError("this step fails")

    writer.put(log.call_started, (ref, AT))
    writer.put(broken, ())
    writer.put(log.leg_initiated, (ref, "a", "first", "inbound", us(1), ref.virtual_number, AT))
    await writer.drain()
    writer.close()
    assert [r.party for r in call_rows(log, ref.session_id)] == ["first"]
    assert writer.stats["fallbacks"] >= 1


@pytest.mark.asyncio
async def test_run_returns_once_its_step_is_committed(
    writer_kind: str, log: CallLog, ref: CallRef
) -> None:
    writer = new_writer(writer_kind, log)
    writer.put(log.call_started, (ref, AT))
    call_uuid = await writer.run(
        log.leg_initiated, (ref, "a", "first", "inbound", us(1), ref.virtual_number, AT)
    )
    # read on a connection of its own: visible only if committed
    assert [r.uuid for r in call_rows(log, ref.session_id)] == [call_uuid]
    writer.close()


@pytest.mark.asyncio
async def test_run_raises_the_exception_of_its_step(writer_kind: str, log: CallLog) -> None:
    writer = new_writer(writer_kind, log)

    def broken() -> None:
        raise LookupError("no such leg")

    with pytest.raises(LookupError):
        await writer.run(broken, ())
    writer.close()


def test_a_batchs_events_are_numbered_per_session_in_the_order_they_were_emitted(
    tenant: Tenant, log: CallLog, ref: CallRef
) -> None:
    other = session_ref(tenant, log, 1)
    with log.batch():  # two calls' steps interleaved, as the writer meets them
        for r, caller in ((ref, us(1)), (other, us(3))):
            log.call_started(r, AT)
            log.leg_initiated(r, "a", "first", "inbound", caller, r.virtual_number, AT)
        log.leg_initiated(ref, "b", "second", "outbound", ref.virtual_number, us(2), AT)
        log.leg_ringing(ref, "b", ref.virtual_number, us(2), AT)
        log.leg_initiated(other, "b", "second", "outbound", other.virtual_number, us(4), AT)
    for r, steps in (
        (ref, ["Initiated", "SecondPartyInitiated", "SecondPartyRinging"]),
        (other, ["Initiated", "SecondPartyInitiated"]),
    ):
        events = numbered_events(log, r.session_id)
        assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
        assert events[0][1] == "SessionCreated"
        names = [name for _, name in events]
        wanted = ["SessionFirstPartyInitiated"] + [f"Session{s}" for s in steps[1:]]
        assert [names.index(n) for n in wanted] == sorted(names.index(n) for n in wanted)


def test_a_batch_rolled_back_writes_none_of_its_events(log: CallLog, ref: CallRef) -> None:
    before = numbered_events(log, ref.session_id)
    with pytest.raises(RuntimeError), log.batch():
        log.call_started(ref, AT)
        log.leg_initiated(ref, "a", "first", "inbound", us(1), ref.virtual_number, AT)
        raise RuntimeError("a later step fails")
    assert numbered_events(log, ref.session_id) == before
    assert call_rows(log, ref.session_id) == []
    with log.batch():  # nor does the next batch inherit them
        pass
    assert numbered_events(log, ref.session_id) == before


def test_the_next_batch_numbers_on_from_the_last_committed_event(
    log: CallLog, ref: CallRef
) -> None:
    with log.batch():
        log.call_started(ref, AT)
        log.leg_initiated(ref, "a", "first", "inbound", us(1), ref.virtual_number, AT)
    # alone (no batch): written at once, numbered after the batch's
    log.leg_initiated(ref, "b", "second", "outbound", ref.virtual_number, us(2), AT)
    with log.batch():
        log.leg_ringing(ref, "b", ref.virtual_number, us(2), AT)
    events = numbered_events(log, ref.session_id)
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    names = [name for _, name in events]
    assert names.index("SessionSecondPartyInitiated") < names.index("SessionSecondPartyRinging")
