"""Undoing the compression shippers put on their bodies, within a size limit.

A compressed body is small on the wire and may be huge inflated: a 1 MiB
gzip bomb inflates to a gigabyte. Each function here stops as soon as the
output would pass ``max_bytes`` and raises :class:`~app.errors.BodyTooLarge`,
so a hostile body costs at most ``max_bytes`` of memory, never its inflated
size. The limit is on what comes out, identity included, so a caller checks
one number whatever the encoding.
"""

from __future__ import annotations

import zlib
from typing import Final

import cramjam

from app.errors import BadBody, BodyTooLarge

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_ZLIB_WBITS: Final = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS: Final = -zlib.MAX_WBITS
_IDENTITY: Final = frozenset({"", "identity"})
_GZIP: Final = frozenset({"gzip", "x-gzip"})  # RFC 9110 8.4.1.3: x-gzip is gzip
_VARINT_MAX_BYTES: Final = 5  # snappy's length prefix is a uint32 varint


def inflate(body: bytes, content_encoding: str | None, *, max_bytes: int) -> bytes:
    """``body`` decoded from its ``Content-Encoding``: gzip, deflate or identity.

    Raises :class:`BadBody` (``unsupported_encoding``, ``invalid_gzip``,
    ``invalid_deflate``) and :class:`BodyTooLarge` when the result would
    be over ``max_bytes``, without inflating past that point.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in _IDENTITY:
        _check_size(len(body), max_bytes)
        return body
    if encoding in _GZIP:
        return _inflate_members(body, _GZIP_WBITS, "invalid_gzip", max_bytes)
    if encoding == "deflate":
        return _inflate_members(body, _deflate_wbits(body), "invalid_deflate", max_bytes)
    raise BadBody(
        "unsupported_encoding",
        f"Content-Encoding {content_encoding!r} is not supported; use gzip, deflate or identity",
    )


def unsnappy(body: bytes, *, max_bytes: int) -> bytes:
    """``body`` decoded from snappy's block format, as Loki and Prometheus remote-write send it.

    The declared length is read and checked against ``max_bytes`` before any
    decompression. Raises :class:`BadBody` (``invalid_snappy``) or
    :class:`BodyTooLarge`.
    """
    _check_size(_snappy_declared_length(body), max_bytes)
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise BadBody("invalid_snappy", f"not a snappy block: {exc}") from None


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise BodyTooLarge(f"the body inflates to more than {max_bytes} bytes")


def _deflate_wbits(body: bytes) -> int:
    # HTTP's "deflate" is the zlib format (RFC 9110 8.4.1.2), but some clients send
    # raw deflate; a zlib header is a CM=8 byte and a 16-bit multiple of 31.
    if len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0:
        return _ZLIB_WBITS
    return _RAW_DEFLATE_WBITS


def _inflate_members(body: bytes, wbits: int, code: str, max_bytes: int) -> bytes:
    """Inflate member after member: gzip allows concatenated members (pigz writes them) and zero padding."""
    name = code.removeprefix("invalid_")
    out = bytearray()
    data = body
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            # One call is enough: output shorter than the cap means all the input was used.
            out += inflater.decompress(data, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise BadBody(code, f"the body is not valid {name}: {exc}") from None
        _check_size(len(out), max_bytes)
        if not inflater.eof:
            raise BadBody(code, f"the {name} stream is truncated")
        data = inflater.unused_data
        if wbits == _GZIP_WBITS:
            data = data.lstrip(b"\x00")
        if not data:
            return bytes(out)
        if wbits != _GZIP_WBITS:
            raise BadBody(code, f"there are bytes after the end of the {name} stream")


def _snappy_declared_length(body: bytes) -> int:
    """The uncompressed length a snappy block declares in its leading varint."""
    length = 0
    for index, byte in enumerate(body[:_VARINT_MAX_BYTES]):
        length |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return length
    raise BadBody("invalid_snappy", "not a snappy block: its length prefix is missing or malformed")
