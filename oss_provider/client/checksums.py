"""MD5 and CRC-64/XZ (OSS ``crc64ecma``) on native backends, plus CRC-64 combine.

``fastcrc`` computes CRC-64 at memory speed in native code; combining part CRCs needs only
O(log n) 64x64 GF(2) matrix products, so a pure-Python combine costs microseconds per part.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from fastcrc import crc64 as _fastcrc64

_POLY = 0xC96C5795D7870F42  # ECMA-182, reflected
_MASK = (1 << 64) - 1


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/XZ of ``data``, continuing from ``crc`` (the CRC of the bytes before it)."""
    if crc:
        return _fastcrc64.xz(data, initial=crc)
    return _fastcrc64.xz(data)


def md5_digest(data: bytes | bytearray | memoryview) -> bytes:
    return hashlib.md5(data).digest()


def md5_base64(data: bytes | bytearray | memoryview) -> str:
    """The ``Content-MD5`` header value for ``data``."""
    return base64.b64encode(md5_digest(data)).decode("ascii")


def md5_hex(data: bytes | bytearray | memoryview) -> str:
    """Upper-case hex MD5, the form OSS uses for part ETags."""
    return hashlib.md5(data).hexdigest().upper()


def _times(matrix: list[int], vector: int) -> int:
    total = 0
    index = 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, matrix[n]) for n in range(64)]


def crc64_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)`` (zlib's method, 64-bit)."""
    if len2 <= 0:
        return crc1
    odd = [_POLY] + [1 << (n - 1) for n in range(1, 64)]
    even = _square(odd)
    odd = _square(even)
    while True:
        even = _square(odd)
        if len2 & 1:
            crc1 = _times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _square(even)
        if len2 & 1:
            crc1 = _times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return (crc1 ^ crc2) & _MASK


def combine_part_crcs(parts: Iterable[tuple[int, int]]) -> int:
    """Whole-object CRC from ``(crc64, size)`` pairs in part order, as OSS computes it at Complete."""
    total = 0
    for part_crc, size in parts:
        total = crc64_combine(total, part_crc, size)
    return total
