"""REGISTER as a state machine (sip/registration.py): challenge answered, binding kept
alive across its expiry, back-off on failure, 423 — time passed in, no sockets.

A small registrar written here answers like Kamailio's ``registrar`` + ``auth``: it
challenges a REGISTER without valid credentials (checked by the real DigestServer) and
grants what is asked, capped."""

from __future__ import annotations

import itertools
import random

from vts_masking.sip.digest import Credentials, DigestServer
from vts_masking.sip.message import Request, Response, make_response, new_branch
from vts_masking.sip.registration import Registration, refresh_delay
from vts_masking.sip.trunks import Trunk

CONTACT = "<sip:vts@192.0.2.10:5060>"


def trunk(expires: int = 60) -> Trunk:
    return Trunk(
        "carrier",
        "198.51.100.1",
        5060,
        credentials=Credentials("acct", "pw"),
        register=True,
        register_expires=expires,
    )


def registration(t: Trunk | None = None) -> Registration:
    return Registration(
        t or trunk(),
        via=lambda: f"SIP/2.0/UDP 192.0.2.10:5060;branch={new_branch()};rport",
        contact=CONTACT,
        rng=random.Random(7),
    )


class Registrar:
    """Challenges, then grants ``min(asked, cap)`` on our Contact."""

    def __init__(self, cap: int = 3600, password: str = "pw") -> None:
        self.auth = DigestServer("carrier", {"acct": password})
        self.cap = cap
        self.seen: list[Request] = []

    def answer(self, req: Request, now: float) -> Response:
        self.seen.append(req)
        verdict = self.auth.check("REGISTER", req.headers.get("authorization"), now)
        if not verdict.ok:
            return make_response(
                req,
                401,
                to_tag="reg",
                extra=[
                    ("WWW-Authenticate", c.to_header_value())
                    for c in self.auth.challenges(now, stale=verdict.stale)
                ],
            )
        granted = min(int(req.headers.get("expires") or "0"), self.cap)
        return make_response(
            req, 200, to_tag="reg", extra=[("Contact", f"{CONTACT};expires={granted}")]
        )


def run(reg: Registration, registrar: Registrar, out: list[Request], now: float) -> None:
    """Deliver every REGISTER to the registrar and its answer back, until quiet."""
    while out:
        req = out.pop(0)
        out += reg.on_response(registrar.answer(req, now), now)


def test_challenged_register_is_answered_and_binding_granted() -> None:
    reg, registrar = registration(), Registrar()
    run(reg, registrar, reg.start(0.0), 0.0)
    assert reg.registered(0.0) and reg.state == "registered"
    assert [r.cseq.number for r in registrar.seen] == [1, 2]
    assert registrar.seen[1].headers.get("authorization") is not None
    assert (reg.challenges, reg.successes) == (1, 1)


def test_register_keeps_call_id_and_tag_and_raises_cseq() -> None:
    reg, registrar = registration(), Registrar()
    run(reg, registrar, reg.start(0.0), 0.0)
    run(reg, registrar, reg.on_timer(refresh_delay(60)), refresh_delay(60))
    assert len({r.call_id for r in registrar.seen}) == 1
    assert len({r.from_.tag for r in registrar.seen}) == 1
    assert [r.cseq.number for r in registrar.seen] == [1, 2, 3]


def test_binding_is_kept_alive_across_many_expiries() -> None:
    reg, registrar = registration(trunk(expires=60)), Registrar()
    now = 0.0
    run(reg, registrar, reg.start(now), now)
    for _ in range(12):  # six minutes of a 60 s binding, past the nonce lifetime too
        due = reg.next_deadline()
        assert due is not None and reg.expires_at is not None and due < reg.expires_at
        now = due
        assert reg.registered(now)
        run(reg, registrar, reg.on_timer(now), now)
    assert reg.registered(now) and now > 6 * 60 - 30
    assert reg.failures == 0


