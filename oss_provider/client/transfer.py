"""The parallel multipart transfer engine: plan parts, upload them with bounded memory, resume.

Kept apart from :mod:`oss_provider.client.api` (one method per REST call, no threads): this module
receives a client and a source and decides which parts go where.

Memory: at most ``concurrency`` part buffers exist at once for every source, because a slot of a
semaphore sized ``concurrency`` is taken *before* a part's bytes are read (a stream reader then
blocks instead of reading ahead). Worst case: ``concurrency x part_size`` plus a small constant
(per-thread request objects); server-side copies hold no part bytes at all.

Integrity: the client sends ``Content-MD5`` with every part and compares the server's CRC-64 with
its own; Complete compares the combined CRC-64 of all parts with the object's. A part that fails
with a retryable error (transport, 5xx, a CRC mismatch) is re-read from the source and re-sent.

Resume: an upload to the same bucket and key that is still in progress is found with
ListMultipartUploads; its parts are listed, and a part is kept only when its size and CRC-64 match
the source's bytes for that range (computed locally), so nothing stale is ever stitched in. Only
the rest is sent. A worker killed with SIGKILL loses only the parts that were in flight.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from oss_provider.client.checksums import combine_part_crcs, crc64
from oss_provider.client.errors import (
    IntegrityError,
    NoSuchUpload,
    OSSError,
    OSSTransportError,
    SourceChangedError,
)
from oss_provider.client.limits import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE
from oss_provider.client.models import CompletedObject, PartInfo, UploadedPart, UploadInfo
from oss_provider.client.progress import ProgressCallback, TransferProgress
from oss_provider.client.sources import Source, StreamSource, open_source
from oss_provider.client.validation import validate_part_size

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MiB
DEFAULT_CONCURRENCY = 8
DEFAULT_PART_RETRIES = 2
MAX_BATCHES = 1024  # Airflow's default [core] max_map_length
MAX_UPLOAD_SIZE = MAX_PARTS * MAX_PART_SIZE
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class PartSpec:
    """One planned part: its number and the byte range of the source it holds."""

    part_number: int
    offset: int
    size: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | PartSpec) -> PartSpec:
        if isinstance(data, PartSpec):
            return data
        try:
            return cls(int(data["part_number"]), int(data["offset"]), int(data["size"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"a part range must be a dict with part_number, offset and size, got {data!r}"
            ) from None


def _size_text(n: int) -> str:
    return f"{n:,} B ({n / MiB:,.1f} MiB)"


def choose_part_size(size: int, part_size: int | None = None) -> int:
    """The part size for a source of ``size`` bytes.

    Default: 8 MiB, grown (in whole MiB) until the upload fits in 10,000 parts. A part size given
    by the caller is validated (100 KiB to 5 GiB) and must fit the source in 10,000 parts.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"source size must be a whole number of bytes >= 0, got {size!r}")
    if size > MAX_UPLOAD_SIZE:
        raise ValueError(
            f"the source is {_size_text(size)}, larger than the biggest object a multipart "
            f"upload can build ({MAX_PARTS:,} parts of 5 GiB = {_size_text(MAX_UPLOAD_SIZE)})"
        )
    if part_size is None:
        needed = math.ceil(size / MAX_PARTS)
        return max(DEFAULT_PART_SIZE, math.ceil(needed / MiB) * MiB)
    validate_part_size(part_size)
    parts = max(1, math.ceil(size / part_size))
    if parts > MAX_PARTS:
        smallest = math.ceil(size / MAX_PARTS)
        raise ValueError(
            f"the source is {_size_text(size)}: with part_size {_size_text(part_size)} it needs "
            f"{parts:,} parts, but OSS allows at most {MAX_PARTS:,}. Use part_size >= "
            f"{smallest:,} B (for example {math.ceil(smallest / MiB)} MiB), or leave it unset"
        )
    return part_size


def plan_parts(size: int, part_size: int | None = None) -> list[PartSpec]:
    """Split ``size`` bytes into parts (an empty source is one empty part)."""
    part_size = choose_part_size(size, part_size)
    if size == 0:
        return [PartSpec(1, 0, 0)]
    return [
        PartSpec(n + 1, offset, min(part_size, size - offset))
        for n, offset in enumerate(range(0, size, part_size))
    ]


