"""A TCP proxy in front of the dev broker that lets librdkafka 2.0 clients (rsyslog's omkafka, kcat) talk to it.

tansu 0.6.0 answers ApiVersions v3 with every tagged field written out,
defaults included (SupportedFeatures, FinalizedFeaturesEpoch -1,
FinalizedFeatures, ZkMigrationReady false); Apache Kafka leaves fields at
their defaults out. librdkafka 2.0.2 (Debian 12's) fails to read that
answer ("Read underflow ... ApiVersion v3") and never connects. The proxy
forwards every byte as it is, except that it drops those tagged fields from
ApiVersions answers, which changes nothing else a client learns. The broker
must advertise the proxy's address (``ensure_broker(..., advertised=...)``)
so that every connection goes through it. Against Apache Kafka (compose/)
nothing of this is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from typing import Final

API_VERSIONS: Final = 18


def strip_tagged_fields(frame: bytes) -> bytes:
    """An ApiVersions v3+ response body (correlation id onwards) with its top-level tagged fields emptied."""
    count = frame[6] - 1  # compact array: length + 1, one byte while under 127 APIs
    end = 7 + count * 7 + 4  # each API: key, min, max (2 bytes each), empty tags (1); then throttle_time_ms
    return frame[:end] + b"\x00"


class KafkaShim:
    """``port`` forwards to ``target_port``, rewriting ApiVersions answers (see the module docstring)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        with contextlib.closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> KafkaShim:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()  # its self-pipe is a socket pair: left open, it is reported in whichever test runs next

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)

    async def _connection(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        broker_in, broker_out = await asyncio.open_connection("127.0.0.1", self.target_port)
        versions: dict[int, int] = {}  # correlation id -> ApiVersions request version
        try:
            await asyncio.gather(
                _frames(client_in, broker_out, lambda f: _note_request(f, versions)),
                _frames(broker_in, client_out, lambda f: _rewrite_response(f, versions)),
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_out, broker_out):
                writer.close()


async def _frames(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, edit: object) -> None:
    while True:
        size = struct.unpack(">i", await reader.readexactly(4))[0]
        frame = edit(await reader.readexactly(size))  # type: ignore[operator]
        writer.write(struct.pack(">i", len(frame)) + frame)
        await writer.drain()


def _note_request(frame: bytes, versions: dict[int, int]) -> bytes:
    api_key, version, correlation = struct.unpack(">hhi", frame[:8])
    if api_key == API_VERSIONS:
        versions[correlation] = version
    return frame


def _rewrite_response(frame: bytes, versions: dict[int, int]) -> bytes:
    (correlation,) = struct.unpack(">i", frame[:4])
    version = versions.pop(correlation, None)
    return strip_tagged_fields(frame) if version is not None and version >= 3 else frame
