"""The worker's HTTP API as a client sees it: one request and its answer, one metric sample."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy

Answer = tuple[int, Any, CIMultiDictProxy[str]]
"""Status, the JSON body (``None`` when empty) and the headers."""


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None, **kwargs: Any) -> Answer:
    """One request; ``body`` goes as is when bytes or text, else as JSON; ``kwargs`` as aiohttp takes them."""
    data = body if isinstance(body, bytes | str) or body is None else orjson.dumps(body)
    async with http.request(method, url, data=data, **kwargs) as response:
        raw = await response.read()
        return response.status, (orjson.loads(raw) if raw else None), response.headers


async def metric(http: aiohttp.ClientSession, base_url: str, sample: str) -> float | None:
    """The value of one sample of ``/metrics`` (``name`` or ``name{labels}`` exactly as exported); ``None`` if
    absent."""
    async with http.get(base_url + "/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(sample + " "):
                return float(line.rsplit(" ", 1)[1])
    return None


def scraped(text: str) -> dict[str, float]:
    """Every sample of a ``/metrics`` page, ``name{labels}`` as exported -> value."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples
