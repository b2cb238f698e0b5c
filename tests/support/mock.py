"""A librdkafka mock cluster in a subprocess, with logpipe's topics created.

The mock has no CreateTopics API and auto-creates unknown topics with its
own default partition count, so every topic the workers use — ours and
Faust's internal changelog — is created here first, with the right counts,
and workers run with ``TOPIC_DECLARE=false``.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from tests.support.workers import ROOT


def topics_for(app_id: str, partitions: int) -> list[str]:
    return [
        f"logs.raw:{partitions}",
        f"logs.events:{partitions}",
        f"logs.dlq:{partitions}",
        "logs.counts:1",
        f"{app_id}-counts-changelog:1",
    ]


@contextlib.contextmanager
def mock_cluster(app_id: str, partitions: int = 4) -> Iterator[str]:
    """Start a mock cluster holding ``app_id``'s topics; yields its bootstrap ``host:port``."""
    args = [sys.executable, "-m", "tests.support.mockcluster"]
    for topic in topics_for(app_id, partitions):
        args += ["--topic", topic]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("BOOTSTRAP "):
            raise RuntimeError(f"mock cluster did not start (said {line!r}, exit {proc.poll()})")
        yield line.removeprefix("BOOTSTRAP ")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
