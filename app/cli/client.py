"""The ``logpipe`` commands that talk to a running worker: send, stats, dead letters, tail."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import IO, Any

import click
import orjson

from app.cli.http import auth_headers, call, post_resending, progress, url_option
from app.settings import get_settings


def _lines(source: IO[bytes]) -> Iterator[bytes]:
    for line in source:
        if line.strip():
            yield line.rstrip(b"\r\n")


@click.command()
@click.argument("file", type=click.File("rb"), default="-")
@url_option
@click.option("--kafka", "to_kafka", is_flag=True, help="Produce the lines to logs.raw instead of POSTing them.")
@click.option("--batch", default=1000, show_default=True, help="Events per request (or per produce flush).")
def send(file: IO[bytes], url: str, to_kafka: bool, batch: int) -> None:
    """Send NDJSON events (one JSON object per line) from FILE or stdin.

    Over HTTP (the default) each batch is validated on arrival and refused
    items are reported with line, field and rule; with --kafka the lines go
    to logs.raw as they are, and bad ones end on logs.dlq.

    \b
    Examples:
      logpipe send events.ndjson
      gunzip -c app.log.json.gz | logpipe send --kafka
    """
    lines = list(_lines(file))
    if not lines:
        raise click.UsageError("no events to send")
    outcome = asyncio.run(_send_kafka(lines, batch) if to_kafka else _send_http(lines, url, batch))
    click.echo(f"sent {len(lines)} events: {outcome['accepted']} accepted, {outcome['rejected']} rejected")
    for error in outcome["errors"][:20]:
        click.echo(f"  line {error['line']}: {error['field']}: {error['message']} ({error['rule']})", err=True)
    if outcome["rejected"]:
        sys.exit(1)


async def _send_http(lines: list[bytes], url: str, batch: int) -> dict[str, Any]:
    import aiohttp

    accepted, rejected, errors = 0, 0, []
    async with aiohttp.ClientSession() as http:
        bar: Any
        with progress(len(lines), "sending") as bar:
            for start in range(0, len(lines), batch):
                chunk = lines[start : start + batch]
                status, body = await _post_batch(http, url, b"\n".join(chunk))
                if status == 202:
                    accepted += body["accepted"]
                    rejected += body["rejected"]
                elif status == 422:
                    rejected += len(chunk)
                else:
                    raise click.ClickException(f"{url} answered {status}: {body.get('message', body)}")
                errors += [{**e, "line": start + e["index"] + 1} for e in body.get("errors", [])]
                bar.update(len(chunk))
    return {"accepted": accepted, "rejected": rejected, "errors": errors}


async def _post_batch(http: Any, url: str, data: bytes) -> tuple[int, Any]:
    return await post_resending(http, f"{url}/api/v1/logs/batch", data, {"Content-Type": "application/x-ndjson"})


async def _send_kafka(lines: list[bytes], batch: int) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    from app.domain.topic_layout import RAW

    producer = AIOKafkaProducer(bootstrap_servers=get_settings().broker_bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        bar: Any
        with progress(len(lines), "producing") as bar:
            for start in range(0, len(lines), batch):
                chunk = lines[start : start + batch]
                await asyncio.gather(*[await producer.send(RAW, line) for line in chunk])
                bar.update(len(chunk))
    finally:
        await producer.stop()
    return {"accepted": len(lines), "rejected": 0, "errors": []}


@click.command()
@url_option
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
def stats(url: str, as_json: bool) -> None:
    """Show live counts: total, per level, top sources, organizations.

    \b
    Example:
      logpipe stats --url http://127.0.0.1:6067
    """
    body = call("GET", f"{url}/api/v1/stats")
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"total  {body['total']:,}")
    for title, counts in (("levels", body["levels"]), ("sources", body["sources"]), ("orgs", body["organizations"])):
        click.echo(f"{title}:")
        for name, n in counts.items():
            click.echo(f"  {name:<30} {n:>12,}")
    last = body["per_minute"][-5:]
    click.echo("last minutes: " + ", ".join(f"{m['minute'][11:16]} {m['count']}" for m in last))


@click.group()
def dlq() -> None:
    """Inspect and replay dead letters (records that could not become rows)."""


@dlq.command("list")
@url_option
@click.option("--reason", help="only this reason, e.g. invalid, not_json, bad_utf8")
@click.option("--since", help="failed at or after (ISO 8601)")
@click.option("--limit", default=50, show_default=True)
def dlq_list(url: str, reason: str | None, since: str | None, limit: int) -> None:
    """List dead letters, newest first: id, reason, why, and the original bytes.

    \b
    Example:
      logpipe dlq list --reason invalid --limit 20
    """
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in {"reason": reason, "since": since, "limit": limit}.items() if v})
    page = call("GET", f"{url}/api/v1/dlq?{query}")
    for letter in page["content"]:
        value = letter["value"]["value"]
        click.echo(f"{letter['id']:<10} {letter['failed_at'][:19]}  {letter['reason']:<20} {letter['detail'][:80]}")
        click.echo(f"           {letter['value']['encoding']}: {value[:160]}")
    if not page["content"]:
        click.echo("no dead letters")


def _letter_ids(url: str, reason: str | None, since: str | None, until: str | None) -> list[str]:
    """Every dead letter matching the selection, page by page."""
    from urllib.parse import urlencode

    found: list[str] = []
    cursor: str | None = None
    while True:
        params = {"reason": reason, "since": since, "until": until, "limit": 500, "cursor": cursor}
        page = call("GET", f"{url}/api/v1/dlq?{urlencode({k: v for k, v in params.items() if v})}")
        found += [letter["id"] for letter in page["content"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


@dlq.command("replay")
@url_option
@click.option("--reason", help="replay the letters of this reason")
@click.option("--since", help="failed at or after (ISO 8601)")
@click.option("--until", help="failed at or before (ISO 8601)")
@click.option("--id", "ids", multiple=True, help="a dead-letter id (partition:offset), repeatable")
@click.option("--patch", help='a JSON merge patch applied first, e.g. \'{"level": "WARN"}\'')
def dlq_replay(
    url: str, reason: str | None, since: str | None, until: str | None, ids: tuple[str, ...], patch: str | None
) -> None:
    """Resend dead letters to logs.raw, optionally fixed by a JSON merge patch.

    A replayed event keeps its original id, so replaying twice stores it once.

    \b
    Example:
      logpipe dlq replay --id 2:41 --patch '{"level": "WARN"}'
    """
    patch_body: Any = None
    if patch:
        try:
            patch_body = orjson.loads(patch)
        except orjson.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--patch") from exc
    if not (ids or reason or since or until):
        raise click.UsageError("say which letters: --id, --reason, --since or --until")
    selected = list(ids) or _letter_ids(url, reason, since, until)
    outcome: dict[str, Any] = {"selected": 0, "replayed": 0, "failed": 0, "errors": []}
    bar: Any
    with progress(len(selected), "replaying") as bar:
        for start in range(0, len(selected), 500):
            chunk = selected[start : start + 500]
            body = {"ids": chunk, "limit": len(chunk), **({"patch": patch_body} if patch_body is not None else {})}
            answer = call("POST", f"{url}/api/v1/dlq/replay", body)
            for key in ("selected", "replayed", "failed"):
                outcome[key] += answer[key]
            outcome["errors"] += answer["errors"]
            bar.update(len(chunk))
    click.echo(f"selected {outcome['selected']}: {outcome['replayed']} replayed, {outcome['failed']} failed again")
    for error in outcome["errors"][:20]:
        click.echo(f"  {error['id']}: {error['message']}", err=True)


@click.command()
@url_option
@click.option("--level", "levels", multiple=True, help="only this level (repeatable)")
@click.option("--source", help="only this source")
@click.option("--org", "organization_id", help="only this organization")
@click.option("-q", "--query", "text", help="only messages containing every one of these words")
@click.option("--json", "as_json", is_flag=True, help="print each event as JSON")
def tail(
    url: str, levels: tuple[str, ...], source: str | None, organization_id: str | None, text: str | None, as_json: bool
) -> None:
    """Follow new events as they arrive (the live tail), until Ctrl-C.

    \b
    Example:
      logpipe tail --level ERROR --source api
    """
    from urllib.parse import urlencode

    params = [("level", level) for level in levels] + [
        (k, v) for k, v in (("source", source), ("organization_id", organization_id), ("q", text)) if v
    ]
    try:
        asyncio.run(_follow(f"{url}/api/v1/logs/tail?{urlencode(params)}", as_json))
    except KeyboardInterrupt:
        pass


async def _follow(url: str, as_json: bool) -> None:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url, headers=auth_headers()) as response:
        if response.status != 200:
            raise click.ClickException(f"{url} answered {response.status}: {await response.text()}")
        event_name = "message"
        async for raw in response.content:
            line = raw.rstrip(b"\r\n")
            if line == b": listening":
                click.echo(f"following {url} (Ctrl-C stops)", err=True)
            elif line.startswith(b"event: "):
                event_name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = orjson.loads(line[6:])
                if event_name == "dropped":
                    raise click.ClickException(f"the server dropped this tail: {data.get('reason')}")
                if as_json:
                    click.echo(line[6:].decode())
                else:
                    click.echo(f"{data['timestamp'][:23]} {data['level']:<5} {data['source']}: {data['message']}")
            elif not line:
                event_name = "message"
