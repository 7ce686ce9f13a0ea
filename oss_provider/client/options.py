"""ObjectOptions: what an object is made of besides its bytes, checked once and turned into the
request headers of Initiate and PUT in one place.

Each option is one field. A field that maps to one header names it in its ``metadata``
(``header``); the few with an encoding of their own (user metadata, tags, forbid-overwrite, extra
headers) are written by :meth:`ObjectOptions.request_headers`. Operators, the hook and the engine all take
their option names from :func:`option_names`, so a new option is one field here (and one argument
where an operator documents it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlencode

from oss_provider.client.validation import validate_object_options

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _header(name: str) -> Any:
    return field(default=None, metadata={"header": name})


@dataclass(frozen=True)
class ObjectOptions:
    """The options of one object write (all optional; None means "OSS's default").

    :param content_type: the object's ``Content-Type`` (default ``application/octet-stream``).
    :param metadata: user metadata (``x-oss-meta-*``), names to strings.
    :param storage_class: Standard, IA, Archive, ColdArchive or DeepColdArchive.
    :param server_side_encryption: AES256, KMS or SM4; ``sse_kms_key_id`` with KMS.
    :param tagging: object tags, a mapping or ``"k1=v1&k2=v2"`` (at most 10).
    :param cache_control: the ``Cache-Control`` a GET of the object returns.
    :param content_disposition: the ``Content-Disposition`` a GET of the object returns.
    :param content_encoding: the ``Content-Encoding`` a GET of the object returns (``gzip``).
    :param forbid_overwrite: refuse to replace an existing object (``x-oss-forbid-overwrite``).
    :param headers: further request headers, sent as given.
    """

    content_type: str | None = _header("Content-Type")
    metadata: Mapping[str, str] | None = None
    storage_class: str | None = _header("x-oss-storage-class")
    server_side_encryption: str | None = _header("x-oss-server-side-encryption")
    sse_kms_key_id: str | None = _header("x-oss-server-side-encryption-key-id")
    tagging: Mapping[str, str] | str | None = None
    cache_control: str | None = _header("Cache-Control")
    content_disposition: str | None = _header("Content-Disposition")
    content_encoding: str | None = _header("Content-Encoding")
    forbid_overwrite: bool | None = None
    headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if "header" in f.metadata and value is not None and not isinstance(value, str):
                raise TypeError(f"{f.name} must be a string, got {type(value).__name__}")
        if self.forbid_overwrite is not None and not isinstance(self.forbid_overwrite, bool):
            raise TypeError(
                f"forbid_overwrite must be True or False, got {self.forbid_overwrite!r}"
            )
        for name in ("metadata", "headers"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a mapping of names to strings, got {value!r}")
        tagging = dict(self.tagging) if isinstance(self.tagging, Mapping) else self.tagging
        validate_object_options(
            self.storage_class, self.server_side_encryption, self.sse_kms_key_id, tagging
        )
        for name in ("metadata", "headers", "tagging"):  # a copy: the caller's dict is theirs
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, dict(value))

    @classmethod
    def of(
        cls, options: ObjectOptions | Mapping[str, Any] | None = None, **more: Any
    ) -> ObjectOptions:
        """Options from an ObjectOptions, a mapping of option names, or keywords (later wins);
        an unknown name is refused with the accepted ones."""
        given: dict[str, Any] = {}
        if isinstance(options, ObjectOptions):
            given.update(options.to_dict())
        elif options is not None:
            given.update(options)
        given.update({k: v for k, v in more.items() if v is not None})
        unknown = sorted(set(given) - set(option_names()))
        if unknown:
            raise TypeError(
                f"unknown object option(s) {', '.join(unknown)}; the options are "
                f"{', '.join(option_names())}"
            )
        return cls(**given)

    def merged(self, **overrides: Any) -> ObjectOptions:
        """A copy with the options given (not None) replaced."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, as plain values (mappings as dicts)."""
        out = {}
        for name, value in asdict(self).items():
            if value is None or (isinstance(value, Mapping) and not value):
                continue
            out[name] = dict(value) if isinstance(value, Mapping) else value
        return out

    def request_headers(self) -> dict[str, str]:
        """The request headers that give an object these options (Initiate and PUT alike)."""
        hdrs = dict(self.headers or {})
        for f in fields(self):
            value = getattr(self, f.name)
            if value and "header" in f.metadata:
                hdrs[f.metadata["header"]] = value
        if not self.content_type:
            hdrs["Content-Type"] = DEFAULT_CONTENT_TYPE
        for name, value in (self.metadata or {}).items():
            hdrs[f"x-oss-meta-{name}"] = str(value)
        if self.tagging:
            tags = self.tagging
            hdrs["x-oss-tagging"] = tags if isinstance(tags, str) else urlencode(dict(tags))
        if self.forbid_overwrite is not None:
            hdrs["x-oss-forbid-overwrite"] = "true" if self.forbid_overwrite else "false"
        return hdrs

    def digest(self) -> str:
        """SHA-256 of the options that are set: the options record of an owned upload, so a
        writer resumes only an upload started with the same options."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def option_names() -> tuple[str, ...]:
    """Every object option's name, in declaration order."""
    return tuple(f.name for f in fields(ObjectOptions))


__all__ = ["DEFAULT_CONTENT_TYPE", "ObjectOptions", "option_names"]
