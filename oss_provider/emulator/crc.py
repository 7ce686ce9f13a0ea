"""CRC-64/XZ (what OSS calls crc64ecma): a native backend for bytes, pure Python for combining.

Kept inside the emulator on purpose: the server must not share code paths with the client it tests.
"""

from __future__ import annotations

from fastcrc import crc64 as _fast

_POLY = 0xC96C5795D7870F42  # reflected ECMA-182 polynomial
_TOP = 1 << 63  # x^0 in the reflected representation


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/XZ of ``data``, continuing from ``crc`` (0 starts fresh). Releases the GIL."""
    return _fast.xz(data, crc) if crc else _fast.xz(data)


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial (reflected bit order), as in zlib's crc32_combine."""
    m = _TOP
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _x2n_table() -> list[int]:
    table = [_TOP >> 1]  # x^1
    for _ in range(63):
        table.append(_multmodp(table[-1], table[-1]))
    return table


_X2N = _x2n_table()


def _x2nmodp(n: int, k: int) -> int:
    """x^(n * 2^k) modulo the polynomial."""
    p = _TOP
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 63], p)
        n >>= 1
        k += 1
    return p


def crc64_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC of A+B from CRC(A), CRC(B) and len(B): how a multipart object's CRC is derived."""
    if len2 <= 0:
        return crc1
    return _multmodp(_x2nmodp(len2, 3), crc1) ^ crc2
