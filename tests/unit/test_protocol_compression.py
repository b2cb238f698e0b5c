"""Inflating request bodies within a size limit: gzip, deflate, identity and snappy blocks."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import cramjam
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols.compression import inflate, unsnappy
from app.errors import BadBody, BodyTooLarge

TEXT = b"disk full on /var\n" * 20


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (TEXT, None),
        (TEXT, "identity"),
        (TEXT, ""),
        (gzip.compress(TEXT), "gzip"),
        (gzip.compress(TEXT), " GZIP "),
        (gzip.compress(TEXT), "x-gzip"),
        (gzip.compress(TEXT[:100]) + gzip.compress(TEXT[100:]), "gzip"),
        (gzip.compress(TEXT) + b"\x00\x00\x00", "gzip"),
        (zlib.compress(TEXT), "deflate"),
        (_raw_deflate(TEXT), "deflate"),
    ],
    ids=["none", "identity", "empty", "gzip", "gzip-case", "x-gzip", "two-members", "zero-padding", "zlib", "raw"],
)
def test_inflate(body: bytes, encoding: str | None) -> None:
    assert inflate(body, encoding, max_bytes=len(TEXT)) == TEXT


@pytest.mark.parametrize(
    ("body", "encoding", "code"),
    [
        (TEXT, "br", "unsupported_encoding"),
        (TEXT, "gzip, identity", "unsupported_encoding"),
        (TEXT, "gzip", "invalid_gzip"),
        (b"", "gzip", "invalid_gzip"),
        (gzip.compress(TEXT)[:-9], "gzip", "invalid_gzip"),
        (gzip.compress(TEXT) + b"junk", "gzip", "invalid_gzip"),
        (zlib.compress(TEXT)[:-3], "deflate", "invalid_deflate"),
        (zlib.compress(TEXT) + b"junk", "deflate", "invalid_deflate"),
    ],
    ids=["br", "list", "not-gzip", "empty-gzip", "truncated", "trailing", "truncated-deflate", "trailing-deflate"],
)
def test_inflate_refuses(body: bytes, encoding: str, code: str) -> None:
    with pytest.raises(BadBody) as caught:
        inflate(body, encoding, max_bytes=10_000)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (TEXT, None),
        (gzip.compress(TEXT), "gzip"),
        (gzip.compress(TEXT[:200]) + gzip.compress(TEXT[200:]), "gzip"),
        (zlib.compress(TEXT), "deflate"),
    ],
    ids=["identity", "gzip", "second-member", "deflate"],
)
def test_inflate_stops_one_byte_over_the_limit(body: bytes, encoding: str | None) -> None:
    assert inflate(body, encoding, max_bytes=len(TEXT)) == TEXT
    with pytest.raises(BodyTooLarge):
        inflate(body, encoding, max_bytes=len(TEXT) - 1)


def _gzip_bomb(mebibytes: int) -> bytes:
    compressor = zlib.compressobj(9, wbits=16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    return b"".join(compressor.compress(zeros) for _ in range(mebibytes)) + compressor.flush()


def test_a_gzip_bomb_costs_at_most_the_limit() -> None:
    bomb = _gzip_bomb(256)  # 256 MiB of zeros in ~250 KiB
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge):
            inflate(bomb, "gzip", max_bytes=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


@given(st.binary(max_size=512), st.sampled_from(["gzip", "deflate", None, "zstd"]))
def test_inflate_raises_only_bad_body(body: bytes, encoding: str | None) -> None:
    try:
        inflate(body, encoding, max_bytes=4096)
    except BadBody:
        pass


def test_unsnappy_round_trip() -> None:
    block = bytes(cramjam.snappy.compress_raw(TEXT))
    assert unsnappy(block, max_bytes=len(TEXT)) == TEXT


def test_unsnappy_checks_the_declared_length_first() -> None:
    # Declares 2**32 - 1 bytes and carries none: refused by size, not by corruption.
    with pytest.raises(BodyTooLarge):
        unsnappy(b"\xff\xff\xff\xff\x0f", max_bytes=1024)


@pytest.mark.parametrize(
    "body",
    [b"", b"\xff\xff\xff\xff\xff\xff", b"\x05ab", TEXT, gzip.compress(TEXT)],
    ids=["empty", "endless-varint", "short", "plain", "gzip"],
)
def test_unsnappy_refuses(body: bytes) -> None:
    with pytest.raises(BadBody) as caught:
        unsnappy(body, max_bytes=10_000)
    assert caught.value.code == "invalid_snappy"


@given(st.binary(max_size=512))
def test_unsnappy_raises_only_bad_body(body: bytes) -> None:
    try:
        unsnappy(body, max_bytes=4096)
    except BadBody:
        pass
