"""Records for ``logs.raw``: good events, and every kind of malformed one the validate stage must dead-letter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

LEVELS = ["INFO", "warning", "ERROR", "debug", "critical", "TRACE"]


def good_event(i: int, **extra: Any) -> bytes:
    """Event ``i``: its message is ``event {i}``, so a test can name a missing one; levels and sources vary."""
    return orjson.dumps({"level": LEVELS[i % len(LEVELS)], "message": f"event {i}", "source": f"svc-{i % 7}", **extra})


def malformed(n: int) -> list[bytes]:
    """``n`` records the validate stage must dead-letter: one of each kind in turn, the first over 1 MiB."""
    kinds: list[Callable[[int], bytes]] = [
        lambda i: b"not json {" + str(i).encode(),
        lambda i: b"\xff\xfe\xfd invalid utf-8 " + str(i).encode(),
        lambda i: orjson.dumps({"message": i, "source": "types"}),
        lambda i: orjson.dumps({"level": "INFO", "note": f"no message or source {i}"}),
        lambda i: orjson.dumps([i, "an array"]),
        lambda i: b"",
        lambda i: orjson.dumps({"message": f"m{i}", "source": "s", "level": "LOUD"}),
        lambda i: orjson.dumps({"message": f"nul\u0000{i}", "source": "s"}),
        lambda i: orjson.dumps({"message": f"m{i}", "source": "x" * 300}),
    ]
    big = b'{"message": "' + b"x" * (1024 * 1024) + b'", "source": "big"}'
    return [big] + [kinds[i % len(kinds)](i) for i in range(n - 1)]
