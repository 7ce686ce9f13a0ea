"""Request and response values passed between the HTTP layer and the operations."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from .errors import ServiceError
from .store import BlobInfo, BlobWriter, ObjectReader

CHUNK = 1024 * 1024


class AbortConnection(Exception):
    """Drop the connection with a TCP reset instead of answering (fault injection)."""


class BodyReader:
    """The request body, read in chunks: ``Content-Length`` or chunked transfer encoding."""

    def __init__(
        self,
        rfile: BinaryIO,
        length: int | None,
        chunked: bool,
        on_bytes: Callable[[int], None],
        fail_after: int | None = None,
    ) -> None:
        self._rfile = rfile
        self.length = length
        self.chunked = chunked
        self._remaining = length or 0
        self._chunk_left = 0
        self._done = not chunked and not length
        self._on_bytes = on_bytes
        self.received = 0
        self.fail_after = fail_after  # fault injection: connection reset after this many bytes

    @property
    def present(self) -> bool:
        return self.chunked or bool(self.length)

    @property
    def finished(self) -> bool:
        return self._done

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` as far as the body goes; 0 at the end of the body."""
        if self._done:
            return 0
        if self.fail_after is not None and self.received >= self.fail_after:
            raise AbortConnection("fault injection: reset in the middle of the request body")
        if self.chunked:
            n = self._read_chunked(view)
        else:
            want = min(len(view), self._remaining)
            if self.fail_after is not None:
                want = max(1, min(want, self.fail_after - self.received))
            n = self._rfile.readinto(view[:want])
            if not n:
                raise ConnectionError("client closed the connection in the middle of the body")
            self._remaining -= n
            if self._remaining <= 0:
                self._done = True
        self.received += n
        self._on_bytes(n)
        return n

    def _read_chunked(self, view: memoryview) -> int:
        if self._chunk_left == 0:
            line = self._rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ServiceError("InvalidArgument", "Malformed chunked body.") from None
            if size == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return 0
            self._chunk_left = size
        n = self._rfile.readinto(view[: min(len(view), self._chunk_left)])
        if not n:
            raise ConnectionError("client closed the connection in the middle of the body")
        self._chunk_left -= n
        if self._chunk_left == 0:
            self._rfile.readline(16)  # CRLF after the chunk
        return n

    def read_all(self, limit: int, too_large: Callable[[], ServiceError]) -> bytes:
        """A small body (XML) read whole; bigger than ``limit`` -> ``too_large()``."""
        out = bytearray()
        buf = bytearray(64 * 1024)
        view = memoryview(buf)
        while n := self.readinto(view):
            out += view[:n]
            if len(out) > limit:
                raise too_large()
        return bytes(out)

    def drain(self) -> None:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while self.readinto(view):
            pass

    def into(
        self, writer: BlobWriter, limit: int, too_large: Callable[[], ServiceError]
    ) -> BlobInfo:
        """Stream the body into a blob (MD5 + CRC-64 computed on the way); never whole in memory."""
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            while n := self.readinto(view):
                if writer.size + n > limit:
                    raise too_large()
                writer.write(view[:n])
        except BaseException:
            writer.discard()
            raise
        return writer.finish()


def parse_content_md5(value: str | None) -> bytes | None:
    """The 16-byte digest of a Content-MD5 header; InvalidDigest when it cannot be one."""
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise ServiceError("InvalidDigest", ec="0017-00000502", extras={"Content-MD5": value})
    return digest


@dataclass
class Request:
    """One OSS request after routing: names decoded, query parsed, body not yet read."""

    method: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    headers: Callable[[str], list[str]]
    header_names: list[str]
    host: str
    virtual_host: bool
    request_id: str
    body: BodyReader
    now: float

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        return values[0] if values else None

    def param(self, name: str) -> str | None:
        """A query value; empty values count as absent (oss2 sends every marker, empty)."""
        value = self.query.get(name)
        return value or None

    def has(self, name: str) -> bool:
        return name in self.query


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reader: ObjectReader | None = None  # streamed object data
    start: int = 0
    end: int = -1  # inclusive; with ``reader``
    after_send: Callable[[], None] | None = None
