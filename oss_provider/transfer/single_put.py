"""Objects below the multipart threshold go up in one PUT: one request instead of at least four
(Initiate, the owner records, a part, Complete), with the same checks (Content-MD5 refused by
OSS on a mismatch, then the server's CRC-64 compared with the bytes sent).

A local file above 1 MiB is not read into memory: like a multipart part, it is sent as a
:class:`~oss_provider.client.bodies.RangeBody`, hashed by reading it in 1 MiB chunks and read
again from the file while the request is sent, so a set of files up to the threshold (8 MiB by
default) in flight at 16 at a time does not hold 16 file-sized buffers. A smaller file (one
buffer is cheaper than reading it twice) and a remote source are read into one buffer of at most
the threshold.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from oss_provider.client.bodies import CHUNK, RangeBody
from oss_provider.client.checksums import crc64
from oss_provider.client.errors import FileAlreadyExists, SourceChangedError
from oss_provider.client.models import CompletedObject, ObjectInfo
from oss_provider.client.options import ObjectOptions
from oss_provider.transfer.sources import LocalFileSource, Source, StreamSource

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient
    from oss_provider.transfer.progress import TransferProgress

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


def put_source(
    client: OSSClient, bucket: str, key: str, src: Source, options: ObjectOptions
) -> ObjectInfo:
    """Store the whole (small) ``src`` with one verified PUT: a local file above 1 MiB as a
    :class:`RangeBody` (its Content-MD5 and CRC-64 computed by reading it, then the body read
    from the file while it is sent), anything else read into one buffer. ``options`` are
    :class:`~oss_provider.client.options.ObjectOptions`."""
    size = src.size or 0
    if isinstance(src, LocalFileSource) and size > CHUNK:
        body = RangeBody(src, 0, size)
        body.digests(True)  # read once here: a change after this is refused (Content-MD5)
        src.check_unchanged()
        return client.put_object(bucket, key, body, options)
    data = src.read(0, size) if size else b""
    if len(data) != size:
        raise SourceChangedError(
            f"{src.description} gave {len(data)} bytes, {size} expected; it changed"
        )
    src.check_unchanged()
    return client.put_object(bucket, key, data, options)


def put_whole(
    client: OSSClient,
    bucket: str,
    key: str,
    src: Source,
    options: ObjectOptions,
    tracker: TransferProgress,
    data: bytes | None = None,
) -> CompletedObject:
    """Store the (small) source with one verified PUT (``data``: its bytes, already read from
    a stream; else :func:`put_source` reads or streams it)."""
    where = f"oss://{bucket}/{key}"
    try:
        if data is None:
            info = put_source(client, bucket, key, src, options)
        else:
            src.check_unchanged()
            info = client.put_object(bucket, key, data, options)
    except FileAlreadyExists:
        raise FileAlreadyExists.refused(where) from None
    size = len(data) if data is not None else (info.size or 0)
    tracker.part_sent(size)
    snap = tracker.finish()
    log.info(
        "Stored %s in one PUT: %d B, CRC-64 %s verified, %.1f MB/s",
        where,
        size,
        info.crc64,
        snap.rate / 1e6,
    )
    return CompletedObject(
        bucket=bucket,
        key=key,
        etag=info.etag or "",
        size=size,
        crc64=info.crc64 if info.crc64 is not None else crc64(data or b""),
        request_id=info.request_id,
    )


__all__ = ["put_source", "put_whole", "read_head"]
