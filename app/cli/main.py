"""The ``logpipe`` command: run a worker, set up, send events, read stats.

Every command reads the same settings as the worker (``KAFKA_BROKER_URL``,
``DATABASE_URL``, ...); ``--help`` on each shows an example. Commands that
set up a deployment live in :mod:`app.cli.admin`, those that talk to a
running worker in :mod:`app.cli.client`.
"""

from __future__ import annotations

import click

from app.cli import admin, client, export_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--api-key",
    envvar="LOGPIPE_API_KEY",
    help="The API key the HTTP commands send (X-API-Key); also LOGPIPE_API_KEY.",
)
def main(api_key: str | None) -> None:
    """logpipe: validate, dead-letter, persist and count structured log events."""


for command in (admin.worker, admin.migrate, admin.topics, admin.keys):
    main.add_command(command)
for command in (client.send, client.stats, client.dlq, client.tail, export_command.export):
    main.add_command(command)
