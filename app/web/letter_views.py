"""Dead letters over HTTP: list them, and replay a selection (after a fix) to ``logs.raw``.

``GET /api/v1/dlq`` lists, newest first: ``reason``, ``since``/``until``
(ISO 8601), ``limit`` (default 50, max 500), ``cursor``; the first page
also says how many match (``total``, counted up to 100,000). ``POST
/api/v1/dlq/replay`` takes ``{"reason"?, "since"?, "until"?, "ids"?: ["p:o"],
"patch"?: {JSON merge patch}, "limit"?}`` (:class:`~app.web.schemas.ReplayRequest`),
needs at least one selector, and answers how many went through and how many
failed again (with why).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from faust import web
from pydantic import ValidationError

from app.domain.query import COUNT_CAP, no_nul, parse_time
from app.domain.replay import replay_record, shown_value
from app.domain.topic_layout import RAW
from app.errors import QueryError, ReplayRefused
from app.ops.metrics import EVENTS_REPLAYED
from app.storage import letter_rows
from app.web.base import ServiceView
from app.web.problems import error_response
from app.web.schemas import ReplayRequest

MAX_LIST = 500


def _time(name: str, raw: Any) -> datetime | None:
    return parse_time(name, str(raw)) if raw not in (None, "") else None


def _refs(ids: list[str] | None) -> tuple[tuple[int, int], ...]:
    return tuple((int(p), int(o)) for p, _, o in (ref.partition(":") for ref in ids or ()))


def letter_out(row: Any) -> dict[str, Any]:
    return {
        "id": f"{row[0]}:{row[1]}",
        "reason": row[2],
        "detail": row[3],
        "source": {"topic": row[4], "partition": row[5], "offset": row[6]},
        "failed_at": row[8].isoformat(),
        "key": shown_value(bytes(row[9])) if row[9] is not None else None,
        "value": shown_value(bytes(row[10])),
        "replayed_at": row[11].isoformat() if row[11] else None,
        "replay_count": row[12],
    }


def invalid(exc: QueryError) -> web.Response:
    return error_response(400, "invalid_parameter", str(exc), errors=[exc.as_dict()])


class DeadLetters(ServiceView):
    async def get(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            selection = letter_rows.Selection(
                reason=no_nul("reason", q.get("reason") or "") or None,
                since=_time("since", q.get("since") or q.get("start")),
                until=_time("until", q.get("until") or q.get("end")),
            )
            limit = int(q.get("limit") or 50)
            if not 1 <= limit <= MAX_LIST:
                raise QueryError("limit", "range", f"must be between 1 and {MAX_LIST}")
            cursor = q.get("cursor") or None
            if cursor is not None:
                letter_rows.decode_cursor(cursor)
        except QueryError as exc:
            return invalid(exc)
        except ValueError:
            return error_response(400, "invalid_parameter", "limit: must be an integer")
        pool = self.services.database.ready_pool
        rows = await letter_rows.list_letters(pool, selection, limit, cursor)
        total = None if cursor else await letter_rows.count_letters(pool, selection, COUNT_CAP)
        more = len(rows) > limit
        rows = rows[:limit]
        return self.json(
            {
                "content": [letter_out(r) for r in rows],
                "next_cursor": letter_rows.encode_cursor(rows[-1]) if more and rows else None,
                "total": total,
            }
        )


def replay_request(body: bytes) -> tuple[letter_rows.Selection, ReplayRequest]:
    """The selection and options of a replay body; raises :class:`QueryError` naming the field and rule."""
    try:
        request = ReplayRequest.model_validate_json(body or b"{}")
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else "body"
        rule = {"model_type": "object", "model_attributes_type": "object"}.get(error["type"], error["type"])
        message = "must be a JSON object" if rule == "object" and field == "body" else error["msg"]
        raise QueryError(field, rule, message) from None
    selection = letter_rows.Selection(
        reason=no_nul("reason", request.reason or "") or None,
        since=_time("since", request.since),
        until=_time("until", request.until),
        refs=_refs(request.ids),
    )
    if not (selection.reason or selection.since or selection.until or selection.refs):
        raise QueryError("body", "selector", "give reason, since, until or ids to say which letters")
    return selection, request


class Replay(ServiceView):
    async def post(self, request: web.Request) -> web.Response:
        try:
            selection, options = replay_request(await request.read())
        except QueryError as exc:
            if exc.rule == "json_invalid":
                return error_response(400, "invalid_json", f"body is not valid JSON: {exc.message}")
            return invalid(exc)
        pool = self.services.database.ready_pool
        letters = await letter_rows.select_for_replay(pool, selection, options.limit)
        ready: list[tuple[tuple[int, int], bytes]] = []
        now = datetime.now(UTC)
        failed: list[dict[str, Any]] = []
        for letter in letters:
            try:
                ready.append(
                    (
                        (letter.dlq_partition, letter.dlq_offset),
                        replay_record(letter, options.patch, self.services.event_rules, now=now),
                    )
                )
            except ReplayRefused as exc:
                failed.append({"id": letter.ref, "message": str(exc), "errors": exc.errors})
        futures = [await self.app.producer.send(RAW, None, value, None, None, None) for _, value in ready]
        await asyncio.gather(*futures)
        await letter_rows.mark_replayed(pool, [ref for ref, _ in ready])
        EVENTS_REPLAYED.inc(len(ready))
        return self.json(
            {"selected": len(letters), "replayed": len(ready), "failed": len(failed), "errors": failed[:100]}
        )
