"""A writable file object for ``oss://`` paths: small objects in one verified PUT, larger ones
streamed into the parallel multipart engine through a bounded pipe, so memory stays at about
``(concurrency + 3) x part_size`` however much is written."""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from oss_provider.client.errors import WriterAborted
from oss_provider.transfer import upload as transfer

if TYPE_CHECKING:
    from types import TracebackType

    from oss_provider.client.api import OSSClient
    from oss_provider.client.models import CompletedObject

log = logging.getLogger(__name__)


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


class _StreamUpload:
    """One writer's multipart upload on its own thread. It holds no reference to the writer, so
    a writer dropped without ``close()`` is collected, and its ``__del__`` aborts the upload."""

    def __init__(
        self,
        client: OSSClient,
        bucket: str,
        key: str,
        first: bytes,
        *,
        part_size: int,
        concurrency: int,
        content_type: str | None,
        metadata: dict[str, str] | None,
    ) -> None:
        self.pipe = _Pipe(limit=part_size)
        self.pipe.put(first)
        self.result: CompletedObject | Any = None
        self.error: BaseException | None = None
        options = {
            "part_size": part_size,
            "concurrency": concurrency,
            "content_type": content_type,
            "metadata": metadata,
        }
        self.thread = threading.Thread(
            target=self._run,
            args=(client, bucket, key, options),
            name=f"oss-writer {bucket}/{key}",
            daemon=True,
        )
        self.thread.start()

    def _run(self, client: OSSClient, bucket: str, key: str, options: dict[str, Any]) -> None:
        try:
            # a stream upload is never resumed and always aborted when it fails
            self.result = transfer.upload(client, bucket, key, self.pipe, resume=False, **options)
        except BaseException as error:  # noqa: BLE001 - re-raised by finish()
            self.error = error
            self.pipe.finish(error)  # a blocked write() raises the upload's own error

    def finish(self) -> CompletedObject | Any:
        """End of data: wait for Complete (verified) and return the object, or raise."""
        self.pipe.finish()
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result

    def abandon(self, why: str, *, wait: bool = True) -> None:
        """Make the engine fail (it then aborts the upload); ``wait`` for the abort unless in a
        finalizer, which may run on any thread, even one the engine is waiting for."""
        self.pipe.finish(WriterAborted(why))
        if wait and threading.current_thread() is not self.thread:
            self.thread.join()


class OSSObjectWriter(io.RawIOBase):
    """``open("wb")`` on an ``oss://`` path (and the raw file under ``open("w")``'s text wrapper
    and ``fsspec.open``). Nothing is visible at the key until ``close()`` commits, and it commits
    only when the writing ended normally. It discards instead (no PUT; a started multipart upload
    is aborted) when:

    - its own ``with`` block exits with an exception;
    - ``close()`` runs while an exception raised since the file was opened is being handled:
      the ``with`` of a wrapper that closes it on the way out (``TextIOWrapper``, fsspec's
      ``OpenFile``), or an ``except`` / ``finally`` around the writing. An exception that was
      already being handled when the file was opened does not count, so a ``with`` inside an
      ``except`` block commits;
    - it, or a text or buffered wrapper around it, is garbage-collected without ``close()``.
    """

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
        self._upload: _StreamUpload | None = None
        self._abandoned = False  # a wrapper is being garbage-collected: discard on close()
        # the exception already being handled when opened: it is no failure of this writing
        self._handling_at_open: BaseException | None = sys.exception()
        self.result: CompletedObject | Any = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed oss:// file")
        view = bytes(data)
        if self._abandoned:
            return len(view)  # a collected wrapper flushing on its way out: start nothing
        if self._upload is None:
            self._buffer += view
            if len(self._buffer) >= self.part_size:
                self._upload = _StreamUpload(
                    self.client, self.bucket, self.key, bytes(self._buffer),
                    part_size=self.part_size, concurrency=self.concurrency,
                    content_type=self.content_type, metadata=self.metadata,
                )  # fmt: skip
                self._buffer = bytearray()
        else:
            self._upload.pipe.put(view)
        return len(view)

    def close(self) -> None:
        """Commit, unless closed while a new exception is handled or by a collected wrapper."""
        if self.closed:
            return
        if self._abandoned:
            self._discard("it was garbage-collected without close()", wait=False)
            return
        failure = sys.exception()
        if failure is not None and failure is not self._handling_at_open:
            self.discard(failure)
            return
        self._commit()

    def _commit(self) -> None:
        try:
            if self._upload is None:
                self.result = self.client.put_object(
                    self.bucket,
                    self.key,
                    bytes(self._buffer),
                    content_type=self.content_type,
                    metadata=self.metadata,
                )
            else:
                self.result = self._upload.finish()
        finally:
            self._release()

    def discard(self, error: BaseException | None = None) -> None:
        """Give up: nothing is stored and a started upload is aborted (waits for the abort)."""
        if self.closed:
            return
        why = (
            f"closed while {type(error).__name__} was raised" if error is not None else "discarded"
        )
        log.info("Stored nothing at oss://%s: %s", self.path, why)  # the type only: no secrets
        self._discard(f"writing {self.path} was abandoned: {why}")

    def _discard(self, why: str, *, wait: bool = True) -> None:
        if self.closed:
            return
        try:
            if self._upload is not None:
                self._upload.abandon(why, wait=wait)
        finally:
            self._release()

    def _release(self) -> None:
        self._buffer = bytearray()
        self._handling_at_open = None  # its traceback may hold this very frame
        super().close()

    def _dealloc_warn(self, source: Any) -> None:
        """Called by ``TextIOWrapper`` / ``BufferedWriter`` when they are garbage-collected
        unclosed, just before they flush and close this file: that close must not commit."""
        self._abandoned = True

    def __del__(self) -> None:
        """Collected without ``close()``: discard, never commit (``IOBase`` would commit)."""
        try:
            if not self.closed:
                self._abandoned = True
                self._discard("it was garbage-collected without close()", wait=False)
        except Exception:  # noqa: BLE001, S110 - a finalizer must not raise
            pass

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is not None:
            self.discard(error)
        elif not self.closed:
            self._commit()  # the block ended normally: an outer handled exception is no failure
