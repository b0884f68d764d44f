"""``collector.settle``: what serve (and the bench's bare B2BUA) do to the garbage
collector once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from vts_masking import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_sets_the_servers_thresholds(restored: None) -> None:
    collector.settle()
    assert gc.get_threshold() == collector.THRESHOLDS


def test_settle_moves_what_is_alive_out_of_future_collections(restored: None) -> None:
    kept = [[] for _ in range(10)]  # tracked and alive at start-up, as the app's objects are
    collector.settle()
    assert not any(o is kept for o in gc.get_objects())  # frozen: no generation holds it
