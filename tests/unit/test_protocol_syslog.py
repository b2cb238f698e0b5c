"""Syslog messages to events: the RFCs' own examples, what real senders write, and the odd cases."""

from __future__ import annotations

import logging
import logging.handlers
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols import Item, Refused
from app.domain.protocols.syslog import FACILITIES, parse_message
from app.domain.protocols.syslog_framing import Framer
from app.models import MESSAGE_MAX_BYTES, parse_event

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BOM = b"\xef\xbb\xbf"


def parse(data: bytes, received_at: datetime = RECEIVED) -> dict[str, Any]:
    item = parse_message(data, received_at=received_at)
    assert isinstance(item, dict), item
    parse_event(item)
    return item


RFC5424_EXAMPLES = [
    (
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        + BOM
        + b"'su root' failed for lonvick on /dev/pts/8",
        "'su root' failed for lonvick on /dev/pts/8",
        "FATAL",
        "su",
        "2003-10-11T22:14:15.003000+00:00",
        {
            "facility": "auth",
            "severity": "crit",
            "format": "rfc5424",
            "hostname": "mymachine.example.com",
            "msgid": "ID47",
        },
    ),
    (
        b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
        "%% It's time to make the do-nuts.",
        "INFO",
        "myproc",
        "2003-08-24T12:14:15.000003+00:00",
        {"facility": "local4", "severity": "notice", "format": "rfc5424", "hostname": "192.0.2.1", "procid": "8710"},
    ),
    (
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
        + BOM
        + b"An application event log entry...",
        "An application event log entry...",
        "INFO",
        "evntslog",
        "2003-10-11T22:14:15.003000+00:00",
        {
            "facility": "local4",
            "severity": "notice",
            "format": "rfc5424",
            "hostname": "mymachine.example.com",
            "msgid": "ID47",
            "structured_data": {"exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}},
        },
    ),
    (
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
        '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
        "INFO",
        "evntslog",
        "2003-10-11T22:14:15.003000+00:00",
        {
            "facility": "local4",
            "severity": "notice",
            "format": "rfc5424",
            "hostname": "mymachine.example.com",
            "msgid": "ID47",
            "structured_data": {
                "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
                "examplePriority@32473": {"class": "high"},
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("data", "message", "level", "source", "timestamp", "metadata"), RFC5424_EXAMPLES, ids=["ex1", "ex2", "ex3", "ex4"]
)
def test_rfc5424_section_6_5_examples(
    data: bytes, message: str, level: str, source: str, timestamp: str, metadata: dict[str, Any]
) -> None:
    event = parse(data)
    assert (event["message"], event["level"], event["source"], event["timestamp"]) == (
        message,
        level,
        source,
        timestamp,
    )
    assert event["metadata"] == metadata


RFC3164_EXAMPLES = [
    # 5.4 example 1.
    (
        b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        ("'su root' failed for lonvick on /dev/pts/8", "FATAL", "su", "2023-10-11T22:14:15+00:00"),
        {"facility": "auth", "severity": "crit", "format": "rfc3164", "hostname": "mymachine"},
    ),
    # 5.4 example 2 as the device sent it (no PRI), and as the relay forwarded it.
    (
        b"Use the BFG!",
        ("Use the BFG!", "INFO", "syslog", "2024-03-01T12:00:00+00:00"),
        {"facility": "user", "severity": "notice", "format": "rfc3164"},
    ),
    (
        b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
        ("Use the BFG!", "INFO", "10.0.0.99", "2024-02-05T17:32:18+00:00"),
        {"facility": "user", "severity": "notice", "format": "rfc3164", "hostname": "10.0.0.99"},
    ),
    # 5.4 example 3: the RFC notes "CST" lands in HOSTNAME and "1987" starts the CONTENT.
    (
        b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  "
        b"Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # "
        b"Transport: Conveyer1=OK, Conveyer2=OK # %%",
        (
            "1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK # "
            "Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, Conveyer2=OK # %%",
            "INFO",
            "CST",
            "2023-08-24T05:34:00+00:00",
        ),
        {"facility": "local4", "severity": "notice", "format": "rfc3164", "hostname": "CST"},
    ),
    # 5.4 example 4: no valid TIMESTAMP, so the whole rest is CONTENT, dated on receipt.
    (
        b"<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
        (
            "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
            "FATAL",
            "syslog",
            "2024-03-01T12:00:00+00:00",
        ),
        {"facility": "kern", "severity": "emerg", "format": "rfc3164"},
    ),
    # ... and as a relay forwarded it, with its own TIMESTAMP and HOSTNAME in front.
    (
        b"<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 "
        b"sched[0]: That's All Folks!",
        (
            "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
            "FATAL",
            "scapegoat",
            "2023-10-22T10:52:12+00:00",
        ),
        {"facility": "kern", "severity": "emerg", "format": "rfc3164", "hostname": "scapegoat"},
    ),
]


@pytest.mark.parametrize(
    ("data", "fields", "metadata"), RFC3164_EXAMPLES, ids=["ex1", "ex2", "ex2-relayed", "ex3", "ex4", "ex4-relayed"]
)
def test_rfc3164_section_5_4_examples(data: bytes, fields: tuple[str, ...], metadata: dict[str, Any]) -> None:
    event = parse(data)
    assert (event["message"], event["level"], event["source"], event["timestamp"]) == fields
    assert event["metadata"] == metadata


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
        self.socket = _CapturedSocket()  # type: ignore[assignment]


def sent_by_python(socktype: int, records: list[tuple[int, str]]) -> list[bytes]:
    handler = _CapturingSysLogHandler(address=("localhost", 514), socktype=socktype)
    for level, text in records:
        handler.emit(logging.LogRecord("app", level, __file__, 1, text, None, None))
    captured: list[bytes] = handler.socket.sent  # type: ignore[attr-defined]
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
    stream = b"".join(handler.socket.sent)  # type: ignore[attr-defined]
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


@pytest.mark.parametrize(
    ("severity", "level"),
    [(0, "FATAL"), (1, "FATAL"), (2, "FATAL"), (3, "ERROR"), (4, "WARN"), (5, "INFO"), (6, "INFO"), (7, "DEBUG")],
)
def test_severity_to_level(severity: int, level: str) -> None:
    assert parse(b"<%d>hello" % (16 * 8 + severity))["level"] == level


@pytest.mark.parametrize(("code", "name"), [(0, "kern"), (4, "auth"), (10, "authpriv"), (16, "local0"), (23, "local7")])
def test_facility_names(code: int, name: str) -> None:
    assert parse(b"<%d>hello" % (code * 8 + 6))["metadata"]["facility"] == name
    assert len(FACILITIES) == 24


@pytest.mark.parametrize(
    ("data", "received", "timestamp"),
    [
        (b"<13>Dec 31 23:59:50 h t: x", datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC), "2024-12-31T23:59:50+00:00"),
        (b"<13>Jan  1 00:00:10 h t: x", datetime(2024, 12, 31, 23, 59, 0, tzinfo=UTC), "2025-01-01T00:00:10+00:00"),
        (b"<13>Mar  2 11:00:00 h t: x", datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2024-03-02T11:00:00+00:00"),
        (b"<13>Mar  2 13:00:00 h t: x", datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2023-03-02T13:00:00+00:00"),
        (b"<13>Feb 29 10:00:00 h t: x", datetime(2025, 3, 1, 12, 0, tzinfo=UTC), "2024-02-29T10:00:00+00:00"),
        (
            b"<13>Mar 01 10:00:00.25 h t: x",
            datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
            "2024-03-01T10:00:00.250000+00:00",
        ),
        (b"<13>Mar 1 10:00:00 h t: x", datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2024-03-01T10:00:00+00:00"),
    ],
)
def test_a_bsd_timestamp_takes_the_year_that_keeps_it_at_most_a_day_ahead(
    data: bytes, received: datetime, timestamp: str
) -> None:
    assert parse(data, received)["timestamp"] == timestamp


@pytest.mark.parametrize(
    ("data", "raw"),
    [
        (b"<13>Feb 30 10:00:00 host tag: x", "Feb 30 10:00:00"),
        (b"<13>1 2024-13-01T00:00:00Z host app - - - x", "2024-13-01T00:00:00Z"),
        (b"<13>1 yesterday host app - - - x", "yesterday"),
        (b"<13>2024-02-30T00:00:00Z host tag: x", "2024-02-30T00:00:00Z"),
    ],
)
def test_an_impossible_timestamp_is_kept_raw_and_the_event_dated_on_receipt(data: bytes, raw: str) -> None:
    event = parse(data)
    assert event["timestamp"] == RECEIVED.isoformat()
    assert event["metadata"]["timestamp_raw"] == raw
    assert event["message"] == "x"


def test_the_nilvalue_timestamp_means_receipt_without_a_raw_copy() -> None:
    event = parse(b"<14>1 - - - - - - just this")
    assert (event["timestamp"], event["source"], event["message"]) == (RECEIVED.isoformat(), "syslog", "just this")
    assert "timestamp_raw" not in event["metadata"]


@pytest.mark.parametrize(
    ("sd", "expected"),
    [
        (rb'[a@1 q="say \"hi\""]', {"a@1": {"q": 'say "hi"'}}),
        (rb'[a@1 p="C:\\dir"]', {"a@1": {"p": "C:\\dir"}}),
        (rb'[a@1 b="x\]y"]', {"a@1": {"b": "x]y"}}),
        (rb'[a@1 u="\n stays"]', {"a@1": {"u": "\\n stays"}}),
        (rb'[a@1 k="1" k="2"]', {"a@1": {"k": ["1", "2"]}}),
        (rb'[a@1 k="1"][a@1 k="2" j="3"]', {"a@1": {"k": "1", "j": "3"}}),
        (rb"[origin]", {"origin": {}}),
        ('[a@1 w="zo\u00eb"]'.encode(), {"a@1": {"w": "zoë"}}),
    ],
)
def test_structured_data_params_with_the_rfc_escapes(sd: bytes, expected: dict[str, Any]) -> None:
    event = parse(b"<14>1 2024-03-01T12:00:00Z h app - - " + sd + b" msg")
    assert event["metadata"]["structured_data"] == expected
    assert event["message"] == "msg"


@pytest.mark.parametrize("sd", [rb'[a@1 q="open', rb"[a@1 q=bare]", rb"[]", rb'[a@1 q="x"]junk'])
def test_malformed_structured_data_stays_in_the_message(sd: bytes) -> None:
    event = parse(b"<14>1 2024-03-01T12:00:00Z h app - - " + sd + b" msg")
    assert "structured_data" not in event["metadata"]
    assert event["message"] == (sd + b" msg").decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<14>1 - h app - - - " + BOM + b"caf\xc3\xa9", "café"),
        (b"<14>Mar  1 11:00:00 h app: " + BOM + b"caf\xc3\xa9", "café"),
        (b"<14>bad \xff byte", "bad \ufffd byte"),
        (b"<14>inner\x00nul", "inner\ufffdnul"),
        (b"<14>trailers\r\n\x00", "trailers"),
    ],
)
def test_msg_decoding(data: bytes, message: str) -> None:
    assert parse(data)["message"] == message


@pytest.mark.parametrize(
    ("data", "source", "metadata"),
    [
        (b"<14>1 - host \x01app - - - m", "host", {"app_name": "\x01app"}),
        (b"<14>1 - h\x02 - - - - m", "syslog", {"hostname": "h\x02"}),
        (b"<14>1 - " + b"h" * 300 + b" - - - - m", "syslog", {}),
    ],
)
def test_a_source_the_model_would_refuse_is_skipped(data: bytes, source: str, metadata: dict[str, Any]) -> None:
    event = parse(data)
    assert event["source"] == source
    assert {key: event["metadata"][key] for key in metadata} == metadata


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"", "required"),
        (b"\r\n\x00", "required"),
        (b"<13>", "required"),
        (b"<13>Mar  1 11:00:00 host tag:", "required"),
        (b"<14>" + b"x" * (MESSAGE_MAX_BYTES + 1), "max_bytes"),
    ],
)
def test_what_cannot_be_an_event_is_refused(data: bytes, rule: str) -> None:
    item = parse_message(data, received_at=RECEIVED)
    assert isinstance(item, Refused) and item.rule == rule


@pytest.mark.parametrize("data", [b"<192>x", b"<abc>x", b"<1234>x", b"<>x"])
def test_an_unusable_pri_means_no_pri(data: bytes) -> None:
    event = parse(data)
    assert event["message"] == data.decode()
    assert (event["metadata"]["facility"], event["metadata"]["severity"]) == ("user", "notice")


def test_naive_receipt_times_are_utc() -> None:
    assert parse(b"<14>hi", RECEIVED.replace(tzinfo=None))["timestamp"] == RECEIVED.isoformat()


PREFIXES = st.sampled_from([b"", b"<165>", b"<165>1 ", b"<13>Mar  1 11:00:00 ", b"<14>1 - h a - - [x@1 "])


@given(st.builds(bytes.__add__, PREFIXES, st.binary(max_size=300)))
def test_any_bytes_become_an_event_the_model_takes_or_a_refusal(data: bytes) -> None:
    item: Item = parse_message(data, received_at=RECEIVED)
    if isinstance(item, dict):
        parse_event(item)
    else:
        assert isinstance(item, Refused)
