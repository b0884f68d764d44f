"""Call records written the way the call engine writes them, at times a test chooses.

The list tests need legs and recordings with times known to the microsecond, which a
real SIP call (the e2e suite's job, and the official SDKs' tests') cannot give. So these
go through the store's own call log (:class:`CallLog`, :class:`RecordingLog`): the named
operations the engine calls as a call is routed, rings, is answered, recorded and hung
up. Nothing is inserted by hand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from vts_masking.domain.billing import RateTable
from vts_masking.store import Store
from vts_masking.store.calllog import CallLog, CallRef, RecordingLog, RecordingRef, other

Role = Literal["first", "second"]


class Service(Protocol):
    """A running service's store and base URL (a ``LiveService``, or the store of a
    service run as a subprocess on the same database)."""

    @property
    def store(self) -> Store: ...

    @property
    def url(self) -> str: ...


@dataclass
class LoggedCall:
    caller_leg: str  # the inbound leg's call_uuid (the family's A leg)
    callee_leg: str  # the leg dialled out to the other party
    recording: str | None  # the recording's id, when one was made
    end: datetime | None  # when it ended (None while it is still up)


def log_call(
    live: Service,
    session: dict,
    *,
    start: datetime,
    talk: int = 30,
    caller: Role = "first",
    answered: bool = True,
    media: Path | None = None,
    hang_up: bool = True,
) -> LoggedCall:
    """One masked call on ``session``: its ``caller`` party calls the virtual number at
    ``start``; the other party is rung a second later and answers two seconds after
    that (or is busy), and they talk for ``talk`` seconds. With ``media`` (an existing
    file) the call is recorded into it; with ``hang_up=False`` it is left up."""
    log = CallLog(live.store.db, RateTable())
    vn = session["virtual_number"]
    caller_number = session[f"{caller}_party"]
    route = log.route(vn, caller_number)
    assert route.kind == "bridge" and route.session_id is not None, route
    callee = other(caller)
    callee_number = session[f"{callee}_party"]
    ref = CallRef(route.session_id, session["session_uuid"], int(route.account_id or 0), vn)
    log.call_started(ref, start)
    a = log.leg_initiated(ref, "a", caller, "inbound", caller_number, vn, start)
    log.leg_answered(ref, "a", "inbound", caller_number, vn, start)
    ring = start + timedelta(seconds=1)
    b = log.leg_initiated(ref, "b", callee, "outbound", vn, callee_number, ring)
    log.leg_ringing(ref, "b", vn, callee_number, ring)
    answer = start + timedelta(seconds=3)
    end = answer + timedelta(seconds=talk) if answered else ring + timedelta(seconds=2)
    recording = None
    if answered:
        log.leg_answered(ref, "b", "outbound", vn, callee_number, answer)
        if media is not None:
            recordings = RecordingLog(live.store.db, live.url)
            rec = RecordingRef(str(uuid.uuid4()), media.suffix.lstrip("."), str(media), answer)
            recordings.recording_started(ref, rec, "a")  # the caller's leg, as the engine
            size = media.stat().st_size
            recordings.recording_finished(
                ref, rec, "a", end, duration=float(talk), size=size, failed=False
            )
            recording = rec.uuid
    if not hang_up:
        return LoggedCall(a, b, recording, None)
    if answered:
        log.leg_finished(
            ref, "b", answered_at=answer, sip_status=None, cause="NORMAL_CLEARING",
            cause_code=16, from_number=vn, to_number=callee_number, at=end,
        )  # fmt: skip
    else:
        log.leg_finished(
            ref, "b", answered_at=None, sip_status=486, cause="USER_BUSY",
            cause_code=17, from_number=vn, to_number=callee_number, at=end,
        )  # fmt: skip
    log.leg_finished(
        ref, "a", answered_at=start, sip_status=None, cause="NORMAL_CLEARING", cause_code=16,
        from_number=caller_number, to_number=vn, at=end,
    )  # fmt: skip
    log.call_ended(ref, end, both_answered=answered)
    return LoggedCall(a, b, recording, end)