def test_refresh_reuses_the_nonce_without_a_new_challenge() -> None:
    reg, registrar = registration(), Registrar()
    run(reg, registrar, reg.start(0.0), 0.0)
    now = reg.next_deadline() or 0.0
    run(reg, registrar, reg.on_timer(now), now)
    assert reg.challenges == 1  # the refresh went through with nc=00000002
    assert "nc=00000002" in (registrar.seen[-1].headers.get("authorization") or "")


def test_granted_expiry_is_the_registrars_not_ours() -> None:
    reg, registrar = registration(trunk(expires=3600)), Registrar(cap=120)
    run(reg, registrar, reg.start(0.0), 0.0)
    assert reg.granted == 120 and reg.next_deadline() == refresh_delay(120)


def test_refresh_is_due_before_expiry_for_short_and_long_bindings() -> None:
    assert refresh_delay(20) == 10
    assert refresh_delay(3600) == 3570


def test_wrong_password_is_a_failure_not_a_loop() -> None:
    reg = registration(Trunk("c", "198.51.100.1", 5060, credentials=Credentials("acct", "bad")))
    registrar = Registrar()
    run(reg, registrar, reg.start(0.0), 0.0)
    assert reg.state == "backoff" and not reg.registered(0.0)
    assert len(registrar.seen) == 2 and reg.failures == 1
    assert "credentials refused" in reg.last_error


def test_failures_back_off_doubling_up_to_the_cap() -> None:
    reg = registration()
    now = 0.0
    reg.start(now)
    waits = []
    for _ in range(9):
        reg.on_timeout(now)
        due = reg.next_deadline()
        assert due is not None
        waits.append(due - now)
        now = due
        reg.on_timer(now)
    assert all(w2 > w1 for w1, w2 in itertools.pairwise(waits[:5]))
    assert max(waits) <= reg.backoff_max and waits[-1] >= reg.backoff_max / 2
    assert reg.failures == 9


def test_success_after_failures_resets_the_back_off() -> None:
    reg, registrar = registration(), Registrar()
    reg.start(0.0)
    reg.on_timeout(0.0)
    reg.on_timeout(0.0)
    now = reg.next_deadline() or 0.0
    run(reg, registrar, reg.on_timer(now), now)
    assert reg.registered(now) and reg.consecutive_failures == 0


def test_failed_refresh_retries_inside_the_binding_it_still_holds() -> None:
    reg, registrar = registration(trunk(expires=60)), Registrar()
    run(reg, registrar, reg.start(0.0), 0.0)
    now = reg.next_deadline() or 0.0
    reg.on_timer(now)
    reg.on_timeout(now)  # the refresh was lost
    retry = reg.next_deadline()
    assert retry is not None and reg.expires_at is not None and retry < reg.expires_at


def test_interval_too_brief_asks_again_with_min_expires() -> None:
    reg = registration(trunk(expires=30))
    (first,) = reg.start(0.0)
    again = reg.on_response(make_response(first, 423, extra=[("Min-Expires", "300")]), 0.0)
    assert len(again) == 1 and again[0].headers.get("expires") == "300"


def test_answer_to_an_older_register_is_ignored() -> None:
    reg, registrar = registration(), Registrar()
    (first,) = reg.start(0.0)
    (_second,) = reg.on_response(registrar.answer(first, 0.0), 0.0)
    late = make_response(first, 500)
    assert reg.on_response(late, 0.0) == [] and reg.failures == 0


def test_stop_unregisters_with_expires_zero() -> None:
    reg, registrar = registration(), Registrar()
    run(reg, registrar, reg.start(0.0), 0.0)
    (bye,) = reg.stop(1.0)
    assert bye.headers.get("expires") == "0"
    reg.on_response(make_response(bye, 200), 1.0)
    assert reg.state == "stopped" and not reg.registered(1.0) and reg.next_deadline() is None


def test_status_reports_the_binding() -> None:
    reg, registrar = registration(), Registrar()
    run(reg, registrar, reg.start(0.0), 0.0)
    st = reg.status(10.0)
    assert st["registered"] and st["expires_in"] == 50.0 and st["last_status"] == 200
