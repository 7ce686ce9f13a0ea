"""Objects below the multipart threshold go up in one PUT: one request instead of at least four
(Initiate, the owner records, a part, Complete), with the same checks (Content-MD5 refused by
OSS on a mismatch, then the server's CRC-64 compared with the bytes sent)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from oss_provider.client.checksums import crc64
from oss_provider.client.errors import FileAlreadyExists, SourceChangedError
from oss_provider.client.models import CompletedObject
from oss_provider.client.sources import Source, StreamSource

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient
    from oss_provider.client.progress import TransferProgress

log = logging.getLogger(__name__)


class _Prepended:
    """A stream whose first bytes were already read: serves them again, then the rest."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self._head: bytes | None = head
        self._stream = stream
        self.name = getattr(stream, "name", None)

    def read(self, n: int = -1) -> bytes:
        head = self._head
        if head:
            if n is None or n < 0 or n >= len(head):
                self._head = None  # handed over whole: no copy, no second buffer
                return head
            self._head = head[n:]
            return head[:n]
        return self._stream.read(n)


def read_head(src: Source, threshold: int) -> tuple[bytes | None, Source]:
    """For a stream of unknown size: its first ``threshold`` bytes when that is all of it (one
    PUT), else ``(None, a stream that reads from the start again)``."""
    assert isinstance(src, StreamSource)
    head = src.read_next(threshold)
    if len(head) < threshold:
        return head, src
    return None, StreamSource(_Prepended(head, src.stream), src.size, name=src.description)


def put_whole(
    client: OSSClient,
    bucket: str,
    key: str,
    src: Source,
    options: dict[str, Any],
    tracker: TransferProgress,
    data: bytes | None = None,
) -> CompletedObject:
    """Read the (small) source and store it with one verified PUT."""
    where = f"oss://{bucket}/{key}"
    if data is None:
        data = src.read(0, src.size or 0) if src.size else b""
        if len(data) != (src.size or 0):
            raise SourceChangedError(
                f"{src.description} gave {len(data)} bytes, {src.size} expected; it changed"
            )
    src.check_unchanged()
    try:
        info = client.put_object(bucket, key, data, **options)
    except FileAlreadyExists:
        raise FileAlreadyExists(
            409,
            "FileAlreadyExists",
            f"{where} already exists and forbid_overwrite is set; nothing was replaced. Upload "
            "to another key, delete the object first, or drop forbid_overwrite",
        ) from None
    tracker.part_sent(len(data))
    snap = tracker.finish()
    log.info(
        "Stored %s in one PUT: %d B, CRC-64 %s verified, %.1f MB/s",
        where,
        len(data),
        info.crc64,
        snap.rate / 1e6,
    )
    return CompletedObject(
        bucket=bucket,
        key=key,
        etag=info.etag or "",
        size=len(data),
        crc64=info.crc64 if info.crc64 is not None else crc64(data),
        request_id=info.request_id,
    )
