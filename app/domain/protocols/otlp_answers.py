"""What an OTLP/HTTP receiver answers, in the encoding the request came in (OTLP/HTTP spec, "Responses").

Success is an ``ExportLogsServiceResponse``: empty, or with
``partial_success`` counting the records refused and saying why. A request
that fails as a whole gets a ``google.rpc.Status`` body: code 3
(INVALID_ARGUMENT) for a body that cannot be read, 8 (RESOURCE_EXHAUSTED)
with 429 for rate limits and backpressure, 14 (UNAVAILABLE) with 503 when
the broker cannot take the records. Both are protobuf for a protobuf
request and proto3 JSON for a JSON one.
"""

from __future__ import annotations

from typing import Final

from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
INVALID_ARGUMENT: Final = 3
RESOURCE_EXHAUSTED: Final = 8
UNAVAILABLE: Final = 14


def answer_type(request_type: str) -> str:
    """The response's media type: the request's when it is one OTLP speaks, else JSON (readable to people)."""
    return PROTOBUF if request_type.split(";")[0].strip().lower() == PROTOBUF else JSON


def export_response(content_type: str, rejected: int = 0, error: str = "") -> bytes:
    """Success: an empty response, or one with ``partial_success`` when ``rejected`` records broke a rule."""
    response = ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = error
    return _encode(response, content_type)


def status(content_type: str, code: int, message: str) -> bytes:
    """A whole request's failure as ``google.rpc.Status``."""
    return _encode(Status(code=code, message=message), content_type)


def _encode(message: object, content_type: str) -> bytes:
    if content_type == PROTOBUF:
        encoded: bytes = message.SerializeToString()  # type: ignore[attr-defined]
        return encoded
    return str(json_format.MessageToJson(message, indent=None)).encode()
