"""A part's bytes as a range of a local file, read when they are needed rather than held.

Holding each part in flight as one ``bytes`` object makes memory grow with concurrency x part
size (8 x 8 MiB by default). A file range needs no such buffer: its Content-MD5 and CRC-64 are
computed by reading it in 1 MiB chunks, and its body is read again, chunk by chunk, while the
request is sent (the page cache makes the second read cheap). Each send opens a fresh reader, so
a re-sent request reads the range again from the start.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Protocol

from oss_provider.client.checksums import crc64
from oss_provider.client.errors import SourceChangedError

CHUNK = 1024 * 1024  # bytes read at a time: the hashing buffer and the send block


class RangeSource(Protocol):
    """What a range is read from: a seekable source (``LocalFileSource``)."""

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``; fewer means the source shrank (the body
        raises SourceChangedError)."""
        ...


class RangeBody:
    """``size`` bytes of ``source`` from ``offset``; ``len()`` is the Content-Length."""

    def __init__(self, source: RangeSource, offset: int, size: int) -> None:
        self.source = source
        self.offset = offset
        self.size = size
        self._digests: tuple[bytes | None, int] | None = None

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:  # an empty range is still a body (of 0 bytes)
        return True

    def digests(self, md5: bool) -> tuple[bytes | None, int]:
        """``(binary MD5 or None, CRC-64)`` of the range, read once and kept."""
        if self._digests is None or (md5 and self._digests[0] is None):
            digest = hashlib.md5() if md5 else None
            crc = 0
            for chunk in self._chunks():
                if digest is not None:
                    digest.update(chunk)
                crc = crc64(chunk, crc)
            self._digests = (digest.digest() if digest is not None else None, crc)
        return self._digests

    def content_md5(self) -> str:
        """The Content-MD5 header of the range (base64 of its MD5)."""
        return base64.b64encode(self.digests(True)[0] or b"").decode()

    def reader(self) -> _RangeReader:
        """A fresh file-like reader of the range, for one send."""
        return _RangeReader(self)

    def _chunks(self) -> Iterator[bytes]:
        done = 0
        while done < self.size:
            step = min(CHUNK, self.size - done)
            chunk = self.source.read(self.offset + done, step)
            if len(chunk) != step:  # a source that came up short: never loop on empty reads
                raise SourceChangedError(
                    f"expected {step} bytes at offset {self.offset + done}, read {len(chunk)}; "
                    "the source changed"
                )
            done += step
            yield chunk


class _RangeReader:
    """What ``requests`` and urllib3 stream a body from: ``read`` and a known length."""

    def __init__(self, body: RangeBody) -> None:
        self._body = body
        self._done = 0

    def __len__(self) -> int:
        return self._body.size - self._done

    def read(self, size: int = -1) -> bytes:
        left = self._body.size - self._done
        if left <= 0:
            return b""
        step = left if size is None or size < 0 else min(size, left)
        chunk = self._body.source.read(self._body.offset + self._done, step)
        self._done += len(chunk)
        return chunk


__all__ = ["CHUNK", "RangeBody"]
