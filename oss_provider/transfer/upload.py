"""The parallel multipart transfer engine: one verified, resumable upload of one source.

Kept apart from :mod:`oss_provider.client.api` (one method per REST call, no threads): this module
receives a client and a source and decides which parts go where. Planning is in
:mod:`~oss_provider.transfer.plan`, the thread pool in :mod:`~oss_provider.transfer.runner`, and who
may resume an upload in :mod:`~oss_provider.transfer.ownership`.

Guarantees (each tried on purpose by the tests):

* Every byte or nothing: each part carries ``Content-MD5`` and its CRC-64 is compared with the
  server's; Complete compares the combined CRC-64 of all parts with the object's.
* A writer resumes only its own upload, with the same options (its owner record, part 10,000);
  two writers of one key are independent, and the last Complete wins, as in OSS.
* A resumed upload keeps a stored part only when its size and CRC-64 match the source's bytes for
  that range, so nothing stale is stitched in; a worker killed with SIGKILL loses only the parts
  in flight.
* A lost Complete answer is settled by the server: Complete again while the upload exists, else
  success only if the object is provably this upload's. A lost Initiate answer leaves no upload.
* A rerun whose earlier run's Complete was applied (killed while OSS applied it) sends nothing:
  before a fresh upload, one HEAD and one read of the source show that the key already holds
  exactly the object this upload would write (:meth:`_Upload._already_written`).
* Two runs of one writer at once (a zombie try beside its retry) share one upload; the one whose
  Complete meets parts the other replaced with other bytes stops with a retryable
  :class:`~oss_provider.client.errors.OverlappingTryError`, completing and aborting nothing.
* Failure: a stream's upload (never resumable) is always aborted; a resumable upload keeps its
  parts for the retry unless ``abort_on_failure``; a changed source always aborts.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oss_provider.client.bodies import RangeBody
from oss_provider.client.checksums import combine_part_crcs
from oss_provider.client.errors import (
    FileAlreadyExists,
    IntegrityError,
    InvalidPart,
    NoSuchKey,
    NoSuchUpload,
    OSSClientError,
    OverlappingTryError,
    SourceChangedError,
    UploadOwnershipError,
)
from oss_provider.client.limits import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE
from oss_provider.client.models import CompletedObject, ObjectInfo, PartInfo, UploadedPart
from oss_provider.client.options import DEFAULT_CONTENT_TYPE, ObjectOptions
from oss_provider.client.validation import (
    validate_bucket_name,
    validate_key,
    validate_part_size,
)
from oss_provider.transfer.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_PART_SIZE,
    MiB,
    TransferConfig,
    split_settings,
)
from oss_provider.transfer.ownership import (
    OWNER_PART_NUMBER,
    RECORD_PART_NUMBERS,
    Writer,
    abort_quietly,
    find_own_upload,
    start_owned_upload,
    take_own_upload,
)
from oss_provider.transfer.plan import (
    MAX_BATCHES,
    MAX_DATA_PARTS,
    MAX_UPLOAD_SIZE,
    PartSpec,
    batch_parts,
    choose_part_size,
    plan_batches,
    plan_parts,
    single_put_threshold,
)
from oss_provider.transfer.progress import ProgressCallback, TransferProgress
from oss_provider.transfer.runner import PartRunner
from oss_provider.transfer.single_put import put_whole, read_head
from oss_provider.transfer.sources import Source, StreamSource, open_source
from oss_provider.units import format_bytes

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

log = logging.getLogger(__name__)


def list_existing_parts(
    client: OSSClient,
    bucket: str,
    key: str,
    upload_id: str,
    first: int = 1,
    last: int = MAX_DATA_PARTS,
) -> dict[int, PartInfo]:
    """Parts ``first..last`` already stored in an upload (one ListParts page per 1,000). The
    default ``last`` leaves out a whole upload's records (parts 9,999 and 10,000); a mapped
    upload, which has none, may ask for them."""
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
    if math.ceil(size / candidate) > MAX_DATA_PARTS:
        return None
    return candidate


def _progress_for(
    progress: TransferProgress | ProgressCallback | None, total: int | None, label: str
) -> TransferProgress:
    if isinstance(progress, TransferProgress):
        return progress
    return TransferProgress(total, label=label, callback=progress)


def default_owner(src: Source) -> str:
    """The identity of a writer that named none: its source (description and fingerprint, so
    another file or a changed one is another writer). A stream is never resumed: a random one."""
    if src.is_stream:
        return f"stream:{uuid.uuid4()}"
    return f"source:{src.description}:{sorted(src.fingerprint().items())}"


def upload(
    client: OSSClient,
    bucket: str,
    key: str,
    source: Any,
    config: TransferConfig | None = None,
    options: ObjectOptions | None = None,
    *,
    owner: str | None = None,
    progress: TransferProgress | ProgressCallback | None = None,
    expected_size: int | None = None,
    limiter: threading.Semaphore | None = None,
    **settings: Any,
) -> CompletedObject:
    """Upload ``source`` to ``oss://bucket/key``: one verified PUT below the multipart
    threshold, else a parallel, verified, resumable multipart upload.

    :param source: a path, ``file://`` / fsspec URL, ``ObjectStoragePath``, ``oss://`` URL
        (copied server-side), bytes, a binary stream, or a :class:`Source`.
    :param config: how to transfer (:class:`~oss_provider.transfer.config.TransferConfig`: part
        size, threshold, concurrency, part retries, Content-MD5, resume, abort on failure).
    :param options: what object to make (:class:`~oss_provider.client.options.ObjectOptions`:
        content type, metadata, storage class, encryption, tags, forbid overwrite, ...).
    :param owner: who is writing, the same string on every retry (an Airflow task passes
        ``dag_id/run_id/task_id/map_index``); default: the source's identity (path, size, mtime).
        A writer resumes only its own upload, started with the same options.
    :param progress: a :class:`TransferProgress`, or a callback receiving a
        :class:`~oss_provider.transfer.progress.ProgressSnapshot` at most every 5 seconds.
    :param expected_size: for a stream, its size if known (chooses the part size).
    :param limiter: a semaphore shared with other transfers (the many-files engine): each part
        in flight also holds one of its slots, so many uploads together keep one bound on
        requests and part buffers.
    :param settings: the same settings and options as loose keywords (``part_size=``,
        ``content_type=``, ``initiate_kwargs=`` ...), as this function took them before the two
        objects; merged over ``config`` and ``options``.
    :returns: the completed object, with its ETag, size and CRC-64.
    """
    validate_bucket_name(bucket)
    validate_key(key)
    config, options = split_settings(settings, config, options)
    if owner is not None and (not isinstance(owner, str) or not owner.strip()):
        raise ValueError(f"owner must be a non-empty string, got {owner!r}")
    src = open_source(source, client=client, size=expected_size)
    owned = src is not source
    try:
        if src.server_side_copy:  # a copy keeps the source's type and metadata unless overridden
            options = ObjectOptions.of(
                content_type=getattr(src, "content_type", None),
                metadata=getattr(src, "metadata", None) or None,
            ).merged(**options.to_dict())
        small = _small_object(src, config)
        if small is not None:
            data, src_for_parts = small
            if data is not None or src_for_parts is None:
                tracker = _progress_for(progress, src.size, "upload")
                return put_whole(client, bucket, key, src, options, tracker, data)
            src = src_for_parts
        if src.is_stream:  # a stream cannot be read again: never resumed, always aborted
            config = replace(config, resume=False, abort_on_failure=True)
        elif config.abort_on_failure is None:
            config = replace(config, abort_on_failure=not config.resume)
        writer = Writer.of(owner or default_owner(src), options)
        return _Upload(client, bucket, key, src, config, options, writer, progress, limiter).run()
    finally:
        if owned:
            src.close()


def _small_object(src: Source, config: TransferConfig) -> tuple[bytes | None, Source | None] | None:
    """None: multipart. ``(None, None)``: one PUT of a sized source. ``(bytes, None)``: one PUT
    of a short stream, already read. ``(None, stream)``: multipart of a stream whose first
    bytes were read (and are served again)."""
    if src.server_side_copy:
        return None
    threshold = single_put_threshold(config)
    if threshold == 0:
        return None
    if not src.is_stream:
        return (None, None) if src.size is not None and src.size < threshold else None
    if src.size is not None and src.size >= threshold:
        return None
    head, rest = read_head(src, threshold)
    return (head, None) if head is not None else (None, rest)


class _Upload:
    """One run of :func:`upload`: find or start this writer's upload, send parts, complete."""

    def __init__(
        self,
        client: OSSClient,
        bucket: str,
        key: str,
        src: Source,
        config: TransferConfig,
        options: ObjectOptions,
        writer: Writer,
        progress: TransferProgress | ProgressCallback | None,
        limiter: threading.Semaphore | None,
    ) -> None:
        self.client, self.bucket, self.key, self.src = client, bucket, key, src
        self.config, self.options, self.writer = config, options, writer
        self.progress, self.limiter = progress, limiter
        self.where = f"oss://{bucket}/{key}"

    def run(self) -> CompletedObject:
        upload_id, initiated, existing = self._find_own()
        chosen = self._part_size(existing)
        restarted = False
        while True:
            if upload_id is None:
                written = self._already_written(chosen)
                if written is not None:
                    return written
                info = start_owned_upload(
                    self.client, self.bucket, self.key, self.writer, self.options
                )
                upload_id, initiated, existing = info.upload_id, info.initiated, {}
                self._log_start(upload_id, chosen)
            try:
                return self._send_and_complete(upload_id, initiated, existing, chosen)
            except (NoSuchUpload, UploadOwnershipError) as gone:
                # our upload vanished (aborted by a sweep or a lifecycle rule): one fresh start
                if restarted or self.src.is_stream:
                    raise UploadOwnershipError(
                        f"upload {upload_id} of {self.where} vanished while it was being "
                        f"written ({gone}); something aborts uploads of this key (a cleanup "
                        "sweep with too short older_than, or a lifecycle rule). Retry the upload."
                    ) from gone
                log.info("Upload %s of %s is gone (%s); starting over", upload_id, self.where, gone)
                restarted, upload_id = True, None

    def _find_own(self) -> tuple[str | None, datetime | None, dict[int, PartInfo]]:
        if not self.config.resume or self.src.size is None:
            return None, None, {}
        found = take_own_upload(self.client, self.bucket, self.key, self.writer)
        if found is None:
            return None, None, {}
        try:
            existing = list_existing_parts(self.client, self.bucket, self.key, found.upload_id)
        except NoSuchUpload:
            return None, None, {}
        log.info(
            "Resuming this writer's upload %s of %s: %d parts already on the server; each is "
            "kept only if its size and CRC-64 match the source",
            found.upload_id,
            self.where,
            len(existing),
        )
        return found.upload_id, found.initiated, existing

    def _already_written(self, chosen: int) -> CompletedObject | None:
        """The object at the key, when it is exactly what this upload would write: the same
        bytes in the same part layout with the same options, so re-uploading would produce an
        identical object (typically this writer's earlier run, killed while OSS applied its
        Complete). It cannot tell who wrote it: an identical object written by anyone counts.

        One HEAD; the source is read once (no request to OSS) only when the object's size, part
        count ("-N" of its multipart ETag), content type and metadata already fit. Skipped for
        streams, server-side copies, ``resume=False`` and options a HEAD does not show (storage
        class, encryption, tags, headers, ``forbid_overwrite``)."""
        src = self.src
        if not self.config.resume or src.server_side_copy or src.size is None:
            return None
        if not _visible_in_head(self.options):
            return None
        try:
            info = self.client.head_object(self.bucket, self.key)
        except NoSuchKey:
            return None
        except OSSClientError as error:  # e.g. a role allowed to write but not to read
            log.info("Could not look at %s before uploading (%s); uploading", self.where, error)
            return None
        specs = plan_parts(src.size, chosen, max_parts=MAX_DATA_PARTS)
        etag = (info.etag or "").upper()
        if (
            info.size != src.size
            or info.crc64 is None
            or not etag.endswith(f"-{len(specs)}")
            or not _same_options(info, self.options)
        ):
            return None
        expected_etag, expected_crc = _multipart_digest(src, specs)
        if etag != expected_etag or info.crc64 != expected_crc:
            return None
        src.check_unchanged()
        log.info(
            "%s already holds this upload's object (multipart ETag %s of %d parts of %s, %s, "
            "CRC-64 %s, the same content type and metadata): already written by this writer's "
            "earlier run; nothing sent",
            self.where,
            info.etag,
            len(specs),
            format_bytes(chosen),
            format_bytes(src.size),
            info.crc64,
        )
        return CompletedObject(
            bucket=self.bucket,
            key=self.key,
            etag=info.etag or "",
            size=info.size,
            crc64=info.crc64,
            request_id=info.request_id,
            already_written=True,
        )

    def _part_size(self, existing: dict[int, PartInfo]) -> int:
        size = self.src.size
        if size is None:
            chosen = self.config.part_size or DEFAULT_PART_SIZE
            validate_part_size(chosen)
            return chosen
        if self.config.part_size is None and existing and not self.src.server_side_copy:
            inferred = _inferred_part_size(size, existing)
            if inferred and self._layout_fits(inferred, existing):
                return inferred
        return choose_part_size(size, self.config.part_size, max_parts=MAX_DATA_PARTS)

    def _layout_fits(self, part_size: int, existing: dict[int, PartInfo]) -> bool:
        """Whether the earlier run used ``part_size``: its first stored part holds the source's
        bytes for that part number in that layout (size and CRC-64; one part read). A run that
        stored only its short last part, say, would otherwise set the part size to that part's,
        and a try beside it (or its rerun) would split the source differently from its own."""
        first = existing[min(existing)]
        offset = (first.part_number - 1) * part_size
        length = min(part_size, (self.src.size or 0) - offset)
        if length <= 0 or first.size != length or first.crc64 is None:
            return False
        return RangeBody(self.src, offset, length).digests(False)[1] == first.crc64

    def _log_start(self, upload_id: str, chosen: int) -> None:
        size = self.src.size
        log.info(
            "Started upload %s of %s to %s (%s parts of %s, %d at a time)",
            upload_id,
            self.src.description,
            self.where,
            "?" if size is None else max(1, math.ceil(size / chosen)),
            format_bytes(chosen),
            self.config.concurrency,
        )

    def _send_and_complete(
        self,
        upload_id: str,
        initiated: datetime | None,
        existing: dict[int, PartInfo],
        chosen: int,
    ) -> CompletedObject:
        src = self.src
        tracker = _progress_for(self.progress, src.size, "upload")
        runner = PartRunner(
            self.client,
            self.bucket,
            self.key,
            upload_id,
            src,
            concurrency=self.config.concurrency,
            existing=existing,
            progress=tracker,
            part_retries=self.config.part_retries,
            content_md5=self.config.content_md5,
            max_parts=MAX_DATA_PARTS,
            limiter=self.limiter,
        )
        try:
            if isinstance(src, StreamSource):
                parts = runner.run_stream(src, chosen)
            else:
                parts = runner.run(plan_parts(src.size or 0, chosen, max_parts=MAX_DATA_PARTS))
            src.check_unchanged()
            completed = self._complete_own(upload_id, parts, initiated)
        except (NoSuchUpload, UploadOwnershipError, OverlappingTryError):
            raise  # the upload is gone, or another try of this writer is using it: leave it
        except FileAlreadyExists:
            abort_quietly(self.client, self.bucket, self.key, upload_id, "the object exists")
            raise FileAlreadyExists.refused(self.where) from None
        except SourceChangedError:
            abort_quietly(self.client, self.bucket, self.key, upload_id, "the source changed")
            raise
        except BaseException as error:
            if self.config.abort_on_failure:
                abort_quietly(self.client, self.bucket, self.key, upload_id, type(error).__name__)
            else:
                log.info(
                    "Upload %s of %s failed; its parts stay on the server so a retry of this "
                    "writer resumes it (the cleanup operator removes it if nobody does)",
                    upload_id,
                    self.where,
                )
            raise
        snap = tracker.finish()
        log.info(
            "Completed %s: %s in %d parts, CRC-64 %s verified, %.1f MiB/s",
            self.where,
            format_bytes(completed.size if completed.size is not None else snap.done),
            len(parts),
            completed.crc64,
            snap.rate / (1024 * 1024),
        )
        return completed

    def _complete_own(
        self, upload_id: str, parts: list[UploadedPart], initiated: datetime | None
    ) -> CompletedObject:
        """Complete; when OSS refuses it with InvalidPart, another run of this writer (another
        try of the same task) has replaced parts of this upload. Parts that still hold this
        source's bytes (size and CRC-64) are completed as the server lists them; otherwise this
        try stops with a retryable :class:`OverlappingTryError`, completing and aborting nothing."""

        def complete(chosen: Sequence[UploadedPart]) -> CompletedObject:
            return _complete(
                self.client, self.bucket, self.key, upload_id, chosen, self.src, initiated,
                forbid_overwrite=self.options.forbid_overwrite,
            )  # fmt: skip

        try:
            return complete(parts)
        except InvalidPart as refused:
            if not self.config.resume:  # nobody else can find this upload: not an overlap
                raise
            current = self._parts_now(upload_id, parts, initiated, refused)
        if isinstance(current, CompletedObject):
            return current
        log.info(
            "Complete of upload %s of %s was refused (InvalidPart): another try of this writer "
            "sent some parts again; each still holds this source's bytes (size and CRC-64), so "
            "completing with the server's parts",
            upload_id,
            self.where,
        )
        try:
            return complete(current)
        except InvalidPart as again:
            raise self._overlap(upload_id, "its parts changed again while it completed") from again

    def _parts_now(
        self,
        upload_id: str,
        parts: list[UploadedPart],
        initiated: datetime | None,
        refused: InvalidPart,
    ) -> list[UploadedPart] | CompletedObject:
        """After InvalidPart: the server's parts when each still holds this try's bytes, the
        object when the other try completed exactly these bytes, else OverlappingTryError."""
        try:
            stored = list_existing_parts(self.client, self.bucket, self.key, upload_id)
        except NoSuchUpload:
            done = self.client.find_completed(self.bucket, self.key, parts, initiated=initiated)
            if done is not None:
                return done
            raise self._overlap(
                upload_id,
                "the other try completed or aborted it meanwhile, and the object at the key is "
                "not this try's",
            ) from refused
        differ = [p.part_number for p in parts if not _same_part(stored.get(p.part_number), p)]
        if differ:
            raise self._overlap(
                upload_id,
                f"{_numbers(differ)} of it now hold other bytes than this try's source "
                "(another size or CRC-64)",
            ) from refused
        return [stored[p.part_number].to_uploaded_part() for p in parts]

    def _overlap(self, upload_id: str, what: str) -> OverlappingTryError:
        message = (
            f"another try of this task is writing upload {upload_id} of {self.where} at the "
            "same time (a zombie beside its retry, or two runs with the same owner): "
            f"{what}, so OSS refused this try's Complete (InvalidPart). Nothing was completed "
            "or aborted; this try stops; the next one resumes the upload, keeping the parts "
            "that match its source"
        )
        log.warning("%s", message)
        return OverlappingTryError(message)