def plan_batches(
    size: int,
    part_size: int | None = None,
    *,
    batches: int | None = None,
    max_batches: int = MAX_BATCHES,
    fingerprint: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Split an upload into at most ``max_batches`` batches of consecutive part numbers.

    Each batch is a small JSON-able dict (``batch``, ``first_part``, ``last_part``, ``part_size``,
    ``total_size``, ``total_parts`` and, when given, the source ``fingerprint``) meant for
    ``.expand(batch=...)``: 10,000 parts fit Airflow's default ``max_map_length`` of 1024.
    """
    if not isinstance(max_batches, int) or max_batches < 1:
        raise ValueError(f"max_batches must be a whole number >= 1, got {max_batches!r}")
    if batches is not None and (
        isinstance(batches, bool) or not isinstance(batches, int) or batches < 1
    ):
        raise ValueError(f"batches must be a whole number >= 1, got {batches!r}")
    part_size = choose_part_size(size, part_size)
    total_parts = max(1, math.ceil(size / part_size))
    wanted = min(batches or max_batches, max_batches, total_parts)
    per_batch = math.ceil(total_parts / wanted)
    count = math.ceil(total_parts / per_batch)
    out = []
    for index in range(count):
        first = index * per_batch + 1
        batch: dict[str, Any] = {
            "batch": index,
            "first_part": first,
            "last_part": min(total_parts, first + per_batch - 1),
            "part_size": part_size,
            "total_size": size,
            "total_parts": total_parts,
        }
        if fingerprint:
            batch["fingerprint"] = fingerprint
        out.append(batch)
    return out


def batch_parts(first_part: int, last_part: int, part_size: int, total_size: int) -> list[PartSpec]:
    """The byte ranges of parts ``first_part..last_part`` of a ``total_size`` source."""
    if total_size > part_size:
        validate_part_size(part_size)
    total_parts = max(1, math.ceil(total_size / part_size))
    if not 1 <= first_part <= last_part <= total_parts:
        raise ValueError(
            f"part range {first_part}..{last_part} does not fit a source of "
            f"{_size_text(total_size)} in parts of {_size_text(part_size)} "
            f"({total_parts} parts); re-plan the upload"
        )
    return [
        PartSpec(n, (n - 1) * part_size, min(part_size, total_size - (n - 1) * part_size))
        for n in range(first_part, last_part + 1)
    ]


def _validate_concurrency(concurrency: int | None) -> int:
    if concurrency is None:
        return DEFAULT_CONCURRENCY
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
    return concurrency


# --------------------------------------------------------------------------- part runner


def _is_retryable(error: BaseException) -> bool:
    if isinstance(error, IntegrityError | OSSTransportError):
        return getattr(error, "retryable", True)
    if isinstance(error, OSSError):
        return error.retryable
    return False


class _PartRunner:
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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
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
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="oss-part") as pool:
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
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="oss-part") as pool:
            while self._reserve():
                try:
                    data = stream.read_next(part_size)
                except BaseException as error:  # noqa: BLE001 - recorded, re-raised by _finish
                    self._slots.release()
                    self._fail(error)
                    break
                if not data and number > first_part:
                    self._slots.release()
                    break
                if number > MAX_PARTS:
                    self._slots.release()
                    self._fail(
                        ValueError(
                            f"{stream.description} is longer than {MAX_PARTS:,} parts of "
                            f"{_size_text(part_size)}; pass a larger part_size (or the stream's "
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

    def _reserve(self) -> bool:
        while not self._slots.acquire(timeout=0.5):
            if self._failed.is_set():
                return False
        if self._failed.is_set():
            self._slots.release()
            return False
        return True

    def _submit(self, pool: ThreadPoolExecutor, fn: Callable[..., UploadedPart], *args: Any):
        future: Future[UploadedPart] = pool.submit(self._guard, fn, *args)
        future.add_done_callback(lambda _f: self._slots.release())

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
        return self._with_retries(spec, lambda s: self._send(s, self.source.read(s.offset, s.size)))

    def _buffered_part(self, spec: PartSpec, data: bytes) -> UploadedPart:
        return self._with_retries(spec, lambda s: self._send(s, data))

    def _with_retries(
        self, spec: PartSpec, attempt: Callable[[PartSpec], UploadedPart]
    ) -> UploadedPart:
        for tries in range(self.part_retries + 1):
            if self._failed.is_set():
                raise _Cancelled()
            try:
                return attempt(spec)
            except BaseException as error:
                if tries >= self.part_retries or not _is_retryable(error):
                    raise
                delay = random.uniform(0, min(10.0, 0.5 * 2**tries))
                log.warning(
                    "Part %d of %s failed (%s); re-reading it and retrying in %.1f s "
                    "(attempt %d of %d)",
                    spec.part_number,
                    self.key,
                    error,
                    delay,
                    tries + 2,
                    self.part_retries + 1,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, spec: PartSpec, data: bytes | bytearray | memoryview) -> UploadedPart:
        if len(data) != spec.size:
            raise SourceChangedError(
                f"{self.source.description}: part {spec.part_number} has {len(data)} bytes, "
                f"planned {spec.size}"
            )
        old = self.existing.get(spec.part_number)
        if (
            old is not None
            and old.size == spec.size
            and old.crc64 is not None
            and crc64(data) == old.crc64
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


# --------------------------------------------------------------------------- resume


def find_resumable_upload(client: OSSClient, bucket: str, key: str) -> UploadInfo | None:
    """The newest in-progress upload of exactly ``key`` in ``bucket``, or None."""
    newest: UploadInfo | None = None
    for upload in client.iter_multipart_uploads(bucket, prefix=key):
        if upload.key != key:
            if upload.key > key:
                break  # listings are sorted by key; every upload of ``key`` came first
            continue
        if newest is None or (upload.initiated or _EPOCH) >= (newest.initiated or _EPOCH):
            newest = upload
    return newest


def list_existing_parts(
    client: OSSClient, bucket: str, key: str, upload_id: str, first: int = 1, last: int = MAX_PARTS
) -> dict[int, PartInfo]:
    """Parts ``first..last`` already stored in an upload (one ListParts page per 1,000)."""
    found: dict[int, PartInfo] = {}
    for part in client.iter_parts(bucket, key, upload_id, part_number_marker=first - 1):
        if part.part_number > last:
            break
        found[part.part_number] = part
    return found


def _inferred_part_size(size: int, parts: dict[int, PartInfo]) -> int | None:
    """The part size an earlier run used, when it fits this source."""
    if not parts:
        return None
    candidate = max(p.size for p in parts.values())
    if candidate < MIN_PART_SIZE or candidate > MAX_PART_SIZE:
        return None
    if math.ceil(size / candidate) > MAX_PARTS:
        return None
    return candidate


# --------------------------------------------------------------------------- public entry points


def _progress_for(
    progress: TransferProgress | ProgressCallback | None, total: int | None, label: str
) -> TransferProgress:
    if isinstance(progress, TransferProgress):
        return progress
    return TransferProgress(total, label=label, callback=progress)


def _abort_quietly(client: OSSClient, bucket: str, key: str, upload_id: str, why: str) -> None:
    try:
        client.abort_multipart_upload(bucket, key, upload_id)
        log.info("Aborted upload %s of oss://%s/%s (%s)", upload_id, bucket, key, why)
    except Exception as error:  # noqa: BLE001 - never hide the real error behind a cleanup error
        log.warning(
            "Could not abort upload %s of oss://%s/%s after %s: %s; the cleanup operator or a "
            "lifecycle rule will remove it",
            upload_id,
            bucket,
            key,
            why,
            error,
        )


def upload(
    client: OSSClient,
    bucket: str,
    key: str,
    source: Any,
    *,
    part_size: int | None = None,
    concurrency: int | None = None,
    resume: bool = True,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
    progress: TransferProgress | ProgressCallback | None = None,
    expected_size: int | None = None,
    abort_on_failure: bool | None = None,
    part_retries: int = DEFAULT_PART_RETRIES,
    initiate_kwargs: dict[str, Any] | None = None,
    content_md5: bool = True,
) -> CompletedObject:
    """Upload ``source`` to ``oss://bucket/key`` as a parallel, verified multipart upload.

    :param source: a path, ``file://`` / fsspec URL, ``ObjectStoragePath``, ``oss://`` URL
        (copied server-side), bytes, a binary stream, or a :class:`Source`.
    :param part_size: bytes per part; default 8 MiB, grown to fit 10,000 parts.
    :param concurrency: parts in flight at once (default 8); memory <= concurrency x part_size.
    :param resume: continue the newest in-progress upload of the same key, keeping the parts whose
        size and CRC-64 match the source (streams always start a new upload).
    :param progress: a :class:`TransferProgress`, or a callback receiving a
        :class:`~oss_provider.client.progress.ProgressSnapshot` at most every 5 seconds.
    :param expected_size: for a stream, its size if known (chooses the part size).
    :param abort_on_failure: abort the upload when it fails; default ``not resume`` (a resumable
        upload keeps its parts so a retry can continue). A changed source always aborts.
    :param content_md5: send ``Content-MD5`` with each part, so OSS refuses a corrupted part
        before storing it (default). ``False`` saves about 1 s of CPU per GiB; every part's CRC-64
        and the whole object's are still checked, and a mismatched part is sent again.
    :returns: the completed object, with its ETag, size and CRC-64.
    """
    concurrency = _validate_concurrency(concurrency)
    src = open_source(source, client=client, size=expected_size)
    owned = src is not source
    if abort_on_failure is None:
        abort_on_failure = not resume
    try:
        return _upload(
            client,
            bucket,
            key,
            src,
            part_size=part_size,
            concurrency=concurrency,
            resume=resume and not src.is_stream,
            initiate_kwargs={
                "content_type": content_type,
                "metadata": metadata,
                **(initiate_kwargs or {}),
            },
            progress=progress,
            abort_on_failure=abort_on_failure,
            part_retries=part_retries,
            content_md5=content_md5,
        )
    finally:
        if owned:
            src.close()


def _upload(
    client: OSSClient,
    bucket: str,
    key: str,
    src: Source,
    *,
    part_size: int | None,
    concurrency: int,
    resume: bool,
    initiate_kwargs: dict[str, Any],
    progress: TransferProgress | ProgressCallback | None,
    abort_on_failure: bool,
    part_retries: int,
    content_md5: bool,
) -> CompletedObject:
    size = src.size
    upload_id: str | None = None
    existing: dict[int, PartInfo] = {}
    if resume and size is not None:
        found = find_resumable_upload(client, bucket, key)
        if found is not None:
            try:
                existing = list_existing_parts(client, bucket, key, found.upload_id)
                upload_id = found.upload_id
            except NoSuchUpload:
                existing = {}
    if size is None:
        chosen = part_size or DEFAULT_PART_SIZE
        validate_part_size(chosen)
    elif part_size is None and existing:
        chosen = _inferred_part_size(size, existing) or choose_part_size(size)
    else:
        chosen = choose_part_size(size, part_size)

    for attempt in (1, 2):
        resumed = upload_id is not None
        if upload_id is None:
            upload_id = client.initiate_multipart_upload(
                bucket, key, **{k: v for k, v in initiate_kwargs.items() if v is not None}
            )
            log.info(
                "Started upload %s of %s to oss://%s/%s (%s parts of %s, %d at a time)",
                upload_id,
                src.description,
                bucket,
                key,
                "?" if size is None else max(1, math.ceil(size / chosen)),
                _size_text(chosen),
                concurrency,
            )
        else:
            log.info(
                "Resuming upload %s of oss://%s/%s: %d parts already on the server; each is kept "
                "only if its size and CRC-64 match the source",
                upload_id,
                bucket,
                key,
                len(existing),
            )
        tracker = _progress_for(progress, size, f"oss://{bucket}/{key}")
        runner = _PartRunner(
            client,
            bucket,
            key,
            upload_id,
            src,
            concurrency=concurrency,
            existing=existing,
            progress=tracker,
            part_retries=part_retries,
            content_md5=content_md5,
        )
        try:
            if isinstance(src, StreamSource):
                parts = runner.run_stream(src, chosen)
            else:
                parts = runner.run(plan_parts(size or 0, chosen))
            src.check_unchanged()
            completed = _complete(client, bucket, key, upload_id, parts, src)
        except NoSuchUpload:
            if resumed and attempt == 1:
                log.warning(
                    "Upload %s of oss://%s/%s is gone (aborted or expired); starting over",
                    upload_id,
                    bucket,
                    key,
                )
                upload_id, existing = None, {}
                continue
            raise
        except SourceChangedError:
            _abort_quietly(client, bucket, key, upload_id, "the source changed")
            raise
        except BaseException as error:
            if abort_on_failure:
                _abort_quietly(client, bucket, key, upload_id, type(error).__name__)
            else:
                log.warning(
                    "Upload %s of oss://%s/%s failed; its parts stay on the server so a retry "
                    "resumes it (the cleanup operator removes it if nobody does)",
                    upload_id,
                    bucket,
                    key,
                )
            raise
        snap = tracker.finish()
        log.info(
            "Completed oss://%s/%s: %s in %d parts, CRC-64 %s verified, %.1f MB/s",
            bucket,
            key,
            _size_text(completed.size if completed.size is not None else snap.done),
            len(parts),
            completed.crc64,
            snap.rate / 1e6,
        )
        return completed
    raise AssertionError("unreachable")  # pragma: no cover


def _complete(
    client: OSSClient,
    bucket: str,
    key: str,
    upload_id: str,
    parts: Sequence[UploadedPart],
    src: Source,
) -> CompletedObject:
    completed = client.complete_multipart_upload(bucket, key, upload_id, parts)
    expected = _combined_crc(parts)
    if expected is not None and completed.crc64 is not None and completed.crc64 != expected:
        raise IntegrityError(
            f"oss://{bucket}/{key}: the stored object's CRC-64 {completed.crc64} differs from "
            f"the parts' combined CRC-64 {expected}"
        )
    source_crc = getattr(src, "crc64", None)
    if (
        src.server_side_copy
        and source_crc is not None
        and completed.crc64 is not None
        and source_crc != completed.crc64
    ):
        raise IntegrityError(
            f"oss://{bucket}/{key}: CRC-64 {completed.crc64} differs from the source "
            f"{src.description} ({source_crc})"
        )
    return completed


def _combined_crc(parts: Sequence[UploadedPart]) -> int | None:
    if any(p.crc64 is None for p in parts):
        return None
    return combine_part_crcs((p.crc64, p.size) for p in parts)  # type: ignore[misc]


def upload_part_batch(
    client: OSSClient,
    bucket: str,
    key: str,
    upload_id: str,
    source: Any,
    parts: Sequence[dict[str, Any] | PartSpec],
    *,
    concurrency: int | None = None,
    fingerprint: dict[str, Any] | None = None,
    progress: TransferProgress | ProgressCallback | None = None,
    part_retries: int = DEFAULT_PART_RETRIES,
    content_md5: bool = True,
) -> list[dict[str, Any]]:
    """Upload some parts of an existing upload (one mapped task's batch); return part dicts.

    ``parts`` are ``{"part_number", "offset", "size"}`` dicts. Parts already stored with the same
    size and CRC-64 (a retried or killed task) are kept, not sent again. ``fingerprint`` (from
    the plan) makes the batch fail if the source changed since the upload was planned.
    """
    concurrency = _validate_concurrency(concurrency)
    specs = sorted((PartSpec.from_dict(p) for p in parts), key=lambda s: s.part_number)
    if not specs:
        return []
    src = open_source(source, client=client)
    owned = src is not source
    try:
        if src.is_stream:
            raise ValueError(
                "a stream cannot be uploaded in batches (it can be read only once, in order); "
                "use the whole-upload operator or upload()"
            )
        if fingerprint:
            src.check_unchanged(fingerprint)
        end = max(s.offset + s.size for s in specs)
        if src.size is not None and end > src.size:
            raise SourceChangedError(
                f"{src.description} is {src.size} bytes but the plan reaches byte {end}; the "
                "source changed since the upload was planned"
            )
        existing: dict[int, PartInfo] = {}
        if not src.server_side_copy:
            existing = list_existing_parts(
                client, bucket, key, upload_id, specs[0].part_number, specs[-1].part_number
            )
        tracker = _progress_for(
            progress,
            sum(s.size for s in specs),
            f"oss://{bucket}/{key} parts {specs[0].part_number}-{specs[-1].part_number}",
        )
        runner = _PartRunner(
            client,
            bucket,
            key,
            upload_id,
            src,
            concurrency=concurrency,
            existing=existing,
            progress=tracker,
            part_retries=part_retries,
            content_md5=content_md5,
        )
        done = runner.run(specs)
        src.check_unchanged(fingerprint or None)
        tracker.finish()
        return [p.to_dict() for p in done]
    finally:
        if owned:
            src.close()


def source_fingerprint(source: Any, *, client: OSSClient | None = None) -> dict[str, Any]:
    """Size and version (mtime / ETag) of a source, to detect changes across tasks."""
    src = open_source(source, client=client)
    try:
        return src.fingerprint()
    finally:
        if src is not source:
            src.close()


def iter_batch_results(results: Any) -> Iterator[dict[str, Any]]:
    """Flatten what mapped upload tasks returned (a lazy list of lists of part dicts)."""
    for item in results or ():
        if item is None:
            continue
        if isinstance(item, dict | UploadedPart):
            yield item if isinstance(item, dict) else item.to_dict()
        else:
            for part in item:
                yield part if isinstance(part, dict) else UploadedPart.from_dict(part).to_dict()


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_PART_SIZE",
    "MAX_BATCHES",
    "PartSpec",
    "batch_parts",
    "choose_part_size",
    "find_resumable_upload",
    "iter_batch_results",
    "list_existing_parts",
    "plan_batches",
    "plan_parts",
    "source_fingerprint",
    "upload",
    "upload_part_batch",
]
