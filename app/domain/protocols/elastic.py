"""Elasticsearch ``_bulk``: NDJSON action and document lines in, Elasticsearch's own answer out.

Shippers that speak Elasticsearch (Filebeat, Fluent Bit ``es``, Vector
``elasticsearch``, Logstash, rsyslog ``omelasticsearch``) send pairs of
lines: an action (``{"create": {"_index": "logs"}}``) and the document it
carries. ``index`` and ``create`` become events through
:func:`app.domain.protocols.shapes.from_shipper`; ``update`` and ``delete``
make no sense for an append-only log and are refused per item, the way
Elasticsearch refuses an item, so one odd line never costs a whole batch.

Resynchronising after a broken action line (not JSON, not a one-key object,
an unknown action): that line is refused as one item, and the line after it
is taken as its document and skipped too, unless that line is itself a
well-formed action. So a pair whose action line was garbled costs one item,
and a stray line between pairs costs one item without swallowing the next
pair. A body in which no line is a well-formed action is not a bulk body at
all and raises :class:`~app.errors.BadBody`, as Elasticsearch refuses the
whole request then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

import orjson

from app.domain.protocols import Item, Refused
from app.domain.protocols.shapes import from_shipper
from app.errors import BadBody

DEFAULT_INDEX: Final = "logpipe"
ACCEPTED_ACTIONS: Final = ("index", "create")
# Each action Elasticsearch knows, and whether a document line follows it.
_HAS_DOCUMENT: Final = {"index": True, "create": True, "update": True, "delete": False}
# The response key of an item whose action line could not be read: the commonest action.
_UNREADABLE_ACTION: Final = "index"


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One action of a bulk body: its name, target index and id, and the event it carried or why not."""

    action: str
    index: str
    id: str | None
    item: Item


class ItemError(Protocol):
    """What refused an item: :class:`Refused` from decoding or :class:`app.models.FieldError` from the model."""

    @property
    def field(self) -> str: ...

    @property
    def rule(self) -> str: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What became of one item, for :func:`bulk_response`.

    ``id`` is the ``_id`` to report (the action's own, else the event's id);
    ``error`` is the model's or the ingest service's refusal. An item the
    decoder already refused reports that refusal without one.
    """

    item: BulkItem
    id: str | None
    error: ItemError | None = None


def decode_bulk(body: bytes, *, index: str | None, received_at: datetime) -> list[BulkItem]:
    """The items of a ``_bulk`` body, in order; ``index`` is the URL's (``/{index}/_bulk``), if any.

    An event without a source alias takes its item's ``_index`` as source, and
    one without a timestamp takes ``received_at``. Raises
    :class:`~app.errors.BadBody` when no line is a well-formed action.
    """
    lines = [(number, line.rstrip(b"\r")) for number, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
    default_index = index or DEFAULT_INDEX
    items: list[BulkItem] = []
    position = 0
    while position < len(lines):
        item, position = _next_item(lines, position, default_index, received_at)
        items.append(item)
    if all(_unreadable(item) for item in items):
        raise BadBody("no_actions", "a bulk body is NDJSON action and document lines; this one has no action line")
    return items


def _next_item(
    lines: list[tuple[int, bytes]], position: int, default_index: str, received_at: datetime
) -> tuple[BulkItem, int]:
    number, line = lines[position]
    action = _action(line)
    if isinstance(action, str):
        following = position + 1
        if following < len(lines) and not isinstance(_action(lines[following][1]), tuple):
            following += 1
        refused = Refused("action", "action_line", f"line {number}: {action}")
        return BulkItem(_UNREADABLE_ACTION, default_index, None, refused), following
    name, meta = action
    named = meta.get("_index")
    target = named if isinstance(named, str) and named else default_index
    raw_id = meta.get("_id")
    doc_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and raw_id != "" else None
    has_document = position + 1 < len(lines) and _HAS_DOCUMENT[name]
    after = position + 2 if has_document else position + 1
    if name not in ACCEPTED_ACTIONS:
        message = f"line {number}: only index and create are accepted, this action is {name}"
        return BulkItem(name, target, doc_id, Refused("action", "one_of", message)), after
    if not has_document:
        missing = Refused("event", "required", f"line {number}: the {name} action has no document line")
        return BulkItem(name, target, doc_id, missing), after
    return BulkItem(name, target, doc_id, _document(lines[position + 1], target, received_at)), after


def _unreadable(item: BulkItem) -> bool:
    return isinstance(item.item, Refused) and item.item.rule == "action_line"


def _action(line: bytes) -> tuple[str, dict[str, Any]] | str:
    """The action's name and metadata, or a sentence saying why the line is not an action."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "an action line must be JSON"
    if not isinstance(value, dict) or len(value) != 1:
        return "an action line must be a JSON object with one key, the action"
    ((name, meta),) = value.items()
    if name not in _HAS_DOCUMENT:
        return f"the action must be one of create, delete, index, update; got {name[:40]!r}"
    if not isinstance(meta, dict):
        return f"the {name} action's metadata must be a JSON object"
    return name, meta