def _same_part(stored: PartInfo | None, part: UploadedPart) -> bool:
    """Whether the server's part holds this try's bytes for that part number."""
    return (
        stored is not None
        and stored.size == part.size
        and stored.crc64 is not None
        and stored.crc64 == part.crc64
    )


def _numbers(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    more = f" and {len(numbers) - 10:,} more" if len(numbers) > 10 else ""
    return f"part{'s' if len(numbers) > 1 else ''} {shown}{more}"


# Options a HEAD shows through ObjectInfo; any other option (storage class, encryption, tags,
# headers, forbid_overwrite) makes the engine always write anew rather than guess.
_HEAD_OPTIONS = frozenset({"content_type", "metadata"})


def _visible_in_head(options: ObjectOptions) -> bool:
    return all(
        name in _HEAD_OPTIONS or value is False or value == ""
        for name, value in options.to_dict().items()
    )


def _same_options(info: ObjectInfo, options: ObjectOptions) -> bool:
    """Whether the object has the content type and user metadata this upload asks for."""
    wanted_type = options.content_type or DEFAULT_CONTENT_TYPE
    wanted_meta = {str(k).lower(): str(v) for k, v in (options.metadata or {}).items()}
    have_meta = {str(k).lower(): v for k, v in (info.metadata or {}).items()}
    return info.content_type == wanted_type and have_meta == wanted_meta


def _multipart_digest(src: Source, specs: Sequence[PartSpec]) -> tuple[str, int]:
    """The multipart ETag (MD5 of the parts' binary MD5s, ``-N``) and CRC-64 that a Complete of
    these parts of ``src`` gives, reading the source once, a chunk at a time."""
    digests = [RangeBody(src, spec.offset, spec.size).digests(True) for spec in specs]
    etag = hashlib.md5(b"".join(md5 or b"" for md5, _ in digests)).hexdigest().upper()
    crc = combine_part_crcs((part_crc, spec.size) for (_, part_crc), spec in zip(digests, specs))
    return f"{etag}-{len(specs)}", crc


def _complete(
    client: OSSClient,
    bucket: str,
    key: str,
    upload_id: str,
    parts: Sequence[UploadedPart],
    src: Source,
    initiated: datetime | None = None,
    *,
    forbid_overwrite: bool | None = None,
) -> CompletedObject:
    completed = client.complete_multipart_upload(
        bucket, key, upload_id, parts, initiated=initiated, forbid_overwrite=forbid_overwrite
    )
    # the client already compared the object's CRC-64 with the parts' combined one
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


def upload_part_batch(
    client: OSSClient,
    bucket: str,
    key: str,
    upload_id: str,
    source: Any,
    parts: Sequence[dict[str, Any] | PartSpec],
    config: TransferConfig | None = None,
    *,
    fingerprint: dict[str, Any] | None = None,
    progress: TransferProgress | ProgressCallback | None = None,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Upload some parts of an existing upload (one mapped task's batch); return part dicts.

    ``parts`` are ``{"part_number", "offset", "size"}`` dicts. Parts already stored with the same
    size and CRC-64 (a retried or killed task) are kept, not sent again. ``fingerprint`` (from
    the plan) makes the batch fail if the source changed since the upload was planned.
    ``config`` gives the concurrency, part retries and Content-MD5 (the plan fixed the part
    size); ``settings`` the same as keywords.
    """
    config = TransferConfig.build(config, **settings)
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
        label = f"parts {specs[0].part_number}-{specs[-1].part_number}"
        total = sum(s.size for s in specs)
        log.info(
            "Uploading %s of oss://%s/%s (upload %s) from %s: %d parts, %s, %d at a time",
            label, bucket, key, upload_id, src.description, len(specs), format_bytes(total),
            config.concurrency,
        )  # fmt: skip
        tracker = _progress_for(progress, total, label)
        runner = PartRunner(
            client,
            bucket,
            key,
            upload_id,
            src,
            concurrency=config.concurrency,
            existing=existing,
            progress=tracker,
            part_retries=config.part_retries,
            content_md5=config.content_md5,
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
    """Flatten what mapped upload tasks returned (a lazy list of lists of part dicts).

    Reads exactly ``len(results)`` items: iterating Airflow's lazy mapped-XCom list to its end
    asks for one item past it, which logs an ERROR "XCom not found"."""
    if results is None:
        return
    items = (results[i] for i in range(len(results))) if hasattr(results, "__len__") else results
    for item in items:
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
    "MAX_DATA_PARTS",
    "MAX_PARTS",
    "MAX_UPLOAD_SIZE",
    "OWNER_PART_NUMBER",
    "RECORD_PART_NUMBERS",
    "MiB",
    "PartSpec",
    "batch_parts",
    "choose_part_size",
    "find_own_upload",
    "iter_batch_results",
    "list_existing_parts",
    "open_source",
    "plan_batches",
    "plan_parts",
    "source_fingerprint",
    "upload",
    "upload_part_batch",
]
