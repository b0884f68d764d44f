"""SIP over TCP through ``vts-masking serve`` itself: its CLI, its uvicorn, its uvloop.

The service runs as the operator starts it (a child process, one per trunk transport
and store for the module); SIPp phones call through it over TCP, UDP, and one of each,
both ways round. Under ``serve`` every TCP connection used to break (uvloop's transports
failed an ``isinstance`` check that the tests' stdlib loop passed): these tests run
where that failure lived.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Edge, Sipp, ok, requires_sipp, served_edge

pytestmark = [pytest.mark.sipp, requires_sipp, pytest.mark.timeout(90)]

A, B = "+14155550101", "+12125550102"
FLAG = {"tcp": ["-t", "t1"], "udp": []}


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Edge, str]]:
    """``serve`` reaching its trunk over ``request.param``; a tenant with two numbers
    (one session per test: the parties get another number each time)."""
    with served_edge(
        module_db_url,
        tmp_path_factory.mktemp("serve"),
        numbers=(1, 2),
        env={"VTS_SIP_TRUNK_TRANSPORT": request.param},
    ) as edge:
        yield edge, request.param


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("served", "caller_tp"),
    [("tcp", "tcp"), ("tcp", "udp"), ("udp", "tcp")],
    ids=["tcp-to-tcp", "udp-to-tcp", "tcp-to-udp"],
    indirect=["served"],
)
async def test_a_masked_call_completes_through_serve(
    served: tuple[Edge, str], tmp_path: Path, caller_tp: str
) -> None:
    edge, callee_tp = served
    virtual = edge.t.session(first_party=A, second_party=B)["virtual_number"]
    text = (Path(__file__).parent / "sipp" / "caller_bye.xml").read_text()
    (tmp_path / "caller_a.xml").write_text(text.replace("+14445556666", A))
    callee = Sipp(tmp_path, "callee", port=edge.trunk_port, builtin="uas", extra=FLAG[callee_tp])
    await callee.start()
    caller = Sipp(
        tmp_path,
        "caller",
        scenario=str(tmp_path / "caller_a.xml"),
        extra=FLAG[caller_tp],
        remote=("127.0.0.1", edge.sip_port),
        service=virtual,
    )
    await caller.start()
    caller_result = await caller.finish()
    callee_result = await callee.finish()
    ok(caller_result)
    ok(callee_result)
    at_callee = callee_result.received()
    assert f"SIP/2.0/{callee_tp.upper()}" in at_callee
    assert f"{caller_tp.upper()} message received" in caller_result.messages
    assert f"INVITE sip:{B}@" in at_callee and A not in at_callee
