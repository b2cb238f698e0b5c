"""The one HTTP client of the ``logpipe`` command: the API key it sends, JSON calls, and polite resends."""

from __future__ import annotations

import asyncio
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import click
import orjson

DEFAULT_URL = "http://127.0.0.1:6066"
SEND_ATTEMPTS = 30
STREAM_CHUNK_BYTES = 256 * 1024
STREAM_READ_TIMEOUT = 300.0  # an export's first page of a rare filter may take the server a while

url_option = click.option("--url", default=DEFAULT_URL, show_default=True, help="A worker's HTTP address.")


def auth_headers() -> dict[str, str]:
    """``X-API-Key`` with the key given to the command group (``--api-key`` or ``LOGPIPE_API_KEY``)."""
    key = click.get_current_context().find_root().params.get("api_key")
    return {"X-API-Key": key} if key else {}


def call(method: str, url: str, body: Any = None) -> Any:
    """One JSON request; an error answer or an unreachable worker becomes a message for the operator."""
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=auth_headers())  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the operator's URL
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"{url} answered {exc.code}: {exc.read().decode(errors='replace')}") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from exc


async def post_resending(http: Any, url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST; over a rate limit or while the pipeline sheds load (429, 503), wait as told and resend."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        async with http.post(url, data=data, headers={**headers, **auth_headers()}) as response:
            body = orjson.loads(await response.read() or b"{}")
            if response.status not in (429, 503) or attempt == SEND_ATTEMPTS:
                return response.status, body
            wait = float(response.headers.get("Retry-After", "1"))
        click.echo(f"\n{url} answered {response.status} ({body.get('message')}); resending in {wait:g}s", err=True)
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")


async def stream(url: str) -> AsyncIterator[bytes]:
    """GET a streamed answer (an export) and yield its body in chunks as they arrive.

    An error answer, an unreachable worker or a body that ends before its
    end (the worker failed or went away mid-way) becomes a message for the
    operator, so a cut answer is never taken for a whole one.
    """
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=STREAM_READ_TIMEOUT)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url, headers=auth_headers()) as response:
            if response.status != 200:
                raise click.ClickException(f"{url} answered {response.status}: {(await response.text())[:2000]}")
            async for chunk in response.content.iter_chunked(STREAM_CHUNK_BYTES):
                yield chunk
    except aiohttp.ClientPayloadError as exc:
        raise click.ClickException(f"{url}: the answer was cut off before its end ({exc})") from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from exc


def progress(length: int | None, label: str) -> Any:
    """A progress bar on stderr, so stdout stays the command's output; with no ``length``, a running count."""
    if length is None:  # a generator has no len(): click counts and pulses instead of filling a bar
        return click.progressbar(_nothing(), label=label, file=sys.stderr, show_pos=True, show_eta=False)
    return click.progressbar(length=length, label=label, file=sys.stderr)


def _nothing() -> Iterator[None]:
    yield from ()
