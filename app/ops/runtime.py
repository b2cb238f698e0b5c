"""Interpreter settings for a long-running worker that must answer in milliseconds.

**The cyclic garbage collector.** Under load the worker allocates tens of
thousands of short-lived dicts a second (one per event), almost none of them
in reference cycles, so reference counting frees them; yet every allocation
counts towards the collector's thresholds, and with the defaults (700, 10,
10) a full collection ran every 0.5-1 s, walking the ~150k objects of the
loaded libraries each time: pauses of 70-200 ms that stopped every request
and batch (measured with ``gc.callbacks``). Freezing what exists once the
worker has started moves those objects out of the collector's sight, and
higher thresholds make collections rarer; cycles are still collected.

**The GIL switch interval.** A worker runs two event loops: the main one
(HTTP, the ``logs.raw`` consumer, producing) and Faust's consumer thread.
While both have work, CPython hands the GIL from one thread to the other
only every :func:`sys.getswitchinterval` (5 ms by default), so a request
that arrives while the consumer thread runs waits up to 5 ms, and more than
once on its way through. At 1 ms, measured back to back twice: end-to-end
p99 at 5,000 events/s 495 and 1,242 ms -> 148 and 162 ms, single-POST p99
at 500 req/s 726 and 175 ms -> 46 and 24 ms, throughput within the noise.
"""

from __future__ import annotations

import gc
import sys
from typing import Final

THRESHOLDS: Final = (20_000, 50, 100)
SWITCH_INTERVAL: Final = 0.001


def apply() -> None:
    """Tune the collector and the GIL switch interval; call once the worker has started."""
    tune_gc()
    sys.setswitchinterval(SWITCH_INTERVAL)


def tune_gc() -> None:
    """Collect once, freeze what survives (imported code, app objects), then raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
