"""``api.server.CoalescingTransport``: the writes of one loop step leave in one write."""

from __future__ import annotations

import asyncio
from typing import Any

from vts_masking.api.server import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """A transport that keeps what was written to it, in the order of the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Any] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(bytes(data))

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def test_a_head_and_a_body_written_in_one_step_leave_in_one_write() -> None:
    async def main() -> list[Any]:
        real = RecordingTransport()
        t = CoalescingTransport(real)
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(b"{}")
        assert real.calls == []  # nothing yet: the step is not over
        await asyncio.sleep(0)
        return real.calls

    assert asyncio.run(main()) == [b"HTTP/1.1 200 OK\r\n\r\n{}"]


def test_closing_sends_what_was_written_first() -> None:
    async def main() -> list[Any]:
        real = RecordingTransport()
        t = CoalescingTransport(real)
        t.write(b"bye")
        t.close()
        await asyncio.sleep(0)
        return real.calls

    assert asyncio.run(main()) == [b"bye", "close"]


def test_everything_else_is_the_wrapped_transports() -> None:
    async def main() -> Any:
        return CoalescingTransport(RecordingTransport()).get_extra_info("peername")

    assert asyncio.run(main()) == ("127.0.0.1", 1)
