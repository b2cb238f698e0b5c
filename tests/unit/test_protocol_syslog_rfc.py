"""The RFCs' own examples: RFC 5424 section 6.5 and RFC 3164 section 5.4, field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.protocols.syslog import parse_message
from app.models import parse_event

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BOM = b"\xef\xbb\xbf"


def parse(data: bytes) -> dict[str, Any]:
    item = parse_message(data, received_at=RECEIVED)
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
