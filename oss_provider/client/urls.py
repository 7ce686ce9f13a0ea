"""``oss://bucket/key`` URLs."""

from __future__ import annotations

from urllib.parse import urlsplit


def parse_oss_url(url: str) -> tuple[str, str]:
    """Split ``oss://bucket/key`` into ``(bucket, key)``; the key may be empty."""
    parts = urlsplit(url)
    if parts.scheme != "oss" or not parts.netloc:
        raise ValueError(f"{url!r} is not an OSS URL; expected oss://bucket/key")
    return parts.netloc, parts.path.lstrip("/")


def is_oss_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith("oss://")
