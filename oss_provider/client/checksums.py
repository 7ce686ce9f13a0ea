"""MD5 and CRC-64/XZ (OSS ``crc64ecma``) on native backends, plus CRC-64 combine.

``fastcrc`` computes CRC-64 at memory speed in native code. Combining part CRCs is one GF(2)
multiplication by a factor cached per part size, so a pure-Python combine costs microseconds
per part (10,000 parts well under a second).
"""

from __future__ import annotations

import base64
import functools
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
    """The 16-byte binary MD5, the form ``Content-MD5`` base64-encodes."""
    return hashlib.md5(data).digest()


def md5_base64(data: bytes | bytearray | memoryview) -> str:
    """The ``Content-MD5`` header value for ``data``."""
    return base64.b64encode(md5_digest(data)).decode("ascii")


def md5_hex(data: bytes | bytearray | memoryview) -> str:
    """Upper-case hex MD5, the form OSS uses for part ETags."""
    return hashlib.md5(data).hexdigest().upper()


# CRC combine works in GF(2)[x] modulo the CRC polynomial, bits reflected: bit 63 is x^0.
# Appending ``n`` bytes to A multiplies CRC(A) by x^(8n); that factor depends only on ``n``, and
# the parts of one upload share one or two sizes, so it is computed once per size and cached.
_X0 = 1 << 63


def _gf2_multiply(a: int, b: int) -> int:
    """a(x) * b(x) modulo the polynomial (reflected: the shift right multiplies b by x)."""
    product = 0
    bit = _X0
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return product


def _powers_of_x_by_doubling() -> tuple[int, ...]:
    """x^(2^k) for k = 0..66, each the square of the one before."""
    powers = [_X0 >> 1]  # x^1
    while len(powers) < 67:
        powers.append(_gf2_multiply(powers[-1], powers[-1]))
    return tuple(powers)


_X_TO_2_TO_THE = _powers_of_x_by_doubling()


@functools.lru_cache(maxsize=64)
def _shift_operator(length: int) -> int:
    """x^(8 * length) modulo the polynomial: what appending ``length`` bytes multiplies by."""
    operator = _X0
    bits = length << 3
    k = 0
    while bits:
        if bits & 1:
            operator = _gf2_multiply(_X_TO_2_TO_THE[k], operator)
        bits >>= 1
        k += 1
    return operator


def crc64_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``; tens of microseconds a part."""
    if len2 <= 0:
        return crc1
    if len2 >> 61:
        raise ValueError(f"length {len2} is too large for CRC-64 combine")
    return (_gf2_multiply(_shift_operator(len2), crc1) ^ crc2) & _MASK


def combine_part_crcs(parts: Iterable[tuple[int, int]]) -> int:
    """Whole-object CRC from ``(crc64, size)`` pairs in part order, as OSS computes it at Complete."""
    total = 0
    for part_crc, size in parts:
        total = crc64_combine(total, part_crc, size)
    return total
