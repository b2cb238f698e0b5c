"""``logpipe export``: every event a query's filters match, newest first, from a worker to a file or stdout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import click

from app.cli.http import progress, stream, url_option


def _field(value: str) -> tuple[str, str]:
    key, sep, wanted = value.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--field")
    return f"field.{key}", wanted


def export_params(filters: dict[str, Any], levels: tuple[str, ...], fields: tuple[str, ...], fmt: str) -> str:
    """The export's query string: the options given, as the query API names them."""
    pairs = [("level", level) for level in levels]
    pairs += [(name, value) for name, value in filters.items() if value]
    pairs += [_field(field) for field in fields]
    return urlencode([*pairs, ("format", fmt)])


async def _copy(url: str, out: IO[bytes]) -> int:
    """Write the export to ``out`` as it arrives; the lines written (events, plus the header of a CSV)."""
    lines = 0
    bar: Any
    with progress(None, "exporting (lines)") as bar:
        async for chunk in stream(url):
            out.write(chunk)
            count = chunk.count(b"\n")
            lines += count
            bar.update(count)
    out.flush()
    return lines


def _to_file(url: str, output: Path) -> int:
    """Export into a file next to ``output`` and rename it only once the export is whole."""
    descriptor, partial = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    try:
        with os.fdopen(descriptor, "wb") as out:
            lines = asyncio.run(_copy(url, out))
        Path(partial).replace(output)
        return lines
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(partial).unlink()


@click.command()
@url_option
@click.option("--level", "levels", multiple=True, help="only this level (repeatable)")
@click.option("--source", help="only this source")
@click.option("--org", "organization_id", help="only this organization")
@click.option("--start", help="from this time (ISO 8601; no zone means UTC)")
@click.option("--end", help="up to this time (ISO 8601)")
@click.option("-q", "--query", "text", help="full text, as q= on the API")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE", help="field filter, repeatable; a,b: any of")
@click.option("--format", "fmt", type=click.Choice(["ndjson", "csv"]), default="ndjson", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="a file (default: stdout)")
def export(
    url: str,
    levels: tuple[str, ...],
    source: str | None,
    organization_id: str | None,
    start: str | None,
    end: str | None,
    text: str | None,
    fields: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Export every event matching the filters, newest first, as NDJSON or CSV.

    Streams GET /api/v1/logs/export (no page limit), counting lines on
    stderr. A file is written whole or not at all: an export cut off
    mid-way (the worker failed or went away) fails with a message.

    \b
    Examples:
      logpipe export --level ERROR --start 2026-12-01 -o errors.ndjson
      logpipe export --field status=500 --field user.id=u1 --format csv > errors.csv
    """
    filters = {"source": source, "organization_id": organization_id, "start": start, "end": end, "q": text}
    url = f"{url}/api/v1/logs/export?{export_params(filters, levels, fields, fmt)}"
    if output is None:
        lines = asyncio.run(_copy(url, sys.stdout.buffer))
    else:
        lines = _to_file(url, output)
    click.echo(f"exported {lines:,} lines to {output or 'stdout'}", err=True)