def _document(line: tuple[int, bytes], target: str, received_at: datetime) -> Item:
    number, raw = line
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Refused("event", "json", f"line {number} is not valid JSON: {exc}")
    if not isinstance(document, dict):
        return Refused("event", "object", f"line {number}: a document must be a JSON object")
    event = from_shipper(document)
    event.setdefault("source", target)
    event.setdefault("timestamp", received_at.isoformat())
    return event


def bulk_response(outcomes: Sequence[BulkOutcome], took_ms: int) -> bytes:
    """Elasticsearch 8.11's bulk answer for ``outcomes``, in their order, as JSON bytes.

    Field names and order are Elasticsearch's own: ``BulkItemResponse.toXContent``
    and ``DocWriteResponse.innerToXContent`` (elastic/elasticsearch, server/
    src/main/java/org/elasticsearch/action/bulk/BulkItemResponse.java and
    action/DocWriteResponse.java) write ``_index, _id, _version, result,
    _shards, _seq_no, _primary_term`` then ``status`` for a success, and
    ``_index, _id, status, error{type, reason}`` for a failure. Up to 8.12
    ``BulkResponse`` writes ``took, errors, items``; 8.13 (elastic/
    elasticsearch#104310, chunked encoding) moved ``errors`` first. We keep
    8.11's order, which is also what Fluent Bit's fallback check needs: when
    a response is too large to parse it searches the raw text for
    ``"errors":false,"items":[`` (plugins/out_es/es.c), so the bytes are
    compact with ``items`` right after ``errors``.
    """
    items: list[dict[str, Any]] = []
    errors = False
    seq_no = 0
    for outcome in outcomes:
        error = outcome.error
        if error is None and isinstance(outcome.item.item, Refused):
            error = outcome.item.item
        if error is None:
            items.append({outcome.item.action: _created(outcome, seq_no)})
            seq_no += 1
        else:
            errors = True
            items.append({outcome.item.action: _failed(outcome, error)})
    return orjson.dumps({"took": took_ms, "errors": errors, "items": items})


def _created(outcome: BulkOutcome, seq_no: int) -> dict[str, Any]:
    return {
        "_index": outcome.item.index,
        "_id": outcome.id,
        "_version": 1,
        "result": "created",
        "_shards": {"total": 1, "successful": 1, "failed": 0},
        "_seq_no": seq_no,
        "_primary_term": 1,
        "status": 201,
    }


def _failed(outcome: BulkOutcome, error: ItemError) -> dict[str, Any]:
    # A refused action is an illegal request; anything wrong with the document is a mapping failure.
    kind = "illegal_argument_exception" if error.field == "action" else "mapper_parsing_exception"
    return {
        "_index": outcome.item.index,
        "_id": outcome.id,
        "status": 400,
        "error": {"type": kind, "reason": f"{error.field}: {error.message}"},
    }
