"""Checks that fail fast, before any request, with an error that says how to fix the input."""

from __future__ import annotations

import re

from oss_provider.client.limits import (
    MAX_KEY_BYTES,
    MAX_PART_NUMBER,
    MAX_PART_SIZE,
    MIN_PART_NUMBER,
    MIN_PART_SIZE,
)

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def validate_part_number(part_number: int) -> int:
    if isinstance(part_number, bool) or not isinstance(part_number, int):
        raise ValueError(f"part number must be an integer, got {part_number!r}")  # noqa: TRY004
    if not MIN_PART_NUMBER <= part_number <= MAX_PART_NUMBER:
        raise ValueError(
            f"part number {part_number} is out of range: OSS accepts 1..10000 inclusive"
        )
    return part_number


def validate_part_size(part_size: int) -> int:
    if isinstance(part_size, bool) or not isinstance(part_size, int):
        raise ValueError(f"part size must be an integer number of bytes, got {part_size!r}")  # noqa: TRY004
    if part_size < MIN_PART_SIZE:
        raise ValueError(
            f"part size {part_size} B is below OSS's minimum of 100 KiB ({MIN_PART_SIZE} B); "
            "use a larger part_size (8 MiB is a good default)"
        )
    if part_size > MAX_PART_SIZE:
        raise ValueError(
            f"part size {part_size} B is above OSS's maximum of 5 GiB ({MAX_PART_SIZE} B); "
            "use a smaller part_size"
        )
    return part_size


def validate_key(key: str) -> str:
    """``key`` if OSS can store it under exactly that name; else a ValueError saying what to fix.

    OSS's own rules: 1..1023 bytes of UTF-8, not starting with ``/`` or ``\\``. On top of those,
    a key whose path segments are ``.`` or ``..`` is refused: HTTP clients (urllib3) remove dot
    segments from the URL path, so ``'a/../b'`` would be sent as ``'b'``, and ``'.'`` or ``'..'``
    as the bucket itself.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(
            f"object key must be a non-empty string, got {key!r}; give the object's name, "
            "e.g. 'dir/file.bin'"
        )
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"object key {key[:80]!r} is not valid UTF-8 text: it contains the lone surrogate "
            f"{key[exc.start]!r} at position {exc.start} (often a file name decoded with "
            "errors='surrogateescape'); OSS keys must be valid UTF-8. Decode the name with the "
            "right encoding or replace that character"
        ) from None
    if len(encoded) > MAX_KEY_BYTES:
        raise ValueError(
            f"object key is {len(encoded)} bytes of UTF-8; OSS allows at most {MAX_KEY_BYTES}. "
            "Use a shorter key"
        )
    if key[0] in "/\\":
        raise ValueError(
            f"object key {key[:80]!r} starts with {key[0]!r}; OSS keys must not. Drop the leading "
            "character (use 'dir/file', not '/dir/file')"
        )
    bad = [c for c in key if ord(c) < 0x20 or ord(c) == 0x7F]
    if bad:
        raise ValueError(
            f"object key {key[:80]!r} contains control characters ({bad[0]!r}); remove them"
        )
    dots = [segment for segment in key.split("/") if segment in (".", "..")]
    if dots:
        raise ValueError(
            f"object key {key[:80]!r} has a {dots[0]!r} path segment; HTTP clients remove '.' "
            "and '..' segments from URLs, so the request would reach a different object (or the "
            "bucket itself). Use a key without '.' or '..' between slashes, e.g. 'a/b' rather "
            "than 'a/./b' or 'a/../b'"
        )
    return key


def validate_bucket_name(bucket: str) -> str:
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket):
        raise ValueError(
            f"bucket name {bucket!r} is not valid: use 3-63 characters of lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return bucket
