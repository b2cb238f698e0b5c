"""A TCP proxy a test can cut and restore: a dependency going away, for real.

The worker talks to PostgreSQL or the broker through it. ``cut()`` closes
the listening socket and every open connection (the worker sees connection
resets and refusals, as when the server dies); ``blackhole()`` keeps every
connection open and accepts new ones but forwards nothing either way (a
firewall dropping packets: the worker sees only silence and its own
timeouts); ``restore()`` lets traffic through again.

The proxy runs its own event loop in a thread, so it keeps forwarding
whatever the test's loop does. Starting and stopping it are plain calls
(for ``with`` blocks and fixtures); ``cut``, ``blackhole`` and ``restore``
are awaited by the (async) tests that inject the faults, without blocking
their loop while the proxy's thread carries them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import Any
from urllib.parse import urlsplit


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with contextlib.closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _in_proxy_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        async with asyncio.timeout(10):
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def restore(self) -> None:
        await self._in_proxy_loop(self._listen())

    async def cut(self) -> None:
        await self._in_proxy_loop(self._close())

    async def blackhole(self) -> None:
        """Silently drop: connections stay up, new ones are accepted, no byte passes until :meth:`restore`."""
        await self._in_proxy_loop(self._hold())

    def stop(self) -> None:
        self._call(self._close())
        self._call(self._cancel_pipes())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _hold(self) -> None:
        self._flowing.clear()
        await self._listen(flowing=False)

    async def _listen(self, flowing: bool = True) -> None:
        if flowing:
            self._flowing.set()
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _cancel_pipes(self) -> None:
        pipes = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._connect(reader, writer)
        except asyncio.CancelledError:  # the proxy stops: the loop ends with it, nothing awaits this task
            writer.transport.abort()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self._flowing.wait()  # a blackholed proxy holds the new connection, silent
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    await self._flowing.wait()  # held (not lost) while blackholed, as TCP retransmits
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


@contextlib.contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.contextmanager
def proxied_url(url: str, default_port: int) -> Iterator[tuple[str, TcpProxy]]:
    """``url`` (PostgreSQL, Redis) rewritten to go through a proxy the test can cut and restore."""
    target = urlsplit(url)
    with tcp_proxy(target.hostname or "127.0.0.1", target.port or default_port) as proxy:
        user = f"{target.username}@" if target.username else ""
        yield target._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl(), proxy
