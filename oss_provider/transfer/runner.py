"""The part runner: uploads the parts of one upload (or one mapped batch) on a thread pool.

Memory stays at ``concurrency`` part buffers at most: a slot is reserved *before* a part's bytes
are read (a stream reader then blocks instead of reading ahead), and freed when the part is done.
A local file's parts take no buffer at all: each goes as a
:class:`~oss_provider.client.bodies.RangeBody`, read from the file when hashed and when sent. The first error wins; queued parts then return at once. A part whose bytes arrive
damaged is re-read and re-sent (``part_retries`` times); everything else was retried by the
transport, so one failing part costs exactly the sends its retry policy allows.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from oss_provider.client.bodies import RangeBody
from oss_provider.client.checksums import crc64
from oss_provider.client.errors import (
    IntegrityError,
    InvalidDigest,
    ShortReadError,
    SourceChangedError,
)
from oss_provider.client.limits import MAX_PARTS
from oss_provider.client.models import PartInfo, UploadedPart
from oss_provider.transfer.config import DEFAULT_PART_RETRIES
from oss_provider.transfer.plan import PartSpec
from oss_provider.transfer.progress import TransferProgress
from oss_provider.transfer.sources import LocalFileSource, Source, StreamSource
from oss_provider.units import format_bytes

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

log = logging.getLogger(__name__)


class PartRunner:
    """Uploads parts on a thread pool; one instance per upload (or per batch).

    A slot of ``concurrency`` is reserved before a part's bytes are read and freed when the part
    is done, which bounds memory for every source. The first error wins: once a part fails for
    good, queued parts return at once and the submitter stops.
    """

    def __init__(
        self,
        client: OSSClient,
        bucket: str,
        key: str,
        upload_id: str,
        source: Source,
        *,
        concurrency: int,
        existing: dict[int, PartInfo],
        progress: TransferProgress,
        part_retries: int = DEFAULT_PART_RETRIES,
        content_md5: bool = True,
        max_parts: int = MAX_PARTS,
        sleep: Callable[[float], None] = time.sleep,
        limiter: threading.Semaphore | None = None,
        executor: Executor | None = None,
    ) -> None:
        """:param executor: where parts run; default a thread pool of ``concurrency`` threads
        per run, shut down when the run ends. A given executor (a shared pool, or an inline one
        in a test) is used as is and left running; ``concurrency`` still bounds the parts in
        flight."""
        self.max_parts = max_parts
        self._executor = executor
        self._futures: list[Future[Any]] = []
        # a bound shared with other transfers (many files): one slot per part in flight, taken
        # after this runner's own slot and released with it
        self.limiter = limiter
        self.client = client
        self.content_md5 = content_md5
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.source = source
        self.concurrency = concurrency
        self.existing = existing
        self.progress = progress
        self.part_retries = part_retries
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(concurrency)
        self._failed = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self.results: dict[int, UploadedPart] = {}

    # ---- public

    def run(self, specs: Iterable[PartSpec]) -> list[UploadedPart]:
        """Upload ranged parts (file, fsspec, OSS copy)."""
        with self._pool() as pool:
            for spec in specs:
                if not self._reserve():
                    break
                self._submit(pool, self._ranged_part, spec)
        return self._finish()

    def run_stream(
        self, stream: StreamSource, part_size: int, first_part: int = 1
    ) -> list[UploadedPart]:
        """Upload a stream in order; a part's buffer is read only after its slot is reserved."""
        number, offset = first_part, 0
        with self._pool() as pool:
            while self._reserve():
                try:
                    data = stream.read_next(part_size)
                except BaseException as error:  # noqa: BLE001 - recorded, re-raised by _finish
                    self._release()
                    self._fail(error)
                    break
                if not data and number > first_part:
                    self._release()
                    break
                if number > self.max_parts:
                    self._release()
                    self._fail(
                        ValueError(
                            f"{stream.description} is longer than {self.max_parts:,} parts of "
                            f"{format_bytes(part_size, exact=True)}; pass a larger part_size (or the stream's "
                            "expected_size, so the part size is chosen to fit)"
                        )
                    )
                    break
                spec = PartSpec(number, offset, len(data))
                self._submit(pool, self._buffered_part, spec, data)
                number += 1
                offset += len(data)
                if len(data) < part_size:
                    break
        return self._finish()

    # ---- scheduling

    @contextlib.contextmanager
    def _pool(self) -> Iterator[Executor]:
        if self._executor is not None:
            try:
                yield self._executor
            finally:  # the run ends when its parts do, as a pool of its own would wait
                futures.wait(self._futures)
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="oss-part") as pool:
            yield pool

    def _reserve(self) -> bool:
        if not self._acquire(self._slots):
            return False
        if self.limiter is not None and not self._acquire(self.limiter):
            self._slots.release()
            return False
        return True

    def _acquire(self, slots: threading.Semaphore) -> bool:
        while not slots.acquire(timeout=0.5):
            if self._failed.is_set():
                return False
        if self._failed.is_set():
            slots.release()
            return False
        return True

    def _release(self) -> None:
        if self.limiter is not None:
            self.limiter.release()
        self._slots.release()

    def _submit(self, pool: Executor, fn: Callable[..., UploadedPart], *args: Any):
        future: Future[UploadedPart] = pool.submit(self._guard, fn, *args)
        future.add_done_callback(lambda _f: self._release())
        if self._executor is not None:
            self._futures.append(future)

    def _guard(self, fn: Callable[..., UploadedPart], spec: PartSpec, *args: Any) -> None:
        if self._failed.is_set():
            return
        try:
            part = fn(spec, *args)
        except BaseException as error:  # noqa: BLE001 - recorded, re-raised by _finish
            self._fail(error)
            return
        with self._lock:
            self.results[part.part_number] = part

    def _fail(self, error: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = error
        self._failed.set()

    def _finish(self) -> list[UploadedPart]:
        if self._error is not None:
            raise self._error
        return [self.results[n] for n in sorted(self.results)]

    # ---- one part

    def _ranged_part(self, spec: PartSpec) -> UploadedPart:
        if self.source.server_side_copy:
            return self._with_retries(spec, self._copy_part)
        if isinstance(self.source, LocalFileSource):  # read when hashed and when sent, not held
            return self._with_retries(
                spec, lambda s: self._send(s, RangeBody(self.source, s.offset, s.size))
            )
        return self._with_retries(spec, lambda s: self._send(s, self.source.read(s.offset, s.size)))

    def _buffered_part(self, spec: PartSpec, data: bytes) -> UploadedPart:
        return self._with_retries(spec, lambda s: self._send(s, data))

    def _with_retries(
        self, spec: PartSpec, attempt: Callable[[PartSpec], UploadedPart]
    ) -> UploadedPart:
        """Re-read and re-send a part only when its bytes arrived damaged (CRC-64 or Content-MD5
        mismatch) or the source returned too few bytes; transient HTTP failures were already
        retried by the transport's policy, and are not multiplied here."""
        tries = 0
        while True:
            if self._failed.is_set():
                raise _Cancelled()
            try:
                return attempt(spec)
            except (IntegrityError, InvalidDigest, ShortReadError) as error:
                if tries >= self.part_retries:
                    if isinstance(error, ShortReadError):
                        raise SourceChangedError(str(error)) from None
                    raise
                tries += 1
                log.info(
                    "Part %d of %s: %s; re-reading it from the source and sending it again "
                    "(%d of %d)",
                    spec.part_number,
                    self.key,
                    error,
                    tries,
                    self.part_retries,
                )

    def _send(
        self, spec: PartSpec, data: bytes | bytearray | memoryview | RangeBody
    ) -> UploadedPart:
        if len(data) != spec.size:
            raise ShortReadError(
                f"{self.source.description}: part {spec.part_number} has {len(data)} bytes, "
                f"planned {spec.size}"
            )
        old = self.existing.get(spec.part_number)
        if (
            old is not None
            and old.size == spec.size
            and old.crc64 is not None
            and self._crc64(data) == old.crc64
        ):
            self.progress.part_kept(spec.size)
            return old.to_uploaded_part()
        part = self.client.upload_part(
            self.bucket,
            self.key,
            self.upload_id,
            spec.part_number,
            data,
            content_md5=self.content_md5,
        )
        if part.size != spec.size:
            part = UploadedPart(part.part_number, part.etag, spec.size, part.crc64)
        self.progress.part_sent(spec.size)
        return part

    def _crc64(self, data: bytes | bytearray | memoryview | RangeBody) -> int:
        if isinstance(data, RangeBody):  # hashed once: upload_part reuses these digests
            return data.digests(self.content_md5)[1]
        return crc64(data)

    def _copy_part(self, spec: PartSpec) -> UploadedPart:
        src = self.source
        byte_range = (spec.offset, spec.offset + spec.size - 1) if spec.size else None
        part = self.client.upload_part_copy(
            self.bucket,
            self.key,
            self.upload_id,
            spec.part_number,
            src.bucket,  # type: ignore[attr-defined]
            src.key,  # type: ignore[attr-defined]
            byte_range=byte_range,
        )
        if part.size != spec.size:
            part = UploadedPart(part.part_number, part.etag, spec.size, part.crc64)
        self.progress.part_sent(spec.size)
        return part


class _Cancelled(Exception):
    """A queued part noticed that another part already failed the upload."""
