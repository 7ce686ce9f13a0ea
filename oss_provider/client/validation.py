"""Checks that fail fast, before any request, with an error that says how to fix the input."""

from __future__ import annotations

import re
from typing import Any

from oss_provider.client.limits import (
    MAX_KEY_BYTES,
    MAX_PART_NUMBER,
    MAX_PART_SIZE,
    MIN_PART_NUMBER,
    MIN_PART_SIZE,
)

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def validate_part_number(part_number: int) -> int:
    """``part_number`` if OSS accepts it (an int 1..10000, not a bool), else ValueError."""
    if isinstance(part_number, bool) or not isinstance(part_number, int):
        raise ValueError(f"part number must be an integer, got {part_number!r}")  # noqa: TRY004
    if not MIN_PART_NUMBER <= part_number <= MAX_PART_NUMBER:
        raise ValueError(
            f"part number {part_number} is out of range: OSS accepts 1..10000 inclusive"
        )
    return part_number


def validate_part_size(part_size: int) -> int:
    """``part_size`` (bytes) if within OSS's 100 KiB..5 GiB, else ValueError naming the bound."""
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
    """``bucket`` if it is a valid OSS name (3-63 of ``[a-z0-9-]``, a letter or digit at both
    ends), else ValueError."""
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket):
        raise ValueError(
            f"bucket name {bucket!r} is not valid: use 3-63 characters of lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return bucket


STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
ENCRYPTIONS = ("AES256", "KMS", "SM4")


def validate_object_options(
    storage_class: str | None = None,
    server_side_encryption: str | None = None,
    sse_kms_key_id: str | None = None,
    tagging: Any = None,
    **_others: Any,
) -> None:
    """Object options OSS would refuse, refused before any request with the accepted values."""
    if tagging is not None:
        validate_tagging(tagging)
    if storage_class and storage_class not in STORAGE_CLASSES:
        raise ValueError(
            f"storage_class {storage_class!r} is not an OSS storage class; use one of "
            f"{', '.join(STORAGE_CLASSES)}"
        )
    if server_side_encryption and server_side_encryption not in ENCRYPTIONS:
        raise ValueError(
            f"server_side_encryption {server_side_encryption!r} is not supported; use one of "
            f"{', '.join(ENCRYPTIONS)} (KMS takes a key id in sse_kms_key_id)"
        )
    if sse_kms_key_id and server_side_encryption != "KMS":
        raise ValueError(
            "sse_kms_key_id needs server_side_encryption='KMS' (the key id names a KMS key)"
        )


MAX_TAGS = 10


def validate_tagging(tagging: Any) -> None:
    """Tags as OSS takes them: at most 10, keys 1..128 and values 0..256 characters, no key twice;
    a mapping, or ``"k1=v1&k2=v2"`` (URL-encoded)."""
    from urllib.parse import parse_qsl

    if isinstance(tagging, str):
        try:
            pairs = parse_qsl(tagging, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            pairs = None
        if not pairs:
            raise ValueError(
                f"tagging {tagging[:100]!r} is not 'key=value&key2=value2'; pass a mapping such "
                "as {'team': 'data'} or that form"
            )
    elif isinstance(tagging, dict):
        pairs = [(str(k), str(v)) for k, v in tagging.items()]
    else:
        raise TypeError(f"tagging must be a mapping or 'k1=v1&k2=v2', got {type(tagging).__name__}")
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"tagging names a key twice: {keys}; each tag key may appear once")
    if len(pairs) > MAX_TAGS:
        raise ValueError(f"tagging has {len(pairs)} tags; OSS allows at most {MAX_TAGS}")
    for k, v in pairs:
        if not 1 <= len(k) <= 128 or len(v) > 256:
            raise ValueError(f"tag {k[:40]!r}: keys need 1..128 characters and values at most 256")
