"""The log event: its rules, its normalisation and its wire format.

One model serves every way in (HTTP ingest, ``logs.raw``), so an event is
held to the same rules whichever way it came. Errors are reported as
:class:`FieldError` (field + rule + message) so a producer learns exactly
what to fix, and a dead letter says exactly why it is one.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import orjson
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.errors import FieldError, InvalidEvent

__all__ = ["LEVELS", "FieldError", "InvalidEvent", "LogEvent", "event_json_schema", "kafka_record_id", "parse_event"]

LEVELS: Final = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# Other spellings of the six levels, syslog's severity keywords among them (rsyslog's syslogseverity-text).
_LEVEL_SYNONYMS: Final = {
    "WARNING": "WARN",
    "CRITICAL": "FATAL",
    "CRIT": "FATAL",
    "ALERT": "FATAL",
    "EMERG": "FATAL",
    "EMERGENCY": "FATAL",
    "PANIC": "FATAL",
    "ERR": "ERROR",
    "NOTICE": "INFO",
    "INFORMATION": "INFO",
    "INFORMATIONAL": "INFO",
}
MESSAGE_MAX_BYTES: Final = 32 * 1024
METADATA_MAX_BYTES: Final = 16 * 1024
SOURCE_MAX_CHARS: Final = 255
ID_MAX_CHARS: Final = 255

# Events without an id read from a Kafka topic get one derived from where they
# were read, so reprocessing after a crash yields the same id (and no duplicate row).
_KAFKA_ID_NAMESPACE: Final = uuid.UUID("5b2b1f4e-8a39-4c4e-9f0e-6c1a8f9d2e71")


def normalise_level(value: Any) -> Any:
    """A level in its canonical spelling; raises a ``ValueError`` naming the allowed ones."""
    if value is None:
        return "INFO"
    if not isinstance(value, str):
        raise PydanticCustomError("type", "must be a string, one of {levels}", {"levels": LEVELS})
    level = value.strip().upper()
    level = _LEVEL_SYNONYMS.get(level, level)
    if level not in LEVELS:
        raise PydanticCustomError(
            "one_of", "must be one of {levels}, got '{got}'", {"levels": ", ".join(LEVELS), "got": value[:40]}
        )
    return level


def _printable_text(max_chars: int) -> Any:
    def check(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise PydanticCustomError("type", "must be a string")
        if not value:
            raise PydanticCustomError("min_length", "must not be empty")
        if len(value) > max_chars:
            raise PydanticCustomError("max_length", "must be at most {n} characters", {"n": max_chars})
        if not value.isprintable():
            raise PydanticCustomError("printable", "must contain only printable characters")
        return value

    return BeforeValidator(check)


Level = Annotated[str, BeforeValidator(normalise_level)]
Source = Annotated[str, _printable_text(SOURCE_MAX_CHARS)]
OptionalName = Annotated[str | None, _printable_text(ID_MAX_CHARS)]


def time_ordered_id(milliseconds: int, entropy: bytes) -> uuid.UUID:
    """A UUID in version 7's layout (RFC 9562): 48 bits of Unix milliseconds, then 74 bits of ``entropy``.

    Ids that sort by time put each new row at the end of the ``(id,
    timestamp)`` primary key instead of on a random page of it: on a table
    of millions of rows the random UUIDs' inserts each read and dirty a page
    that is rarely in memory.
    """
    raw = bytearray(max(milliseconds, 0).to_bytes(6, "big") + entropy[:10])
    raw[6] = 0x70 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)
    return uuid.UUID(bytes=bytes(raw))


def new_id() -> uuid.UUID:
    """The id of an event received without one: now, then randomness."""
    return time_ordered_id(time.time_ns() // 1_000_000, os.urandom(10))


class LogEvent(BaseModel):
    """A structured log event, normalised.

    Accepts the snake_case field names and the Java system's camelCase ones
    (``logLevel``, ``organizationId``, ``traceId``). Unknown fields are ignored.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True)

    id: uuid.UUID = Field(default_factory=new_id, description="Idempotency key; assigned when absent (time-ordered).")
    timestamp: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="ISO 8601; no zone means UTC; default: time of receipt.",
    )
    level: Level = Field(
        "INFO",
        validation_alias=AliasChoices("level", "logLevel", "log_level", "severity"),
        description="TRACE, DEBUG, INFO, WARN, ERROR or FATAL; case-insensitive; "
        "WARNING means WARN and CRITICAL means FATAL (and syslog's err, notice, crit, alert, emerg are read too).",
    )
    message: str = Field(description="Non-empty, at most 32 KiB of UTF-8.")
    source: Source = Field(description="The emitting service: 1-255 printable characters.")
    organization_id: OptionalName = Field(
        None,
        validation_alias=AliasChoices("organization_id", "organizationId"),
        description="Tenant id.",
    )
    trace_id: OptionalName = Field(None, validation_alias=AliasChoices("trace_id", "traceId"), description="Trace id.")
    metadata: dict[str, Any] | None = Field(None, description="A JSON object of at most 16 KiB serialised.")

    @field_validator("message", mode="before")
    @classmethod
    def _check_message(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise PydanticCustomError("type", "must be a string")
        if not value.strip():
            raise PydanticCustomError("not_blank", "must not be empty or blank")
        if len(value) > MESSAGE_MAX_BYTES // 4 and len(value.encode()) > MESSAGE_MAX_BYTES:
            raise PydanticCustomError("max_bytes", "must be at most {n} bytes of UTF-8", {"n": MESSAGE_MAX_BYTES})
        if "\x00" in value:
            raise PydanticCustomError("no_nul", "must not contain NUL characters")
        return value

    @field_validator("timestamp", mode="after")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            # 0001-01-01T00:00+05:00 is a valid ISO 8601 string but falls before year 1 in UTC.
            raise PydanticCustomError("range", "must fall within years 1 to 9999 in UTC") from None

    @field_validator("metadata", mode="after")
    @classmethod
    def _check_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(orjson.dumps(value)) > METADATA_MAX_BYTES:
            raise PydanticCustomError(
                "max_bytes", "must be at most {n} bytes serialised as JSON", {"n": METADATA_MAX_BYTES}
            )
        return value

    def to_wire(self) -> dict[str, Any]:
        """The event as it travels on ``logs.events``: canonical snake_case JSON."""
        return {
            "id": str(self.id),
            "timestamp": self.timestamp.isoformat(),
            "level": self.level,
            "message": self.message,
            "source": self.source,
            "organization_id": self.organization_id,
            "trace_id": self.trace_id,
            "metadata": self.metadata,
        }


_ALIASES: Final = {"logLevel": "level", "log_level": "level", "severity": "level"} | {
    "organizationId": "organization_id",
    "traceId": "trace_id",
}


_RULES: Final = {
    "missing": "required",
    "uuid_parsing": "uuid",
    "uuid_type": "uuid",
    "uuid_version": "uuid",
    "datetime_parsing": "iso8601",
    "datetime_from_date_parsing": "iso8601",
    "datetime_type": "iso8601",
    "datetime_object_invalid": "iso8601",
    "timezone_aware": "iso8601",
    "string_type": "type",
    "dict_type": "type",
    "model_type": "type",
}
_MESSAGES: Final = {
    "required": "is required",
    "uuid": "must be a UUID",
    "iso8601": "must be an ISO 8601 date-time",
}


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        name = str(loc[0]) if loc else "event"
        name = _ALIASES.get(name, name)
        rule = _RULES.get(err["type"], err["type"])
        message = _MESSAGES.get(rule) or err["msg"]
        errors.append(FieldError(name, rule, message))
    return errors


def parse_event(data: Any, *, default_id: uuid.UUID | None = None, received_at: datetime | None = None) -> LogEvent:
    """Validate and normalise one decoded JSON value into a :class:`LogEvent`.

    ``default_id`` and ``received_at`` fill an absent id and timestamp, so a
    caller that must be deterministic (a Kafka consumer that may reprocess a
    record) can be. Raises :class:`InvalidEvent`.
    """
    if not isinstance(data, dict):
        raise InvalidEvent([FieldError("event", "object", "must be a JSON object")])
    if default_id is not None and data.get("id") is None:
        data = {**data, "id": default_id}
    if received_at is not None and data.get("timestamp") is None:
        data = {**data, "timestamp": received_at}
    try:
        return LogEvent.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(_field_errors(exc)) from None


def kafka_record_id(topic: str, partition: int, offset: int, timestamp_ms: int, value: bytes) -> uuid.UUID:
    """The id of an event read from a Kafka record that carried none: the record's time, then a hash of where
    it was and what it held.

    The same record read again gives the same id; the timestamp and value are
    part of it because offsets start again at 0 when a topic is re-created.
    """
    digest = hashlib.sha1(  # noqa: S324 - a name-based id, not a security digest
        _KAFKA_ID_NAMESPACE.bytes + f"{topic}/{partition}/{offset}/{timestamp_ms}/".encode() + value
    ).digest()
    return time_ordered_id(timestamp_ms, digest)


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of an event as producers may send it."""
    schema = LogEvent.model_json_schema(by_alias=False, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
