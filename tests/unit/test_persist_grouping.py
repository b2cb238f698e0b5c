"""Splitting a taken batch by partition, and dead letters for refused rows."""

from __future__ import annotations

import orjson

from app.domain.batches import group_by_partition, rejected_letters
from app.domain.deadletters import Reason


def env(*ids: str) -> bytes:
    return orjson.dumps([{"id": i} for i in ids])


def test_groups_by_partition_with_end_offsets() -> None:
    groups = group_by_partition([(0, 5, env("a", "b")), (1, 9, env("c")), (0, 6, env("d"))])
    by_partition = {g.partition: g for g in groups}
    assert by_partition[0].end_offset == 6
    assert [e["id"] for e in by_partition[0].events] == ["a", "b", "d"]
    assert by_partition[0].offsets == [5, 5, 6]
    assert by_partition[1].end_offset == 9 and by_partition[1].offsets == [9]


def test_a_bad_envelope_is_dead_lettered_not_fatal() -> None:
    (group,) = group_by_partition([(2, 3, b"garbage"), (2, 4, env("a"))])
    assert [e["id"] for e in group.events] == ["a"]
    assert len(group.dead) == 1
    letter = group.dead[0]
    assert (letter.error, letter.value, letter.source_offset) == (Reason.NOT_JSON, b"garbage", 3)
    assert group.end_offset == 4


def test_rejected_rows_keep_their_envelope_offset() -> None:
    (group,) = group_by_partition([(0, 10, env("a")), (0, 11, env("b", "c"))])
    bad = group.events[2]
    (letter,) = rejected_letters(group, [(bad, "22P05: unsupported Unicode escape sequence")])
    assert letter.error is Reason.REJECTED_BY_DATABASE
    assert letter.source_offset == 11
    assert orjson.loads(letter.value) == {"id": "c"}
    assert "22P05" in letter.detail


def test_an_id_in_two_partitions_of_one_batch_is_written_by_one_share_only() -> None:
    """The shares are written concurrently: neither would see the other's copy of a resent event."""
    groups = group_by_partition([(0, 5, env("a", "b")), (1, 9, env("b", "c")), (1, 10, env("a"))])
    by_partition = {g.partition: g for g in groups}
    assert [e["id"] for e in by_partition[0].events] == ["a", "b"]
    assert [e["id"] for e in by_partition[1].events] == ["c"]
    assert by_partition[1].offsets == [9] and by_partition[1].end_offset == 10, "offsets still advance"


def test_events_without_an_id_are_never_left_out() -> None:
    groups = group_by_partition([(0, 1, orjson.dumps([{"m": 1}])), (1, 2, orjson.dumps([{"m": 2}]))])
    assert sorted(len(g.events) for g in groups) == [1, 1]
