"""rsyslog, the distribution's own, sending to a real worker three ways: ``omelasticsearch`` to ``_bulk``,
``omfwd`` to the syslog listener (octet-counted TCP), ``omkafka`` to ``logs.raw``. Each message ends as a row.

rsyslog takes the messages from three TCP inputs of its own, one per
output, and the configuration is README's. Its Kafka output is librdkafka
2.0, which cannot read the dev broker's ApiVersions answer: the broker sits
behind :class:`~tests.support.kafka_shim.KafkaShim` and advertises it.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.servers import ensure_broker, free_port
from tests.support.deadlines import wait_for
from tests.support.kafka_shim import KafkaShim
from tests.support.rows import query
from tests.support.workers import WorkerFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="rsyslog is not installed: `make rsyslog`"),
]

CONFIG = """\
global(workDirectory="{work}")
module(load="imtcp")
module(load="omelasticsearch")
module(load="omkafka")
template(name="logpipe-json" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="message" name="$.msg" format="jsonf")
}}
ruleset(name="to-es") {{
  set $.msg = ltrim($msg);
  action(type="omelasticsearch" server="127.0.0.1" serverport="{web}" searchIndex="rsyslog"
         template="logpipe-json" bulkmode="on")
}}
ruleset(name="to-syslog") {{
  action(type="omfwd" target="127.0.0.1" port="{syslog}" protocol="tcp" TCP_Framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format")
}}
ruleset(name="to-kafka") {{
  set $.msg = ltrim($msg);
  action(type="omkafka" broker=["{kafka}"] topic="logs.raw" template="logpipe-json")
}}
input(type="imtcp" port="{in_es}" ruleset="to-es")
input(type="imtcp" port="{in_syslog}" ruleset="to-syslog")
input(type="imtcp" port="{in_kafka}" ruleset="to-kafka")
"""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """This module's dev broker, behind the shim that lets librdkafka 2.0 read its answers."""
    real = free_port()
    shim = KafkaShim(real).start()
    server = ensure_broker(
        f"kafka://127.0.0.1:{real}", tmp_path / "broker", tmp_path / "broker.log", advertised=f"127.0.0.1:{shim.port}"
    )
    try:
        yield f"127.0.0.1:{shim.port}"
    finally:
        server.stop()
        shim.stop()


def send_lines(port: int, lines: list[str]) -> None:
    """Messages as a local program hands them to rsyslog: RFC 3164 lines over TCP, stamped now."""
    stamp = time.strftime("%b %e %H:%M:%S", time.gmtime())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sender:
        sender.sendall(
            "".join(f"<{pri}>{stamp} web-1 {text}\n" for pri, text in (line.split(" ", 1) for line in lines)).encode()
        )


def wait_listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


async def test_rsyslog_sends_through_elasticsearch_syslog_and_kafka(
    workers: WorkerFactory, broker: str, database_url: str, tmp_path: Path
) -> None:
    syslog_port = free_port()
    worker = await workers.ready(
        SYSLOG_ENABLED="true", SYSLOG_TCP_PORT=str(syslog_port), SYSLOG_UDP_PORT=str(free_port())
    )
    inputs = {"in_es": free_port(), "in_syslog": free_port(), "in_kafka": free_port()}
    config = tmp_path / "rsyslog.conf"
    config.write_text(CONFIG.format(work=tmp_path, web=worker.port, syslog=syslog_port, kafka=broker, **inputs))
    log = (tmp_path / "rsyslog.log").open("wb")
    rsyslog = subprocess.Popen(  # noqa: ASYNC220 - started, not waited on: it runs beside the test
        ["rsyslogd", "-n", "-f", str(config), "-i", str(tmp_path / "rsyslog.pid")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        for port in inputs.values():
            await wait_for(lambda p=port: wait_listening(p), timeout=30, what=f"rsyslog listening on {port}")  # type: ignore[misc]
        await asyncio.to_thread(send_lines, inputs["in_es"], ["11 payments[5]: card declined via es"])
        await asyncio.to_thread(send_lines, inputs["in_syslog"], ["12 nginx[9]: upstream slow via omfwd"])
        await asyncio.to_thread(send_lines, inputs["in_kafka"], ["14 cron[2]: job done via kafka"])

        def arrived() -> list[tuple[str, str, str]]:
            return [
                (str(a), str(b), str(c))
                for a, b, c in query(database_url, "SELECT level, source, message FROM logs ORDER BY source")
            ]

        await wait_for(lambda: len(arrived()) == 3, timeout=60, what="a row from each of rsyslog's three outputs")
    finally:
        rsyslog.terminate()
        rsyslog.wait(timeout=20)
        log.close()
    rows = await asyncio.to_thread(arrived)
    assert rows == [
        ("INFO", "cron", "job done via kafka"),
        ("WARN", "nginx", "upstream slow via omfwd"),
        ("ERROR", "payments", "card declined via es"),
    ], (tmp_path / "rsyslog.log").read_text()[-2000:]
