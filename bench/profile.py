"""Sampling the worker with py-spy while a path runs, and saying where its time went.

py-spy attaches from outside (no change to the worker, ~1% overhead at 100
samples/s, ``--nonblocking`` so the worker is never paused). The collapsed
stacks are kept in ``var/bench/`` for flame graphs; ``summarize`` reduces
them to the shares a reader needs: which library the time was spent in
(innermost frame that belongs to a known library) and the hottest
functions.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

# Innermost frame whose file path contains one of these names is charged to it; first match wins.
AREAS = (
    ("pydantic", "validation (pydantic)"),
    ("orjson", "JSON (orjson)"),
    ("aiohttp", "HTTP server (aiohttp)"),
    ("aiokafka", "Kafka client (aiokafka)"),
    ("faust", "Faust streams/agents"),
    ("mode/", "Faust streams/agents"),
    ("aiopg", "PostgreSQL client (aiopg/psycopg2)"),
    ("psycopg2", "PostgreSQL client (aiopg/psycopg2)"),
    ("redis", "Redis client"),
    ("opentelemetry", "tracing"),
    ("prometheus_client", "metrics"),
    ("/app/", "logpipe code"),
    ("(app/", "logpipe code"),  # py-spy names the files of the working directory relative to it
    ("asyncio", "event loop (asyncio)"),
)


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


@contextmanager
def sampling(pid: int, out: Path, *, rate: int = 100) -> Iterator[Path | None]:
    """Record ``pid`` while the block runs; yields the output path, or None without py-spy."""
    binary = py_spy()
    if binary is None:
        yield None
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--nonblocking"]
    recorder = subprocess.Popen(
        [*command, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield out
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()


def _area(frame: str) -> str | None:
    for needle, area in AREAS:
        if needle in frame:
            return area
    return None


def summarize(collapsed: Path, *, top: int = 8) -> dict[str, Any]:
    """Shares of samples by area (innermost known frame) and the hottest leaf functions."""
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    if not collapsed.exists():
        return {"samples": 0, "areas": {}, "functions": {}}
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        idle = any("select" in f and "selectors.py" in f for f in frames[-2:])
        area = (
            "idle (waiting in select)"
            if idle
            else next((a for a in map(_area, reversed(frames)) if a is not None), "other (interpreter, stdlib)")
        )
        areas[area] += count
        leaves[frames[-1]] += count
    if not total:
        return {"samples": 0, "areas": {}, "functions": {}}
    return {
        "samples": total,
        "areas": {a: round(100 * n / total, 1) for a, n in areas.most_common()},
        "functions": {f: round(100 * n / total, 1) for f, n in leaves.most_common(top)},
    }


def report(name: str, summary: dict[str, Any]) -> str:
    if not summary.get("samples"):
        return f"profile of {name}: no samples (py-spy missing or not permitted)"
    lines = [f"profile of the worker during {name} ({summary['samples']:,} samples): share of time by area"]
    lines += [f"  {share:5.1f}%  {area}" for area, share in summary["areas"].items()]
    lines.append("  hottest functions (self time):")
    lines += [f"  {share:5.1f}%  {function}" for function, share in summary["functions"].items()]
    return "\n".join(lines)


def is_worker(cmdline: list[str]) -> bool:
    """``python -m app worker ...`` or ``[python] .../logpipe worker ...``."""
    words = " ".join(Path(word).name for word in cmdline[:4])
    return "-m app worker" in words or "logpipe worker" in words


def other_workers(worker_pid: int | None = None) -> list[psutil.Process]:
    """logpipe workers on this machine besides the bench's own (``make run``'s, say)."""
    return [
        proc
        for proc in psutil.process_iter(["cmdline"])
        if proc.pid != worker_pid and is_worker(proc.info["cmdline"] or [])
    ]


BROKER_NAMES = ("tansu", "kafka.Kafka", "redpanda")


def is_broker(name: str, cmdline: str) -> bool:
    """A Kafka-protocol broker by its process: the bench's own is known by pid, any other by name."""
    return any(known in name or known in cmdline for known in BROKER_NAMES)


def _groups(worker_pid: int, broker_pid: int | None) -> dict[str, list[psutil.Process]]:
    """The processes sharing the machine during a run, by role.

    Another stack left running (``make run``) is counted apart, as
    "bystanders": their idle polling takes CPU that is missing from every
    figure. The bench's own broker is the process it started (``broker_pid``),
    whatever broker that is; with no pid (a broker found running) any process
    named like one counts as the broker.
    """
    me = psutil.Process()
    groups: dict[str, list[psutil.Process]] = {
        "worker": [psutil.Process(worker_pid)],
        "bench client": [me],
        "broker": [],
        "PostgreSQL": [],
        "Redis": [],
        "bystanders": [],
    }
    for proc in psutil.process_iter(["name", "cmdline"]):
        name = proc.info["name"] or ""
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.pid != worker_pid and is_worker(proc.info["cmdline"] or []):
            groups["bystanders"].append(proc)
        elif proc.pid == broker_pid:
            groups["broker"].append(proc)
        elif is_broker(name, cmdline):
            groups["broker" if broker_pid is None else "bystanders"].append(proc)
        elif name.startswith("postgres"):
            groups["PostgreSQL"].append(proc)
        elif name.startswith(("redis-server", "valkey-server")):
            groups["Redis"].append(proc)
    return groups


def _cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    seconds: dict[int, float] = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # a PostgreSQL backend that ended meanwhile
            continue
        seconds[proc.pid] = times.user + times.system
    return seconds


class CpuSplit:
    """CPU seconds each role used while a block ran: where a shared two-core machine's time goes.

    A PostgreSQL backend that ends inside the block is missed; the worker's
    pool keeps its connections, so the persist path is counted.
    """

    def __init__(self, worker_pid: int, broker_pid: int | None = None) -> None:
        self._worker_pid, self._broker_pid = worker_pid, broker_pid
        self.seconds: dict[str, float] = {}
        self.wall = 0.0

    def __enter__(self) -> CpuSplit:
        self._before = {
            role: _cpu_seconds(procs) for role, procs in _groups(self._worker_pid, self._broker_pid).items()
        }
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._started
        self.seconds = {}
        for role, procs in _groups(self._worker_pid, self._broker_pid).items():
            after = _cpu_seconds(procs)
            before = self._before[role]
            # A process that started meanwhile counts whole; one that ended took its counters with it.
            self.seconds[role] = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def per_event_us(self, events: int) -> dict[str, float]:
        return {role: round(1e6 * s / max(events, 1), 1) for role, s in self.seconds.items()}

    def cores(self) -> dict[str, float]:
        return {role: round(s / self.wall, 2) for role, s in self.seconds.items()} if self.wall else {}
