"""What the machine can do without logpipe: plain aiokafka, plain PostgreSQL, the same rows."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import orjson
import psycopg2
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.storage.postgres import _INSERT

TABLE = """CREATE TEMP TABLE logs (LIKE public.logs INCLUDING ALL)"""


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


def postgres_ceiling(database_url: str, events: list[dict[str, Any]], batch: int = 5000) -> dict[str, float]:
    """COPY the rows into a scratch table, then insert them with the persist agent's own statement."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(TABLE)
            buffer = io.StringIO()
            for e in events:
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
            started = time.perf_counter()
            cur.copy_expert(
                'COPY logs (id, "timestamp", level, message, source, organization_id, trace_id, metadata) FROM STDIN',
                buffer,
            )
            conn.commit()
            copy_s = time.perf_counter() - started
            cur.execute("TRUNCATE logs")
            conn.commit()
            started = time.perf_counter()
            for i in range(0, len(events), batch):
                cur.execute(_INSERT, (orjson.dumps(events[i : i + batch]).decode(),))
                cur.fetchall()
                conn.commit()
            insert_s = time.perf_counter() - started
    finally:
        conn.close()
    return {"copy_per_s": len(events) / copy_s, "statement_per_s": len(events) / insert_s}


def _escape(value: str) -> str:
    if value == "\\N":
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
