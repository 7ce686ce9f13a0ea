"""What :class:`~oss_provider.sensors.oss_object.OSSObjectSensor` waits for, and one check of it.

Shared by the sensor (poke / reschedule) and its trigger (deferrable), so both modes decide
alike. :class:`ObjectWait` is plain JSON-able data (it travels inside the trigger's
``serialize()``); :func:`check` makes the OSS calls through the hook and says whether the wait is
over, with the XCom value, or why not yet.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oss_provider._compat import AirflowFailException
from oss_provider.templated import as_int, as_str, is_none

if TYPE_CHECKING:
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

_GLOB_CHARS = "*?["
MAX_CRC64 = 2**64 - 1


@dataclass(frozen=True)
class ObjectWait:
    """One object (``key``), the objects matching a glob (``key`` with ``wildcard_match``), or
    those under ``prefix``; at least ``min_objects`` of them; for one key optionally its size,
    CRC-64 and ETag."""

    bucket: str
    key: str | None = None
    prefix: str | None = None
    wildcard_match: bool = False
    min_objects: int = 1
    expected_size: int | None = None
    expected_crc64: int | None = None
    expected_etag: str | None = None

    @property
    def single(self) -> bool:
        return self.key is not None and not self.wildcard_match

    def describe(self) -> str:
        what = self.key if self.key is not None else f"{self.prefix}*"
        return f"oss://{self.bucket}/{what}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectWait:
        return cls(**data)


def build_wait(
    hook: OSSMultipartHook,
    *,
    key: Any,
    prefix: Any,
    bucket_name: Any,
    wildcard_match: bool,
    min_objects: Any,
    expected_size: Any,
    expected_crc64: Any,
    expected_etag: Any,
) -> ObjectWait:
    """Validate (rendered) sensor arguments; ``ValueError`` / ``TypeError`` name the argument.

    The bucket comes from ``bucket_name``, an ``oss://bucket/...`` key or prefix, or the
    connection (the hook's one rule)."""
    check_shape(key=key, prefix=prefix, wildcard_match=wildcard_match)
    bucket_name = as_str("bucket_name", bucket_name, required=False) or None
    if not is_none(key):
        if not isinstance(key, str):
            raise TypeError(f"key must be a string, got {type(key).__name__}")
        bucket, key = hook.resolve_target(key, bucket_name)
        prefix = None
    else:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
        if prefix.startswith("oss://"):
            bucket, _, prefix = prefix[len("oss://") :].partition("/")
            if bucket_name and hook.get_bucket_name(bucket_name) != bucket:
                raise ValueError(
                    f"prefix names bucket {bucket!r} but bucket_name is {bucket_name!r}"
                )
        else:
            bucket = hook.get_bucket_name(bucket_name)
        key = None
    minimum = as_int("min_objects", min_objects, minimum=1) or 1
    size = as_int("expected_size", expected_size, minimum=0)
    crc = _crc64(expected_crc64)
    etag = as_str("expected_etag", expected_etag, required=False)
    etag = etag.strip('"').upper() if etag else None
    single = key is not None and not wildcard_match
    if single and minimum != 1:
        raise ValueError(
            "min_objects applies to a glob (wildcard_match=True) or a prefix, not to one key"
        )
    if not single and (size is not None or crc is not None or etag):
        raise ValueError(
            "expected_size, expected_crc64 and expected_etag check one object: use them with "
            "an exact key (wildcard_match=False)"
        )
    return ObjectWait(bucket, key, prefix, bool(wildcard_match), minimum, size, crc, etag)


def check_shape(*, key: Any, prefix: Any, wildcard_match: Any) -> None:
    """The checks that need no rendering: exactly one of ``key`` / ``prefix``."""
    if is_none(key) == is_none(prefix):
        raise ValueError(
            "pass exactly one of key (an object key, oss://bucket/key, or a glob with "
            "wildcard_match=True) and prefix"
        )
    if not isinstance(wildcard_match, bool):
        raise TypeError(f"wildcard_match must be True or False, got {wildcard_match!r}")
    if wildcard_match and is_none(key):
        raise ValueError("wildcard_match=True needs a glob in key, e.g. key='exports/*.csv'")


def _crc64(value: Any) -> int | None:
    """A CRC-64/ECMA as OSS reports it (``x-oss-hash-crc64ecma``: unsigned decimal)."""
    if is_none(value):
        return None
    number = as_int("expected_crc64", value)
    if number is None or number > MAX_CRC64:
        raise ValueError(f"expected_crc64 must be an unsigned 64-bit number, got {value!r}")
    return number


@dataclass(frozen=True)
class Outcome:
    done: bool
    value: Any = None  # the XCom value when done
    reason: str = ""  # why not yet (logged, and in the timeout message)


def object_metadata(bucket: str, key: str, size: Any, etag: Any, crc64: Any, last_modified: Any):
    return {
        "bucket": bucket,
        "key": key,
        "size": size,
        "etag": etag,
        "crc64": crc64,
        "last_modified": last_modified.isoformat()
        if isinstance(last_modified, datetime)
        else last_modified,
    }


def check(hook: OSSMultipartHook, wait: ObjectWait) -> Outcome:
    """One look at OSS: HeadObject for one key, ListObjectsV2 otherwise.

    An error no retry can fix (``NoSuchBucket``, credentials) is re-raised with what was being
    waited for in front (``oss://bucket/key: ...``): OSS's own message does not name the bucket,
    and poke mode, the first look of deferrable mode and the trigger all report it from here."""
    try:
        return _check_one(hook, wait) if wait.single else _check_many(hook, wait)
    except AirflowFailException as exc:
        where = wait.describe()
        if not str(exc).startswith(where):
            exc.args = (f"{where}: {exc}", *exc.args[1:])  # same class, code and request id
        raise


def _check_one(hook: OSSMultipartHook, wait: ObjectWait) -> Outcome:
    info = hook.head_object(wait.key, wait.bucket, missing_ok=True)
    where = wait.describe()
    if info is None:
        return Outcome(False, reason=f"{where} does not exist yet")
    problems = []
    if wait.expected_size is not None and info.size != wait.expected_size:
        problems.append(f"its size is {info.size} bytes, expected {wait.expected_size}")
    if wait.expected_crc64 is not None and info.crc64 != wait.expected_crc64:
        problems.append(f"its CRC-64 is {info.crc64}, expected {wait.expected_crc64}")
    if wait.expected_etag and (info.etag or "").strip('"').upper() != wait.expected_etag:
        problems.append(f"its ETag is {info.etag}, expected {wait.expected_etag}")
    if problems:
        return Outcome(False, reason=f"{where} exists but " + " and ".join(problems))
    meta = object_metadata(
        wait.bucket, wait.key, info.size, info.etag, info.crc64, info.last_modified
    )
    return Outcome(True, value=meta)


def _check_many(hook: OSSMultipartHook, wait: ObjectWait) -> Outcome:
    if wait.wildcard_match:
        pattern = wait.key or ""
        cut = min((i for i, ch in enumerate(pattern) if ch in _GLOB_CHARS), default=len(pattern))
        entries = [
            e
            for e in hook.list_object_entries(pattern[:cut] or None, wait.bucket)
            if fnmatch.fnmatchcase(e["key"], pattern)
        ]
    else:
        entries = hook.list_object_entries(wait.prefix or None, wait.bucket)
    found = sorted((e for e in entries if not e["key"].endswith("/")), key=lambda e: e["key"])
    if len(found) < wait.min_objects:
        return Outcome(
            False,
            reason=f"{len(found)} of {wait.min_objects} objects matching {wait.describe()} exist",
        )
    return Outcome(
        True,
        value=[
            object_metadata(wait.bucket, e["key"], e["size"], e["etag"], None, e["last_modified"])
            for e in found
        ],
    )
