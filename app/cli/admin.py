"""The ``logpipe`` commands that run and set up a deployment: worker, migrate, topics, keys."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
import orjson

from app.settings import get_settings


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
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


@click.command()
def migrate() -> None:
    """Create the database when missing and apply the SQL migrations shipped in app/storage/migrations/.

    \b
    Example:
      DATABASE_URL=postgresql://logpipe@db:5432/logpipe logpipe migrate
    """
    from app.storage import migrate as migrations

    dsn = get_settings().database_url.get_secret_value()
    asyncio.run(migrations.ensure_database(dsn))
    applied = asyncio.run(migrations.migrate(dsn))
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema up to date")


@click.group()
def topics() -> None:
    """Manage the pipeline's Kafka topics."""


@topics.command("create")
def topics_create() -> None:
    """Create logs.raw, logs.events, logs.dlq and logs.counts with TOPIC_PARTITIONS partitions.

    \b
    Example:
      KAFKA_BROKER_URL=kafka://kafka:9092 TOPIC_PARTITIONS=6 logpipe topics create
    """
    from app.domain.topic_layout import topic_specs
    from app.kafka.topic_admin import create_topics

    settings = get_settings()
    specs = topic_specs(settings.topic_partitions, settings.raw_max_bytes)
    created = asyncio.run(create_topics(settings.broker_bootstrap, specs, settings.topic_replication))
    for spec in specs:
        state = "created" if spec.name in created else "present"
        click.echo(f"{spec.name:<12} {spec.partitions} partition(s)  {state}")


@click.group()
def keys() -> None:
    """Make API keys and the configuration entries that admit them."""


@keys.command("new")
@click.option("--org", "organization", help="the organization (tenant) the key belongs to; omit only for admin")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["ingest", "query", "admin"]),
    help="what the key may do (repeatable)",
)
@click.option("--name", help="a name for the key in logs and rate limits")
def keys_new(organization: str | None, roles: tuple[str, ...], name: str | None) -> None:
    """Make a new random key; print it once, and its API_KEYS entry (which holds only its hash).

    \b
    Example:
      logpipe keys new --org acme --role ingest --role query --name acme-shipper
    """
    from app.domain.keys import KeyRing, hash_key, new_key
    from app.errors import ConfigError

    key = new_key()
    spec: dict[str, Any] = {"organization": organization, "roles": sorted(set(roles))}
    if name:
        spec["name"] = name
    entry = {hash_key(key): spec}
    try:
        KeyRing.from_json(orjson.dumps(entry))
    except ConfigError as exc:
        raise click.UsageError(str(exc).partition(": ")[2]) from exc
    click.echo(f"key (shown once, give it to the client): {key}", err=True)
    click.echo(key)
    click.echo("add to API_KEYS (or the API_KEYS_FILE object):", err=True)
    click.echo(orjson.dumps(entry).decode())
