"""The interpreter settings a worker applies once started."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from app.ops import runtime


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


def test_apply_freezes_what_exists_and_raises_the_thresholds(restore_gc: None) -> None:
    survivor = {"kept": [1, 2, 3]}
    runtime.apply()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == runtime.THRESHOLDS
    assert not any(obj is survivor for obj in gc.get_objects()), "frozen objects are out of the collector's sight"


def test_apply_hands_the_gil_between_threads_every_millisecond(restore_gc: None) -> None:
    assert sys.getswitchinterval() == pytest.approx(0.005), "CPython's default, before"
    runtime.apply()
    assert sys.getswitchinterval() == pytest.approx(runtime.SWITCH_INTERVAL) == pytest.approx(0.001)


class Node:
    def __init__(self) -> None:
        self.me = self


def test_cycles_made_afterwards_are_still_collected_without_being_asked(restore_gc: None) -> None:
    runtime.apply()
    assert gc.isenabled()
    node = Node()
    alive = weakref.ref(node)
    del node
    assert alive() is not None, "a cycle outlives its last name until the collector runs"
    kept: list[list[int]] = [
        [] for _ in range(runtime.THRESHOLDS[0] + 1000)
    ]  # enough allocations to trigger a collection
    assert alive() is None
    assert len(kept) > runtime.THRESHOLDS[0]
