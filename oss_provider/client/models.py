"""Plain value types the client returns; each converts to the JSON-able dict that travels in XCom."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair and an optional STS token. ``repr`` never shows the secret or token."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class UploadedPart:
    """One stored part, as Complete needs it. XCom shape: ``{"part_number", "etag", "size", "crc64"}``."""

    part_number: int
    etag: str  # without quotes, upper-case hex
    size: int
    crc64: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The XCom dict: ``part_number``, ``etag``, ``size``, ``crc64``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | UploadedPart) -> UploadedPart:
        """From the XCom dict (an UploadedPart passes as is); quotes around the ETag are
        dropped, a missing size is 0 and a missing CRC-64 None."""
        if isinstance(data, UploadedPart):
            return data
        crc = data.get("crc64")
        return cls(
            part_number=int(data["part_number"]),
            etag=str(data["etag"]).strip('"'),
            size=int(data.get("size") or 0),
            crc64=int(crc) if crc not in (None, "") else None,
        )


@dataclass(frozen=True)
class CompletedObject:
    """The result of CompleteMultipartUpload (or of a confirming HEAD after a lost answer)."""

    bucket: str
    key: str
    etag: str
    size: int | None = None
    crc64: int | None = None
    version_id: str | None = None
    request_id: str | None = None
    confirmed_by_head: bool = False
    #: nothing was sent: the key already held exactly the object this upload would write (the
    #: same bytes in the same part layout with the same options), e.g. written by an earlier run
    #: of the same writer whose Complete was applied after it was killed
    already_written: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able dict an operator pushes to XCom."""
        return asdict(self)


@dataclass(frozen=True)
class PartInfo:
    """One entry of ListParts."""

    part_number: int
    etag: str
    size: int
    last_modified: datetime | None
    crc64: int | None = None

    def to_uploaded_part(self) -> UploadedPart:
        """The part as Complete takes it: how a resumed upload reuses parts already stored."""
        return UploadedPart(self.part_number, self.etag, self.size, self.crc64)


@dataclass(frozen=True)
class PartsPage:
    """One page of ListParts."""

    bucket: str
    key: str
    upload_id: str
    parts: list[PartInfo]
    part_number_marker: int
    next_part_number_marker: int
    max_parts: int
    is_truncated: bool


@dataclass(frozen=True)
class UploadInfo:
    """One entry of ListMultipartUploads; ``initiated`` is aware UTC, or None if unparsable."""

    key: str
    upload_id: str
    initiated: datetime | None
    storage_class: str | None = None


@dataclass(frozen=True)
class UploadsPage:
    """One page of ListMultipartUploads; ``server_date`` is the response's ``Date`` header."""

    bucket: str
    uploads: list[UploadInfo]
    common_prefixes: list[str]
    key_marker: str
    upload_id_marker: str
    next_key_marker: str
    next_upload_id_marker: str
    max_uploads: int
    is_truncated: bool
    server_date: datetime | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """HeadObject / PutObject result."""

    bucket: str
    key: str
    size: int | None
    etag: str | None
    crc64: int | None = None
    content_type: str | None = None
    last_modified: datetime | None = None
    object_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
