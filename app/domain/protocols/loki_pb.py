"""Loki's push request as protobuf message classes, built from a descriptor at import.

Field names and numbers are those of grafana/loki ``pkg/push/push.proto``
(``PushRequest``, ``StreamAdapter``, ``EntryAdapter``, ``LabelPairAdapter``),
checked against that file; building the classes here spares a protoc step
and a generated file. Fields we do not read (``PushRequest.format``,
``EntryAdapter.parsed``) are left out: protobuf skips unknown fields.

Loki's text fields are declared ``bytes`` here, not ``string``: the wire
encoding is the same, but Go's gogo-protobuf does not check UTF-8 and
Python's protobuf refuses a whole body for one invalid byte. Reading
bytes lets the decoder replace a bad byte in one line instead.

Protobuf's Python package has no type information, so the classes are
``Any``; that ``Any`` stops at :mod:`.loki`.
"""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    timestamp_pb2,
)

_PACKAGE: Final = "logproto"
_F: Final = descriptor_pb2.FieldDescriptorProto
_OPTIONAL: Final = _F.LABEL_OPTIONAL
_REPEATED: Final = _F.LABEL_REPEATED

# (message, [(field, number, label, type, message type)])
_MESSAGES: Final = (
    ("PushRequest", [("streams", 1, _REPEATED, _F.TYPE_MESSAGE, ".logproto.StreamAdapter")]),
    (
        "StreamAdapter",
        [
            ("labels", 1, _OPTIONAL, _F.TYPE_BYTES, None),
            ("entries", 2, _REPEATED, _F.TYPE_MESSAGE, ".logproto.EntryAdapter"),
            ("hash", 3, _OPTIONAL, _F.TYPE_UINT64, None),
        ],
    ),
    (
        "EntryAdapter",
        [
            ("timestamp", 1, _OPTIONAL, _F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
            ("line", 2, _OPTIONAL, _F.TYPE_BYTES, None),
            ("structuredMetadata", 3, _REPEATED, _F.TYPE_MESSAGE, ".logproto.LabelPairAdapter"),
        ],
    ),
    (
        "LabelPairAdapter",
        [("name", 1, _OPTIONAL, _F.TYPE_BYTES, None), ("value", 2, _OPTIONAL, _F.TYPE_BYTES, None)],
    ),
)


def _file_descriptor() -> Any:
    file = descriptor_pb2.FileDescriptorProto(
        name="logpipe/loki_push.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=[timestamp_pb2.DESCRIPTOR.name],
    )
    for message_name, fields in _MESSAGES:
        message = file.message_type.add(name=message_name)
        for name, number, label, kind, type_name in fields:
            field = message.field.add(name=name, number=number, label=label, type=kind)
            if type_name:
                field.type_name = type_name
    return file


def _message_classes() -> dict[str, Any]:
    # A pool of our own, so logproto names cannot clash with anything in the default pool.
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(_file_descriptor())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")) for name, _ in _MESSAGES
    }


_CLASSES: Final = _message_classes()
PushRequest: Final[Any] = _CLASSES["PushRequest"]
StreamAdapter: Final[Any] = _CLASSES["StreamAdapter"]
EntryAdapter: Final[Any] = _CLASSES["EntryAdapter"]
LabelPairAdapter: Final[Any] = _CLASSES["LabelPairAdapter"]
