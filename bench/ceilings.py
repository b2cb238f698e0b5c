"""What the machine can do without logpipe: plain aiokafka, plain PostgreSQL, the same rows."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import psycopg2
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.models import new_id
from app.storage.postgres import _INSERT
from bench.profile import CpuSplit

Measure = Callable[[], CpuSplit]


async def broker_ceiling(bootstrap: str, values: list[bytes]) -> dict[str, float]:
    """Produce ``values`` to a scratch topic and consume them back, as fast as plain aiokafka goes."""
    topic = f"bench.ceiling.{time.monotonic_ns()}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024, acks="all")
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value) for value in values]
        await asyncio.gather(*futures)
        produce_s = time.perf_counter() - started
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        seen = 0
        started = time.perf_counter()
        while seen < len(values):
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for record in records:
                    orjson.loads(record.value or b"null")
                seen += len(records)
        consume_s = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {"produce_per_s": len(values) / produce_s, "consume_per_s": len(values) / consume_s}


def postgres_ceiling(
    database_url: str, events: list[dict[str, Any]], cpu: Measure, batch: int = 5000
) -> dict[str, float]:
    """COPY the rows into ``logs`` itself, then insert them with the persist agent's own statement.

    Into the real table, not a scratch one: the same indexes at the same
    size, and a logged table (a temporary one writes no WAL, which flatters
    COPY). Each run's rows get fresh time-ordered ids, as the worker gives
    an event without one, and a source of their own; they are deleted and
    their partition vacuumed afterwards, so the live counts never see them.
    ``cpu`` measures each run: PostgreSQL's CPU per row beside the rate.
    """
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            rows, marker = _marked(events)
            buffer = _copy_text(rows)
            with cpu() as copy_cpu:
                started = time.perf_counter()
                cur.copy_expert(f"COPY logs ({_COLUMNS}) FROM STDIN", buffer)
                conn.commit()
                copy_s = time.perf_counter() - started
            _remove(conn, marker)
            rows, marker = _marked(events)
            with cpu() as insert_cpu:
                started = time.perf_counter()
                for i in range(0, len(rows), batch):
                    cur.execute(_INSERT, (orjson.dumps(rows[i : i + batch]).decode(),))
                    cur.fetchall()
                    conn.commit()
                insert_s = time.perf_counter() - started
            _remove(conn, marker)
    finally:
        conn.close()
    n = len(events)
    return {
        "copy_per_s": n / copy_s,
        "statement_per_s": n / insert_s,
        "copy_pg_us_per_row": copy_cpu.per_event_us(n)["PostgreSQL"],
        "statement_pg_us_per_row": insert_cpu.per_event_us(n)["PostgreSQL"],
    }


_COLUMNS = 'id, "timestamp", level, message, source, organization_id, trace_id, metadata'


def _marked(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    marker = f"ceiling-{uuid.uuid4().hex[:8]}"
    return [{**e, "id": str(new_id()), "source": marker} for e in events], marker


def _copy_text(rows: list[dict[str, Any]]) -> io.StringIO:
    buffer = io.StringIO()
    for e in rows:
        meta = orjson.dumps(e["metadata"]).decode() if e["metadata"] is not None else "\\N"
        row = [
            e["id"],
            e["timestamp"],
            e["level"],
            e["message"],
            e["source"],
            e["organization_id"] or "\\N",
            e["trace_id"] or "\\N",
            meta,
        ]
        buffer.write("\t".join(_escape(v) for v in row) + "\n")
    buffer.seek(0)
    return buffer


def _remove(conn: Any, marker: str) -> None:
    """Delete a ceiling's rows and vacuum the partitions that held them."""
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT tableoid::regclass::text FROM logs WHERE source = %s", (marker,))
        holders = [name for (name,) in cur.fetchall()]
        cur.execute("DELETE FROM logs WHERE source = %s", (marker,))
        conn.commit()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in holders:
                cur.execute(f"VACUUM {name}")
    finally:
        conn.autocommit = False


def _escape(value: str) -> str:
    if value == "\\N":
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
