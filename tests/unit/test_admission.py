"""What every way in applies beyond the model: shippers' shapes, tenancy, a trustworthy time, message fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.admission import EventRules, admit
from app.errors import InvalidEvent

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RULES = EventRules(max_future=timedelta(minutes=10), max_age=timedelta(days=7), extract_fields=True)


def refused(data: object, **kwargs: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidEvent) as caught:
        admit(data, RULES, received_at=NOW, **kwargs)  # type: ignore[arg-type]
    return [(e.field, e.rule) for e in caught.value.errors]


@pytest.mark.parametrize(
    ("timestamp", "errors"),
    [
        ("2026-12-07T12:09:59Z", None),
        ("2026-12-07T12:10:01Z", [("timestamp", "range")]),
        ("7817-01-01T00:00:00Z", [("timestamp", "range")]),
        ("2026-11-30T12:00:01Z", None),
        ("2026-11-30T11:59:59Z", [("timestamp", "too_old")]),
    ],
)
def test_a_time_is_trusted_from_retention_back_to_ten_minutes_ahead(timestamp: str, errors: object) -> None:
    event = {"message": "m", "source": "s", "timestamp": timestamp}
    if errors is None:
        assert admit(event, RULES, received_at=NOW).timestamp == datetime.fromisoformat(timestamp)
    else:
        assert refused(event) == errors


def test_an_absent_time_is_the_receipt() -> None:
    assert admit({"message": "m", "source": "s"}, RULES, received_at=NOW).timestamp == NOW


def test_shippers_names_fill_what_logpipes_own_do_not() -> None:
    event = admit({"log": "disk full", "kubernetes": {"container_name": "api"}, "lvl": "warn"}, RULES, received_at=NOW)
    assert (event.message, event.source, event.level) == ("disk full", "api", "WARN")


def test_logpipes_own_names_are_taken_as_sent() -> None:
    assert refused({"message": "", "msg": "fallback", "source": "s"}) == [("message", "not_blank")]
    assert refused({"id": "not-a-uuid", "message": "m", "source": "s"}) == [("id", "uuid")]


def test_what_is_not_mapped_stays_in_metadata() -> None:
    event = admit({"message": "m", "source": "s", "pod": "api-1", "metadata": {"k": 1}}, RULES, received_at=NOW)
    assert event.metadata == {"pod": "api-1", "k": 1}


def test_fields_of_a_structured_message_are_kept_beside_it() -> None:
    event = admit({"message": "user=u1 status=500", "source": "s"}, RULES, received_at=NOW)
    assert event.message == "user=u1 status=500"
    assert event.metadata == {"fields": {"user": "u1", "status": "500"}}
    off = EventRules(extract_fields=False)
    assert admit({"message": "user=u1 status=500", "source": "s"}, off, received_at=NOW).metadata is None


def test_a_tenant_stamps_and_never_widens() -> None:
    assert admit({"message": "m", "source": "s"}, RULES, received_at=NOW, tenant="acme").organization_id == "acme"
    assert refused({"message": "m", "source": "s", "organization_id": "globex"}, tenant="acme") == [
        ("organization_id", "tenant")
    ]


def test_protocol_items_skip_the_shapes() -> None:
    item = {"message": "m", "source": "s", "log": "kept as sent, not an alias"}
    event = admit(item, RULES, received_at=NOW, shipper_shapes=False)
    assert event.metadata is None  # the model ignores what is not its field; the decoder chose the metadata
