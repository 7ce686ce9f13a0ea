"""``oss://bucket/key`` URLs."""

from __future__ import annotations

from typing import Any


def parse_oss_url(url: str) -> tuple[str, str]:
    """Split ``oss://bucket/key`` into ``(bucket, key)``; the key may be empty.

    The key is everything after the bucket, exactly: ``#`` and ``?`` are legal in OSS keys, so
    this is no URL parse (``urlsplit`` would cut ``dir/a#1.csv`` to ``dir/a``)."""
    if not isinstance(url, str) or url[:6].lower() != "oss://":
        raise ValueError(f"{url!r} is not an OSS URL; expected oss://bucket/key")
    bucket, _, key = url[6:].partition("/")
    if not bucket:
        raise ValueError(f"{url!r} is not an OSS URL; expected oss://bucket/key")
    return bucket, key.lstrip("/")


def is_oss_url(value: object) -> bool:
    """True for a string starting with ``oss://`` (lower case); only the scheme is checked,
    :func:`parse_oss_url` checks the rest."""
    return isinstance(value, str) and value.startswith("oss://")


def oss_path_target(path: Any) -> tuple[str, str] | None:
    """``(bucket, key)`` of an ``oss://`` ObjectStoragePath (or UPath), None for anything else.

    Read from the path's own bucket and key, never from ``str()``, which carries the connection
    id as user info (``oss://conn@bucket/key``); Airflow 2's path keeps it in ``bucket`` too.
    """
    if getattr(path, "protocol", None) != "oss" or not hasattr(path, "bucket"):
        return None
    return str(path.bucket).rpartition("@")[2], str(path.key)
