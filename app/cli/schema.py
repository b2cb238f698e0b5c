"""``python -m app.cli.schema`` prints the JSON Schema of an event (``make schema``)."""

from __future__ import annotations

import sys

import orjson

from app.models import event_json_schema


def render() -> bytes:
    return orjson.dumps(event_json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(render())
