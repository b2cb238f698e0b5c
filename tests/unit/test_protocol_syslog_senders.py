"""What real syslog senders put on the wire: CPython's SysLogHandler, rsyslog's omfwd templates, glibc."""

from __future__ import annotations

import logging
import logging.handlers
import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.protocols.syslog import parse_message
from app.domain.protocols.syslog_framing import Framer
from app.models import parse_event

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def parse(data: bytes) -> dict[str, Any]:
    item = parse_message(data, received_at=RECEIVED)
    assert isinstance(item, dict), item
    parse_event(item)
    return item


class _CapturedSocket:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, address: object) -> None:
        self.sent.append(data)

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self) -> None:
        pass


class _CapturingSysLogHandler(logging.handlers.SysLogHandler):
    """CPython's own SysLogHandler.emit, with the socket swapped for one that keeps the bytes."""

    def createSocket(self) -> None:
        self.unixsocket = False
        self.socket = _CapturedSocket()


def sent_by_python(socktype: socket.SocketKind, records: list[tuple[int, str]]) -> list[bytes]:
    handler = _CapturingSysLogHandler(address=("localhost", 514), socktype=socktype)
    for level, text in records:
        handler.emit(logging.LogRecord("app", level, __file__, 1, text, None, None))
    captured: list[bytes] = handler.socket.sent
    handler.close()
    return captured


@pytest.mark.parametrize(
    ("level", "pri", "expected_level", "severity"),
    [
        (logging.DEBUG, b"<15>", "DEBUG", "debug"),
        (logging.INFO, b"<14>", "INFO", "info"),
        (logging.WARNING, b"<12>", "WARN", "warning"),
        (logging.ERROR, b"<11>", "ERROR", "err"),
        (logging.CRITICAL, b"<10>", "FATAL", "crit"),
    ],
)
def test_python_syslog_handler_over_udp(level: int, pri: bytes, expected_level: str, severity: str) -> None:
    (datagram,) = sent_by_python(socket.SOCK_DGRAM, [(level, "my message")])
    assert datagram == pri + b"my message\x00"
    event = parse(datagram)
    assert (event["message"], event["level"], event["source"]) == ("my message", expected_level, "syslog")
    assert event["metadata"] == {"facility": "user", "severity": severity, "format": "rfc3164"}
    assert event["timestamp"] == RECEIVED.isoformat()


def test_python_syslog_handler_over_tcp_is_nul_framed_and_an_ident_names_the_source() -> None:
    handler = _CapturingSysLogHandler(
        address=("localhost", 514), socktype=socket.SOCK_STREAM, facility=logging.handlers.SysLogHandler.LOG_LOCAL3
    )
    handler.ident = "billing: "
    for level, text in [(logging.ERROR, "card declined"), (logging.INFO, "zoë paid")]:
        handler.emit(logging.LogRecord("app", level, __file__, 1, text, None, None))
    stream = b"".join(handler.socket.sent)
    assert stream == b"<155>billing: card declined\x00<158>billing: zo\xc3\xab paid\x00"
    frames = Framer(max_frame=1024).feed(stream)
    events = [parse(frame) for frame in frames if isinstance(frame, bytes)]
    assert [(e["message"], e["level"], e["source"]) for e in events] == [
        ("billing: card declined", "ERROR", "billing"),
        ("billing: zoë paid", "INFO", "billing"),
    ]
    assert events[0]["metadata"]["facility"] == "local3"


RSYSLOG = [
    # omfwd's default RSYSLOG_TraditionalForwardFormat:
    # "<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%", LF-framed over TCP.
    (
        b"<30>Mar  1 11:59:58 web1 nginx[812]: GET /health 200\n",
        ("GET /health 200", "INFO", "nginx", "2024-03-01T11:59:58+00:00"),
        {"hostname": "web1", "procid": "812", "format": "rfc3164"},
    ),
    # RSYSLOG_SyslogProtocol23Format: "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID%
    # %MSGID% %STRUCTURED-DATA% %msg%\n".
    (
        b"<27>1 2024-03-01T12:59:58.123456+01:00 web1 nginx 812 - - upstream timed out\n",
        ("upstream timed out", "ERROR", "nginx", "2024-03-01T11:59:58.123456+00:00"),
        {"hostname": "web1", "procid": "812", "format": "rfc5424"},
    ),
    # RSYSLOG_ForwardFormat: the traditional layout with an RFC 3339 timestamp.
    (
        b"<31>2024-03-01T11:59:58.5Z web1 cron[7]: job done",
        ("job done", "DEBUG", "cron", "2024-03-01T11:59:58.500000+00:00"),
        {"hostname": "web1", "procid": "7", "format": "rfc3164"},
    ),
    # glibc syslog(3) to /dev/log: no HOSTNAME.
    (
        b"<13>Feb 29 23:00:00 backup.sh[99]: started",
        ("started", "INFO", "backup.sh", "2024-02-29T23:00:00+00:00"),
        {"procid": "99", "format": "rfc3164"},
    ),
]


@pytest.mark.parametrize(("data", "fields", "metadata"), RSYSLOG, ids=["traditional", "protocol23", "forward", "glibc"])
def test_what_rsyslog_and_glibc_send(data: bytes, fields: tuple[str, ...], metadata: dict[str, Any]) -> None:
    event = parse(data)
    assert (event["message"], event["level"], event["source"], event["timestamp"]) == fields
    assert {key: event["metadata"][key] for key in metadata} == metadata


def test_rsyslog_octet_counted_frames_parse_one_by_one() -> None:
    first = b"<27>1 2024-03-01T12:00:00Z web1 nginx 812 - - upstream timed out\n"
    second = b"<30>1 2024-03-01T12:00:01Z web1 nginx 812 - - GET / 200\n"
    stream = b"%d %s%d %s" % (len(first), first, len(second), second)
    frames = Framer(max_frame=1024).feed(stream)
    assert [parse(frame)["message"] for frame in frames if isinstance(frame, bytes)] == [
        "upstream timed out",
        "GET / 200",
    ]
