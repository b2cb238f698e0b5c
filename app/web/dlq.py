"""Dead letters over HTTP: list them, and replay a selection (after a fix) to ``logs.raw``.

``GET /api/v1/dlq`` lists, newest first: ``reason``, ``since``/``until``
(ISO 8601), ``limit`` (default 50, max 500), ``cursor``; the first page
also says how many match (``total``, counted up to 100,000). ``POST
/api/v1/dlq/replay`` takes ``{"reason"?, "since"?, "until"?, "ids"?: ["p:o"],
"patch"?: {JSON merge patch}, "limit"?}``, needs at least one selector, and
answers how many went through and how many failed again (with why).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
from faust import web

from app.app import app, database
from app.errors import StorageUnavailable
from app.metrics import EVENTS_REPLAYED
from app.query import COUNT_CAP, QueryError, no_nul, parse_time
from app.replay import ReplayRefused, replay_record, shown_value
from app.storage import deadletters
from app.topics import RAW
from app.web.errors import database_unavailable, error_response

MAX_LIST = 500
MAX_REPLAY = 10_000


def _time(name: str, raw: Any) -> datetime | None:
    return parse_time(name, str(raw)) if raw not in (None, "") else None


def _refs(ids: Any) -> tuple[tuple[int, int], ...]:
    if ids is None:
        return ()
    if not isinstance(ids, list):
        raise QueryError("ids", "type", "must be a list of dead-letter ids like '2:41'")
    refs = []
    for ref in ids:
        partition, _, offset = str(ref).partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            raise QueryError("ids", "format", f"{str(ref)[:40]!r} is not a dead-letter id like '2:41'")
        refs.append((int(partition), int(offset)))
    return tuple(refs)


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


@app.page("/api/v1/dlq")
class DeadLetters(web.View):
    async def get(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            selection = deadletters.Selection(
                reason=no_nul("reason", q.get("reason") or "") or None,
                since=_time("since", q.get("since") or q.get("start")),
                until=_time("until", q.get("until") or q.get("end")),
            )
            limit = int(q.get("limit") or 50)
            if not 1 <= limit <= MAX_LIST:
                raise QueryError("limit", "range", f"must be between 1 and {MAX_LIST}")
        except QueryError as exc:
            return error_response(400, "invalid_parameter", str(exc), errors=[exc.as_dict()])
        except ValueError:
            return error_response(400, "invalid_parameter", "limit: must be an integer")
        if not database.is_ready:
            return database_unavailable()
        try:
            rows = await deadletters.list_letters(database.pool, selection, limit, q.get("cursor") or None)
            total = None if q.get("cursor") else await deadletters.count_letters(database.pool, selection, COUNT_CAP)
        except ValueError as exc:
            return error_response(400, "invalid_parameter", str(exc))
        except StorageUnavailable as exc:
            return database_unavailable(str(exc))
        more = len(rows) > limit
        rows = rows[:limit]
        return self.json(
            {
                "content": [letter_out(r) for r in rows],
                "next_cursor": deadletters.encode_cursor(rows[-1]) if more and rows else None,
                "total": total,
            }
        )


@app.page("/api/v1/dlq/replay")
class Replay(web.View):
    async def post(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise QueryError("body", "object", "must be a JSON object")
            reason = body.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise QueryError("reason", "type", "must be a string, e.g. invalid")
            selection = deadletters.Selection(
                reason=no_nul("reason", reason or "") or None,
                since=_time("since", body.get("since")),
                until=_time("until", body.get("until")),
                refs=_refs(body.get("ids")),
            )
            if not (selection.reason or selection.since or selection.until or selection.refs):
                raise QueryError("body", "selector", "give reason, since, until or ids to say which letters")
            patch = body.get("patch")
            if patch is not None and not isinstance(patch, dict):
                raise QueryError("patch", "object", "must be a JSON object (a JSON merge patch)")
            limit = int(body.get("limit") or 1000)
            if not 1 <= limit <= MAX_REPLAY:
                raise QueryError("limit", "range", f"must be between 1 and {MAX_REPLAY}")
        except orjson.JSONDecodeError as exc:
            return error_response(400, "invalid_json", f"body is not valid JSON: {exc}")
        except QueryError as exc:
            return error_response(400, "invalid_parameter", str(exc), errors=[exc.as_dict()])
        except (TypeError, ValueError):
            return error_response(400, "invalid_parameter", "limit: must be an integer")
        if not database.is_ready:
            return database_unavailable()
        try:
            letters = await deadletters.select_for_replay(database.pool, selection, limit)
        except StorageUnavailable as exc:
            return database_unavailable(str(exc))
        ready: list[tuple[tuple[int, int], bytes]] = []
        failed: list[dict[str, Any]] = []
        for letter in letters:
            try:
                ready.append(((letter.dlq_partition, letter.dlq_offset), replay_record(letter, patch)))
            except ReplayRefused as exc:
                failed.append({"id": letter.ref, "message": str(exc), "errors": exc.errors})
        futures = [await app.producer.send(RAW, None, value, None, None, None) for _, value in ready]
        await asyncio.gather(*futures)
        try:
            await deadletters.mark_replayed(database.pool, [ref for ref, _ in ready])
        except StorageUnavailable as exc:
            return database_unavailable(f"replayed {len(ready)} but could not record it: {exc}")
        EVENTS_REPLAYED.inc(len(ready))
        return self.json(
            {"selected": len(letters), "replayed": len(ready), "failed": len(failed), "errors": failed[:100]}
        )
