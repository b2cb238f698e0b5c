"""The ``logpipe`` command: run a worker, set up, send events, read stats.

Every command reads the same settings as the worker (``KAFKA_BROKER_URL``,
``DATABASE_URL``, ...); ``--help`` on each shows an example.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import IO, Any

import click
import orjson

from app.settings import get_settings

DEFAULT_URL = "http://127.0.0.1:6066"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """logpipe: validate, dead-letter, persist and count structured log events."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a worker (the same as `faust -A app.app worker`); extra options go to Faust.

    \b
    Example:
      logpipe worker --loglevel info --web-port 6067
    """
    from app.app import app

    sys.argv = ["logpipe", "worker", *ctx.args]
    app.main()


@main.command()
def migrate() -> None:
    """Create the database when missing and apply the SQL migrations in schemas/.

    \b
    Example:
      DATABASE_URL=postgresql://logpipe@db:5432/logpipe logpipe migrate
    """
    from app.storage import migrate as migrations

    dsn = get_settings().database_url.get_secret_value()
    asyncio.run(migrations.ensure_database(dsn))
    applied = asyncio.run(migrations.migrate(dsn))
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema up to date")


@main.group()
def topics() -> None:
    """Manage the pipeline's Kafka topics."""


@topics.command("create")
def topics_create() -> None:
    """Create logs.raw, logs.events, logs.dlq and logs.counts with TOPIC_PARTITIONS partitions.

    \b
    Example:
      KAFKA_BROKER_URL=kafka://kafka:9092 TOPIC_PARTITIONS=6 logpipe topics create
    """
    from app.topics import create_topics, topic_specs

    settings = get_settings()
    specs = topic_specs(settings.topic_partitions, settings.raw_max_bytes)
    created = asyncio.run(create_topics(settings.broker_bootstrap, specs, settings.topic_replication))
    for spec in specs:
        state = "created" if spec.name in created else "present"
        click.echo(f"{spec.name:<12} {spec.partitions} partition(s)  {state}")


def _lines(source: IO[bytes]) -> Iterator[bytes]:
    for line in source:
        if line.strip():
            yield line.rstrip(b"\r\n")


@main.command()
@click.argument("file", type=click.File("rb"), default="-")
@click.option("--url", default=DEFAULT_URL, show_default=True, help="A worker's HTTP address.")
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
        with click.progressbar(length=len(lines), label="sending", file=sys.stderr) as bar:
            for start in range(0, len(lines), batch):
                chunk = lines[start : start + batch]
                headers = {"Content-Type": "application/x-ndjson"}
                async with http.post(f"{url}/api/v1/logs/batch", data=b"\n".join(chunk), headers=headers) as response:
                    body = orjson.loads(await response.read() or b"{}")
                    if response.status == 202:
                        accepted += body["accepted"]
                        rejected += body["rejected"]
                    elif response.status == 422:
                        rejected += len(chunk)
                    else:
                        raise click.ClickException(f"{url} answered {response.status}: {body.get('message', body)}")
                    errors += [{**e, "line": start + e["index"] + 1} for e in body.get("errors", [])]
                bar.update(len(chunk))
    return {"accepted": accepted, "rejected": rejected, "errors": errors}


async def _send_kafka(lines: list[bytes], batch: int) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    from app.topics import RAW

    producer = AIOKafkaProducer(bootstrap_servers=get_settings().broker_bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        bar: Any
        with click.progressbar(length=len(lines), label="producing", file=sys.stderr) as bar:
            for start in range(0, len(lines), batch):
                chunk = lines[start : start + batch]
                await asyncio.gather(*[await producer.send(RAW, line) for line in chunk])
                bar.update(len(chunk))
    finally:
        await producer.stop()
    return {"accepted": len(lines), "rejected": 0, "errors": []}


@main.command()
@click.option("--url", default=DEFAULT_URL, show_default=True, help="A worker's HTTP address.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
def stats(url: str, as_json: bool) -> None:
    """Show live counts: total, per level, top sources, organizations.

    \b
    Example:
      logpipe stats --url http://127.0.0.1:6067
    """
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/v1/stats", timeout=10) as response:  # noqa: S310 - operator's URL
            body = orjson.loads(response.read())
    except OSError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from exc
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


if __name__ == "__main__":
    main()
