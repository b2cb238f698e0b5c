"""Cutting a syslog TCP stream into frames: octet counting, LF/CRLF/NUL ends, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols import Refused
from app.domain.protocols.syslog_framing import Framer


def frames_of(stream: bytes, max_frame: int = 64) -> list[bytes | str]:
    """The frames of ``stream`` fed in one chunk then closed; a refusal shown by its rule."""
    framer = Framer(max_frame)
    out = framer.feed(stream) + framer.close()
    return [frame.rule if isinstance(frame, Refused) else frame for frame in out]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"<13>a\n<13>b\n", [b"<13>a", b"<13>b"]),
        (b"<13>a\r\n<13>b\r\n", [b"<13>a", b"<13>b"]),
        (b"<13>a\x00<13>b\x00", [b"<13>a", b"<13>b"]),
        (b"<13>a\x00\n<13>b\x00\n", [b"<13>a", b"<13>b"]),
        (b"\n\n\r\n<13>a\n\n", [b"<13>a"]),
        (b"<13>last without LF", [b"<13>last without LF"]),
        (b"5 <13>a7 <13>b\nc", [b"<13>a", b"<13>b\nc"]),
        (b"5 <13>a\n5 <13>b", [b"<13>a", b"<13>b"]),
        (b"5 <13>a<13>plain\n", [b"<13>a", b"<13>plain"]),
        (b"2024-03-01 no pri\n", [b"2024-03-01 no pri"]),
        (b"0 zero is no count\n", [b"0 zero is no count"]),
        (b"12345678901 eleven digits\n", [b"12345678901 eleven digits"]),
        (b"42\n", [b"42"]),
        (b"9 <13>ab", ["truncated"]),
        (b"<13>" + b"w" * 61, ["max_bytes"]),
    ],
    ids=[
        "lf",
        "crlf",
        "nul",
        "nul-lf",
        "blank-between",
        "last-line",
        "counted-keeps-lf",
        "counted-lf-between",
        "counted-then-lf",
        "digits-not-count",
        "zero",
        "too-many-digits",
        "just-digits",
        "counted-cut-short",
        "last-line-too-long",
    ],
)
def test_framing(stream: bytes, expected: list[bytes | str]) -> None:
    assert frames_of(stream) == expected


def test_an_over_long_counted_frame_is_refused_and_its_bytes_dropped_as_they_come() -> None:
    framer = Framer(max_frame=10)
    assert [frame.rule for frame in framer.feed(b"100 <13>abc") if isinstance(frame, Refused)] == ["max_bytes"]
    assert framer.feed(b"x" * 90) == []
    assert len(framer._buffer) == 0
    assert framer.feed(b"x" * 3 + b"<13>next\n") == [b"<13>next"]


def test_an_over_long_line_is_refused_before_its_end_and_dropped_to_its_lf() -> None:
    framer = Framer(max_frame=10)
    (refused,) = framer.feed(b"<13>" + b"y" * 20)
    assert isinstance(refused, Refused) and refused.rule == "max_bytes"
    assert framer.feed(b"y" * 1000) == []
    assert len(framer._buffer) == 0
    assert framer.feed(b"yyy\n<13>ok\n") == [b"<13>ok"]


def test_an_over_long_line_that_ends_within_the_chunk_is_refused_with_its_size() -> None:
    (refused, ok) = Framer(max_frame=10).feed(b"<13>" + b"z" * 20 + b"\n<13>ok\n")
    assert isinstance(refused, Refused) and "24" in refused.message
    assert ok == b"<13>ok"


def test_a_frame_of_exactly_max_frame_passes() -> None:
    assert frames_of(b"<13>" + b"a" * 6 + b"\n", max_frame=10) == [b"<13>aaaaaa"]
    assert frames_of(b"10 <13>aaaaaa", max_frame=10) == [b"<13>aaaaaa"]


FRAMES = st.lists(st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b and b"\x00" not in b), max_size=6)


@given(FRAMES, st.data())
def test_how_the_stream_is_cut_into_chunks_never_changes_the_frames(frames: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(
        b"%d %s" % (len(frame), frame) if frame[:1] == b"<" else b"<1>" + frame + b"\n" for frame in frames
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    pieces = [stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    chunked, whole = Framer(max_frame=20), Framer(max_frame=20)
    got = [frame for piece in pieces for frame in chunked.feed(piece)] + chunked.close()
    expected = whole.feed(stream) + whole.close()
    # An over-long line may be refused before or after its LF arrives; only the wording differs.
    shown = [[f.rule if isinstance(f, Refused) else f for f in out] for out in (got, expected)]
    sent = [f if f[:1] == b"<" else (b"<1>" + f).rstrip(b"\r") for f in frames]
    assert shown[0] == shown[1] == [f if len(f) <= 20 else "max_bytes" for f in sent]


@given(st.lists(st.binary(max_size=200), max_size=10), st.integers(1, 64))
def test_any_stream_yields_bounded_frames_and_a_bounded_buffer(chunks: list[bytes], max_frame: int) -> None:
    framer = Framer(max_frame)
    for chunk in chunks:
        for frame in framer.feed(chunk):
            assert isinstance(frame, Refused) or 0 < len(frame) <= max_frame
        assert len(framer._buffer) <= max_frame + 11
    for frame in framer.close():
        assert isinstance(frame, Refused) or len(frame) > 0
