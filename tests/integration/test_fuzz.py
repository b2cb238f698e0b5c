"""Fuzzing against a live worker: the HTTP API from its own OpenAPI description, raw bytes on logs.raw.

``make test`` runs a reduced version (``FUZZ_EXAMPLES=120`` cases per
operation, ``FUZZ_RECORDS=600`` raw records) from a fixed seed, so a CI run
repeats the last one; ``make fuzz`` a longer one from a fresh seed
(``FUZZ_SEED=random``), printed so a finding can be replayed.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import hypothesis
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.support.deadlines import wait_for
from tests.support.kafka import produce, read_all, wait_drained
from tests.support.rows import query, row_count
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))  # ~50 s in make test; make fuzz asks 1,000
RECORDS = int(os.environ.get("FUZZ_RECORDS", "600"))
SEED = os.environ.get("FUZZ_SEED", "20261123")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1800)
async def test_the_api_answers_every_generated_request_without_a_5xx_and_as_described(
    workers: WorkerFactory, tmp_path: Path
) -> None:
    worker = await workers.ready()
    api = worker.url
    # schemathesis's JUnit report: in $FUZZ_REPORT_DIR when set, else in this test's temp dir.
    reports = Path(os.environ.get("FUZZ_REPORT_DIR") or tmp_path / "schemathesis")
    await asyncio.to_thread(reports.mkdir, parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{api}/openapi.json",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        # The tail is an endless stream; it has a test of its own.
        "--exclude-path",
        "/api/v1/logs/tail",
        "--request-timeout",
        "15",
        # One at a time: several threads parsing lambdas at once trip a CPython 3.11 ast bug
        # ("AST constructor recursion depth mismatch") inside hypothesis.
        "--workers",
        "1",
        "--suppress-health-check",
        "all",
        # Generate from the seed alone, not from examples a run before saved in .hypothesis/:
        # a checkout runs what a clean clone (and CI) runs.
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-dir",
        str(reports),
    ]
    if SEED != "random":
        command += ["--seed", SEED]
    # Run in the temp dir: schemathesis keeps .schemathesis/ and .hypothesis/ in its working directory.
    # The hooks teach schemathesis the shippers' binary media types (tests/support/fuzz_hooks.py).
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks", "PYTHONPATH": str(ROOT)}
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1700, check=False
    )
    summary = "\n".join(line for line in done.stdout.splitlines()[-40:] if line.strip())
    print(f"\nschemathesis, {EXAMPLES} examples per operation (report in {reports}):\n{summary}")
    log = await asyncio.to_thread(worker.log_tail, 100_000)
    errors = [line for line in log.splitlines() if "unhandled error" in line]
    assert done.returncode == 0, (
        f"schemathesis found failures:\n{done.stdout[-8000:]}\n{done.stderr[-2000:]}\nworker errors: {errors[:5]}"
    )


def _json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=40)
    )
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
    )


def _timestamps() -> st.SearchStrategy[str]:
    """ISO 8601 strings, naive or with any offset: an offset can push year 1 or 9999 out of range in UTC."""
    offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
    zoned = st.datetimes(timezones=offsets.map(timezone))
    return (st.datetimes() | zoned).map(lambda d: d.isoformat())


def _events() -> st.SearchStrategy[dict[str, Any]]:
    """Dicts shaped like events, with every field sometimes right, sometimes wrong."""
    odd_text = st.text(max_size=300) | st.text(st.characters(codec="utf-8"), max_size=10).map(lambda s: s + "\x00")
    anything = _json_values()
    return st.fixed_dictionaries(
        {"message": odd_text | anything, "source": odd_text | anything},
        optional={
            "id": st.uuids().map(str) | anything,
            "level": st.sampled_from(["info", "WARNING", "critical", "err", "bogus", "Error "]) | anything,
            "logLevel": st.sampled_from(["DEBUG", "fatal"]) | anything,
            "timestamp": _timestamps() | st.text(max_size=30) | anything,
            "metadata": st.dictionaries(st.text(max_size=20), anything, max_size=6) | anything,
            "organizationId": odd_text | anything,
            "trace_id": odd_text | anything,
        },
    )


def _good_events() -> st.SearchStrategy[dict[str, Any]]:
    """Events that pass validation; some carry a NUL inside metadata, which only PostgreSQL refuses."""
    text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=200)
    printable = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=60)
    metadata = st.dictionaries(st.text(max_size=10), st.text(max_size=20) | st.integers(0, 10**6), max_size=4)
    return st.fixed_dictionaries(
        {
            "message": text.filter(str.strip),
            "source": printable.filter(str.isprintable),
        },
        optional={
            "level": st.sampled_from(["TRACE", "debug", "Info", "WARNING", "error", "CRITICAL"]),
            "timestamp": st.datetimes().map(lambda d: d.isoformat()),
            "metadata": metadata | st.just({"note": "nul \u0000 inside"}),
            "organizationId": printable.filter(str.isprintable),
        },
    )


def _unique_ids(record: dict[str, Any]) -> dict[str, Any]:
    """A well-formed id made unique, so that each record stands for one row or one dead letter."""
    try:
        uuid.UUID(str(record.get("id")))
    except ValueError:
        return record
    return {**record, "id": str(uuid.uuid4())}


def raw_records(count: int, home: Path) -> list[bytes]:
    """``count`` records for logs.raw from hypothesis: bytes, JSON of any shape, and near-events.

    ``home``: where hypothesis keeps its caches meanwhile (else ``.hypothesis/`` in the checkout).
    """
    found: list[bytes] = []
    strategy = st.one_of(
        _good_events().map(lambda e: orjson.dumps(e)),
        _good_events().map(lambda e: orjson.dumps(e)),
        st.binary(max_size=400),
        _json_values().map(orjson.dumps),
        _events().map(_unique_ids).map(lambda e: orjson.dumps(e, default=str)),
        _events()
        .map(_unique_ids)
        .map(lambda e: orjson.dumps(e, default=str)[: len(orjson.dumps(e, default=str)) // 2]),
    )

    @settings(max_examples=count, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def gather(record: bytes) -> None:
        found.append(record)

    seed_used = random.randrange(2**32) if SEED == "random" else int(SEED)
    print(f"\nraw records from seed {seed_used} (FUZZ_SEED={seed_used} repeats them)")
    set_hypothesis_home_dir(home)
    try:
        hypothesis.seed(seed_used)(gather)()
    finally:
        set_hypothesis_home_dir(None)
    # Oversized, a valid event among garbage, and empty: the edges hypothesis may not reach.
    found += [b"x" * 200_000, b"", orjson.dumps({"message": "m" * 40_000, "source": "s"})]
    return found


@pytest.mark.timeout(900)
async def test_every_raw_record_ends_as_a_row_or_a_dead_letter(
    workers: WorkerFactory, broker: str, database_url: str, tmp_path: Path
) -> None:
    worker = await workers.ready()
    records = raw_records(RECORDS, tmp_path / "hypothesis")
    await produce(broker, "logs.raw", records)
    await wait_drained(broker, workers.app_id, timeout=300)

    def accounted() -> bool:
        dead = int(query(database_url, "SELECT count(*) FROM dead_letters")[0][0])
        return row_count(database_url) + dead >= len(records)

    await wait_for(accounted, timeout=120, what="every record as a row or a dead letter")
    rows = await asyncio.to_thread(row_count, database_url)
    letters = await read_all(broker, "logs.dlq", expect=len(records) - rows)
    assert rows + len(letters) == len(records), f"{rows} rows + {len(letters)} dead letters for {len(records)} records"
    reasons: dict[str, int] = {}
    for letter in letters:
        reason = letter.headers["error"].decode()
        reasons[reason] = reasons.get(reason, 0) + 1
        assert letter.headers.get("error_detail"), "every dead letter says why"
    assert worker.alive, "the worker died"
    assert (await worker.fetch("/ready"))[0] == 200
    print(f"\nraw fuzz: {len(records)} records → {rows} rows + {len(letters)} dead letters {reasons}; worker alive")
