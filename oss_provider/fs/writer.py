"""A writable file object for ``oss://`` paths: small objects in one verified PUT, larger ones
streamed into the parallel multipart engine through a bounded pipe, so memory stays at about
``(concurrency + 3) x part_size`` however much is written."""

from __future__ import annotations

import io
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from oss_provider.client import transfer

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient
    from oss_provider.client.models import CompletedObject


class WriterAborted(Exception):
    """The writer was closed after an error in the ``with`` block: nothing is stored."""


class _Pipe:
    """Bytes handed from ``write()`` to the engine's reader thread, at most ``limit`` buffered."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._failure: BaseException | None = None
        self._cond = threading.Condition()

    def put(self, data: bytes) -> None:
        with self._cond:
            while self._buffered >= self.limit and self._failure is None:
                self._cond.wait(1.0)
            if self._failure is not None:
                raise self._failure
            self._chunks.append(data)
            self._buffered += len(data)
            self._cond.notify_all()

    def finish(self, failure: BaseException | None = None) -> None:
        with self._cond:
            self._eof = True
            self._failure = self._failure or failure
            self._cond.notify_all()

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes, fewer only at the end; raises the writer's failure, if any."""
        with self._cond:
            if n == 0:
                return b""
            while True:
                if self._failure is not None:
                    raise self._failure
                if self._buffered >= n > 0 or self._eof:
                    break
                self._cond.wait(1.0)
            pieces: list[bytes] = []
            got = 0
            while self._chunks and (n < 0 or got < n):
                chunk = self._chunks.popleft()
                take = len(chunk) if n < 0 else min(len(chunk), n - got)
                if take < len(chunk):
                    self._chunks.appendleft(chunk[take:])
                    chunk = chunk[:take]
                pieces.append(chunk)
                got += take
                self._buffered -= take
            self._cond.notify_all()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class OSSObjectWriter(io.RawIOBase):
    """``open("wb")`` on an ``oss://`` path. Nothing is visible at the key until ``close()``
    succeeds; an exception inside ``with`` aborts the upload (nothing stored, nothing left)."""

    def __init__(
        self,
        client: OSSClient,
        bucket: str,
        key: str,
        *,
        part_size: int,
        concurrency: int,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.client, self.bucket, self.key = client, bucket, key
        self.part_size = part_size
        self.concurrency = concurrency
        self.content_type = content_type
        self.metadata = metadata
        self.path = f"{bucket}/{key}"
        self._buffer = bytearray()
        self._pipe: _Pipe | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.result: CompletedObject | Any = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed oss:// file")
        view = bytes(data)
        if self._pipe is None:
            self._buffer += view
            if len(self._buffer) >= self.part_size:
                self._start()
        else:
            self._pipe.put(view)
        return len(view)

    def _start(self) -> None:
        self._pipe = _Pipe(limit=self.part_size)
        self._pipe.put(bytes(self._buffer))
        self._buffer = bytearray()
        self._thread = threading.Thread(
            target=self._run, name=f"oss-writer {self.path}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = transfer.upload(
                self.client,
                self.bucket,
                self.key,
                self._pipe,
                part_size=self.part_size,
                concurrency=self.concurrency,
                resume=False,
                content_type=self.content_type,
                metadata=self.metadata,
            )
        except BaseException as error:  # noqa: BLE001 - re-raised by close()
            self._error = error
            if self._pipe is not None:
                self._pipe.finish(error)  # a blocked write() raises the upload's own error

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._pipe is None:
                self.result = self.client.put_object(
                    self.bucket,
                    self.key,
                    bytes(self._buffer),
                    content_type=self.content_type,
                    metadata=self.metadata,
                )
            else:
                self._pipe.finish()
                assert self._thread is not None
                self._thread.join()
                if self._error is not None:
                    raise self._error
        finally:
            self._buffer = bytearray()
            super().close()

    def discard(self, error: BaseException | None = None) -> None:
        """Give up: a started upload is aborted (the engine aborts a failed stream upload)."""
        if self.closed:
            return
        try:
            if self._pipe is not None:
                self._pipe.finish(WriterAborted(f"writing {self.path} was abandoned: {error}"))
                assert self._thread is not None
                self._thread.join()
        finally:
            self._buffer = bytearray()
            super().close()

    def __exit__(self, kind, error, tb) -> None:
        if kind is not None:
            self.discard(error)
        else:
            self.close()
