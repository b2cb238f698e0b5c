"""Pydantic models of what the HTTP API answers: the source of its OpenAPI schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError


class FieldErrorOut(BaseModel):
    field: str = Field(description="The field (or parameter) that broke a rule.")
    rule: str = Field(description="Machine-readable rule name, e.g. required, one_of, max_bytes.")
    message: str


class ItemError(FieldErrorOut):
    index: int = Field(description="Position of the item in the batch, from 0.")


class ErrorOut(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. invalid_event, not_found, broker_unavailable.")
    message: str = Field(description="What is wrong, naming the field and the rule.")
    errors: list[dict[str, Any]] | None = Field(None, description="Field errors (with `index` for batch items).")


class Accepted(BaseModel):
    status: str = "accepted"
    id: str
    logId: str = Field(description="The same as `id`, the Java system's name.")
    message: str


class BatchAccepted(BaseModel):
    status: str = "accepted"
    accepted: int
    rejected: int = Field(description="Items not accepted (each has entries in `errors`).")
    ids: list[str]
    errors: list[ItemError]
    processedCount: int
    message: str


class EventOut(BaseModel):
    id: str
    timestamp: str
    level: str
    message: str
    source: str
    organization_id: str | None
    trace_id: str | None
    metadata: dict[str, Any] | None
    organizationId: str | None = Field(description="The Java system's name of `organization_id`.")
    traceId: str | None
    logLevel: str


class ContextEvent(EventOut):
    hit: bool = Field(description="True for the event asked about, false for its neighbours.")


class ContextOut(BaseModel):
    id: str = Field(description="The event asked about.")
    before: int = Field(description="How many older events of its source and organization precede it.")
    after: int = Field(description="How many newer ones follow it.")
    content: list[ContextEvent] = Field(description="Oldest first; the hit among them.")


class Bucket(BaseModel):
    start: str = Field(description="The bucket's first instant (UTC); it lasts `interval_seconds`.")
    total: int
    levels: dict[str, int] = Field(description="Counts per level; levels without events are left out.")


class HistogramOut(BaseModel):
    start: str
    end: str
    interval_seconds: int
    buckets: list[Bucket] = Field(description="Oldest first, every bucket of the range, empty ones too.")


class LogPage(BaseModel):
    content: list[EventOut] = Field(description="Newest first (by relevance first with `q` and `sort=relevance`).")
    size: int
    numberOfElements: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    nextCursor: str | None
    number: int | None = Field(None, description="Offset paging only (`page`): this page's number.")
    totalElements: int | None = Field(None, description="Offset paging only; exact up to 100,000.")
    totalPages: int | None = None
    first: bool | None = None
    last: bool | None = None
    empty: bool | None = None


class MinuteCount(BaseModel):
    minute: str
    count: int


class Window(BaseModel):
    hoursBack: int
    since: str
    total: int
    levels: dict[str, int]


class StatsOut(BaseModel):
    total: int
    levels: dict[str, int]
    sources: dict[str, int] = Field(description="The top sources by count.")
    source_count: int
    organizations: dict[str, int]
    per_minute: list[MinuteCount] = Field(description="Events persisted per minute, the last 60 minutes.")
    window: Window | None = Field(None, description="With `hoursBack`: counts by event timestamp from PostgreSQL.")


class StatusOut(BaseModel):
    status: str


class Check(BaseModel):
    status: str
    error: str | None = None


class PipelineOut(BaseModel):
    broker_reachable: bool
    backpressure: bool = Field(description="true while ingest answers 429 because persisting lags behind.")
    lag: int = Field(description="logs.events records not yet committed by the persist stage.")
    high_water: int
    low_water: int
    drain_rate: float = Field(description="records committed per second by the persist stage, smoothed.")


class ReadyOut(BaseModel):
    status: str
    code: str | None = Field(None, description="not_ready when status is DOWN (with message), as every 503 has.")
    message: str | None = None
    checks: dict[str, Check]
    circuits: dict[str, Literal["closed", "open", "half_open"]] = Field(
        description="Circuit breakers by dependency (postgres): open means reads answer from the cache, marked "
        "stale, or 503 at once; half_open lets one probe read through."
    )
    pipeline: PipelineOut
    partitions: dict[str, list[int]]


class ShownBytes(BaseModel):
    encoding: str = Field(description="utf-8 when the bytes are valid UTF-8, else base64.")
    value: str


class SourcePosition(BaseModel):
    topic: str
    partition: int
    offset: int


class DeadLetterOut(BaseModel):
    id: str = Field(description="`partition:offset` on logs.dlq; what replay's `ids` takes.")
    reason: str
    detail: str
    source: SourcePosition
    failed_at: str
    key: ShownBytes | None
    value: ShownBytes = Field(description="The original bytes, unchanged.")
    replayed_at: str | None
    replay_count: int


class DeadLetterPage(BaseModel):
    content: list[DeadLetterOut]
    next_cursor: str | None
    total: int | None = Field(None, description="How many match (up to 100,000); on the first page only.")


def _text(rule_message: str) -> Any:
    def check(value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise PydanticCustomError("type", rule_message)
        return value

    return BeforeValidator(check)


def _letter_ids(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, list):
        raise PydanticCustomError("type", "must be a list of dead-letter ids like '2:41'")
    for ref in value:
        partition, _, offset = str(ref).partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            raise PydanticCustomError(
                "format", "{ref} is not a dead-letter id like '2:41'", {"ref": repr(str(ref)[:40])}
            )
    return [str(ref) for ref in value]


def _patch(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise PydanticCustomError("object", "must be a JSON object (a JSON merge patch)")
    return value


def _limit(value: Any) -> Any:
    if value is None:
        return 1000
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("type", "must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise PydanticCustomError("type", "must be an integer") from None
    if not 1 <= number <= MAX_REPLAY:
        raise PydanticCustomError("range", "must be between 1 and {n}", {"n": MAX_REPLAY})
    return number


MAX_REPLAY = 10_000


class ReplayRequest(BaseModel):
    """Which dead letters to replay, and the fix to apply; at least one selector is required."""

    model_config = ConfigDict(extra="ignore")

    reason: Annotated[str | None, _text("must be a string, e.g. invalid")] = None
    since: Annotated[str | None, _text("must be an ISO 8601 date-time")] = None
    until: Annotated[str | None, _text("must be an ISO 8601 date-time")] = None
    ids: Annotated[list[str] | None, BeforeValidator(_letter_ids)] = None
    patch: Annotated[dict[str, Any] | None, BeforeValidator(_patch)] = Field(
        None, description="A JSON merge patch (RFC 7386) applied before replay."
    )
    limit: Annotated[int, BeforeValidator(_limit)] = Field(1000, ge=1, le=MAX_REPLAY)


class ReplayOut(BaseModel):
    selected: int
    replayed: int = Field(description="Resent to logs.raw (they keep their original id).")
    failed: int = Field(description="Still not valid events (not resent); see errors.")
    errors: list[dict[str, Any]]
