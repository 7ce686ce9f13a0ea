"""Who owns an in-progress upload, told by the server itself, so a writer resumes only its own.

Design: right after Initiate, the writer stores two tiny records as parts of the upload itself:
part 10,000 names the *owner* (a SHA-256 of the writer's identity) and part 9,999 the *options*
the upload was started with (owner and a SHA-256 of content type, metadata, storage class,
encryption, tagging, headers). OSS returns each part's ETag, the MD5 of its bytes, in ListParts,
so one ListParts page tells whose upload it is and with which options, without reading anything
back. Complete never lists parts 9,999 and 10,000 (the engine plans at most 9,998 data parts),
so OSS discards the records with the upload.

A writer resumes only an upload whose both records are its own. An upload with its owner record
but other options (an earlier try asked for ``text/csv``, this one for ``application/json``) is
its own stale upload: it is aborted and a new one started, so the new options hold and nothing
is left behind (ListMultipartUploads does not show an upload's headers; the record does).

Why on the server: a retry may run in another process or on another Celery worker, after a
SIGKILL, with no disk shared; ListParts answers the same to all of them. Cost: two tiny PUTs per
upload and, when resuming, one ListParts page per in-progress upload of the key.

Identity: an Airflow task passes ``dag_id/run_id/task_id/map_index`` (the same for every try of
one task instance, different for another DAG run); the Python API takes ``owner=`` or derives one
from the source's identity (description and fingerprint: path, size, mtime / ETag).

A lost Initiate answer (the request may have created an upload whose id we never saw, perhaps
applied by the server after the client gave up) is recovered here too. Initiate is sent again at
once and the new upload claimed; then, :data:`LATE_INITIATE_GRACE` seconds after the lost attempt
ended, every upload of the key that the server stamped within that attempt (from its send to
:data:`LATE_INITIATE_APPLY` seconds after the client gave up, by the server's clock) and that
still holds no part at all is taken for the lost Initiate's and aborted. This engine and the
mapped Initiate operator claim their uploads within one request, so their fresh uploads are never
taken for it; another tool's upload is at risk only when it was initiated inside that window and
stored no part for at least 5 s after it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from oss_provider.client.errors import (
    AmbiguousResultError,
    MalformedResponseError,
    NoSuchUpload,
    OSSTransportError,
)
from oss_provider.client.limits import MAX_PARTS, MIN_PART_SIZE
from oss_provider.client.models import UploadInfo
from oss_provider.client.options import ObjectOptions

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

log = logging.getLogger(__name__)

OWNER_PART_NUMBER = MAX_PARTS
OPTIONS_PART_NUMBER = MAX_PARTS - 1
RECORD_PART_NUMBERS = (OPTIONS_PART_NUMBER, OWNER_PART_NUMBER)
_RECORD_PREFIX = b"oss-provider upload record v1 "
_CLAIM_ATTEMPTS = 3
_WINDOW_MARGIN = timedelta(seconds=1)  # the server stamps Initiated in whole seconds
# A lost Initiate may be applied (and stamped) by the server up to LATE_INITIATE_APPLY seconds after
# the client gave up; its unclaimed upload is looked for LATE_INITIATE_GRACE seconds after that, so
# any upload stamped in the window had at least the difference to store its first part.
LATE_INITIATE_APPLY = 5.0
LATE_INITIATE_GRACE = 10.0


@dataclass(frozen=True)
class Writer:
    """A writer as its records name it: ``owner`` and ``options`` are SHA-256 hex digests."""

    owner: str
    options: str

    @classmethod
    def of(cls, owner: str, options: ObjectOptions | Mapping[str, Any]) -> Writer:
        """The writer ``owner`` (any stable string) uploading with ``options``."""
        return cls(_sha256(owner), ObjectOptions.of(options).digest())

    def records(self) -> dict[int, bytes]:
        """Part number -> bytes of the two records."""
        return {
            OWNER_PART_NUMBER: _RECORD_PREFIX + b"owner " + self.owner.encode(),
            OPTIONS_PART_NUMBER: _RECORD_PREFIX
            + b"options "
            + f"{self.owner} {self.options}".encode(),
        }

    def etags(self) -> dict[int, str]:
        """Part number -> the ETag (upper-case MD5) OSS lists for each record, so ListParts
        tells the owner without reading the parts back."""
        return {n: hashlib.md5(body).hexdigest().upper() for n, body in self.records().items()}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _uploads_of(client: OSSClient, bucket: str, key: str) -> Iterator[UploadInfo]:
    for upload in client.iter_multipart_uploads(bucket, prefix=key):
        if upload.key == key:
            yield upload
        elif upload.key > key:
            return  # listings are sorted by key; every upload of ``key`` came first


def records_of(client: OSSClient, bucket: str, key: str, upload_id: str) -> dict[int, str] | None:
    """The ETags of an upload's records (part number -> ETag), or None when it is gone."""
    try:
        page = client.list_parts(
            bucket, key, upload_id, max_parts=2, part_number_marker=OPTIONS_PART_NUMBER - 1
        )
    except NoSuchUpload:
        return None
    return {
        p.part_number: (p.etag or "").upper()
        for p in page.parts
        if p.part_number in RECORD_PART_NUMBERS
    }


def find_own_upload(
    client: OSSClient, bucket: str, key: str, writer: Writer
) -> tuple[UploadInfo | None, list[UploadInfo]]:
    """``(resumable, stale)``: the newest in-progress upload of ``key`` whose records are both
    ``writer``'s, and the writer's own uploads started with other options (or one record)."""
    wanted = writer.etags()
    mine: list[UploadInfo] = []
    stale: list[UploadInfo] = []
    for upload in _uploads_of(client, bucket, key):
        found = records_of(client, bucket, key, upload.upload_id)
        if not found or found.get(OWNER_PART_NUMBER) != wanted[OWNER_PART_NUMBER]:
            continue  # another writer's, or unclaimed
        (mine if found == wanted else stale).append(upload)
    if not mine:
        return None, stale
    mine.sort(key=lambda u: (u.initiated is not None, u.initiated))
    return mine[-1], stale + mine[:-1]


def take_own_upload(client: OSSClient, bucket: str, key: str, writer: Writer) -> UploadInfo | None:
    """:func:`find_own_upload`, aborting the writer's own uploads started with other options:
    the upload to resume, or None."""
    found, stale = find_own_upload(client, bucket, key, writer)
    for old in stale:
        abort_quietly(
            client, bucket, key, old.upload_id,
            "this writer's earlier upload, started with other options",
        )  # fmt: skip
    return found


def claim(client: OSSClient, bucket: str, key: str, upload_id: str, writer: Writer) -> None:
    """Store the records of a fresh upload: the owner first, so an upload killed between the
    two is recognised as this writer's (and replaced) rather than left unowned."""
    records = writer.records()
    for number in (OWNER_PART_NUMBER, OPTIONS_PART_NUMBER):
        client.upload_part(bucket, key, upload_id, number, records[number])


def start_owned_upload(
    client: OSSClient,
    bucket: str,
    key: str,
    writer: Writer,
    options: ObjectOptions,
) -> UploadInfo:
    """Initiate and claim an upload. A lost Initiate answer leaves nothing behind: the unclaimed
    upload it may have created is found and aborted, then Initiate is sent again. All of it,
    re-sends and checks included, runs under one request deadline."""
    transport = client.transport
    lost: list[tuple[float, float]] = []  # (sent, gave up), monotonic, per lost attempt
    try:
        with transport.one_deadline(transport.policy.deadline()):
            info = _start_owned_upload(client, bucket, key, writer, options, lost)
    except BaseException:
        if lost:  # failing: look once now rather than hold the error back for the grace
            _abort_lost_initiates(client, bucket, key, lost, wait=False)
        raise
    if lost:
        _abort_lost_initiates(client, bucket, key, lost)
    return info


def _start_owned_upload(
    client: OSSClient,
    bucket: str,
    key: str,
    writer: Writer,
    options: ObjectOptions,
    lost_attempts: list[tuple[float, float]],
) -> UploadInfo:
    for _ in range(_CLAIM_ATTEMPTS):
        sent_at = time.monotonic()
        try:
            info = client.start_multipart_upload(bucket, key, options)
        except (OSSTransportError, MalformedResponseError) as lost:
            if isinstance(lost, OSSTransportError) and not lost.maybe_applied:
                raise
            lost_attempts.append((sent_at, time.monotonic()))
            log.info(
                "Initiate of oss://%s/%s lost its answer (%s); starting another, and its upload "
                "(if the server made one) is aborted once found",
                bucket,
                key,
                lost,
            )
            continue
        try:
            claim(client, bucket, key, info.upload_id, writer)
        except NoSuchUpload:
            log.info(
                "Upload %s of oss://%s/%s vanished before it was claimed; starting another",
                info.upload_id,
                bucket,
                key,
            )
            continue
        except BaseException:
            abort_quietly(client, bucket, key, info.upload_id, "its owner records were not stored")
            raise
        return info
    raise AmbiguousResultError(
        f"could not start an upload of oss://{bucket}/{key}: Initiate lost its answer (or the "
        f"fresh upload vanished) {_CLAIM_ATTEMPTS} times; check the network path to OSS"
    )


def open_owned_upload(
    client: OSSClient,
    bucket: str,
    key: str,
    writer: Writer,
    options: ObjectOptions,
) -> UploadInfo:
    """This writer's upload of ``key``: the newest one its records name (another try of the same
    task already started it), else a fresh, claimed one (:func:`start_owned_upload`). Its own
    uploads started with other options are aborted, as the engine does."""
    found = take_own_upload(client, bucket, key, writer)
    if found is not None:
        log.info("Reusing this writer's upload %s of oss://%s/%s", found.upload_id, bucket, key)
        return found
    return start_owned_upload(client, bucket, key, writer, options)


def data_part_numbers(sizes: Mapping[int, int]) -> list[int]:
    """The data parts among an upload's listed parts (part number -> size), without its owner
    records: record numbers past a gap after the data, or a part 9,999 followed by 10,000 and
    smaller than any part but the last may be (so not data)."""
    numbers = sorted(sizes)
    contiguous = 0
    while contiguous + 1 in sizes and contiguous + 1 not in RECORD_PART_NUMBERS:
        contiguous += 1
    records = {n for n in RECORD_PART_NUMBERS if n in sizes and n > contiguous + 1}
    if OWNER_PART_NUMBER in sizes and sizes.get(OPTIONS_PART_NUMBER, MIN_PART_SIZE) < MIN_PART_SIZE:
        records |= set(RECORD_PART_NUMBERS) & set(sizes)
    return [n for n in numbers if n not in records]


def _abort_lost_initiates(
    client: OSSClient,
    bucket: str,
    key: str,
    attempts: list[tuple[float, float]],
    *,
    wait: bool = True,
) -> None:
    """Wait out the grace after the last lost attempt (unless ``wait`` is False: the caller is
    failing anyway), then abort what those attempts made. Never raises: the caller's own outcome
    stands (a failure here is logged)."""
    left = max(end for _, end in attempts) + LATE_INITIATE_GRACE - time.monotonic()
    if wait and left > 0:
        time.sleep(left)
    try:
        abort_unclaimed(client, bucket, key, attempts)
    except Exception as error:  # noqa: BLE001 - our upload's outcome must not be hidden
        log.warning(
            "Could not look for the upload of a lost Initiate of oss://%s/%s: %s; the cleanup "
            "operator or a lifecycle rule will remove it if it exists",
            bucket,
            key,
            error,
        )


def abort_unclaimed(
    client: OSSClient, bucket: str, key: str, attempts: list[tuple[float, float]]
) -> int:
    """Abort the uploads of ``key`` that the server stamped within one of ``attempts``
    (``(sent, gave up)`` in ``time.monotonic()``, mapped to the server's clock by the listing's
    Date; a late apply up to :data:`LATE_INITIATE_APPLY` after it included) and that hold no
    part at all: what a lost Initiate made. Returns how many."""
    aborted = 0
    for page in client.iter_multipart_upload_pages(bucket, prefix=key):
        now = page.server_date
        if now is None:
            continue
        seen_at = time.monotonic()
        windows = [  # the attempts on the server's clock
            (
                now - timedelta(seconds=seen_at - sent),
                now - timedelta(seconds=seen_at - end - LATE_INITIATE_APPLY),
            )
            for sent, end in attempts
        ]
        for upload in page.uploads:
            if upload.key != key or upload.initiated is None:
                continue
            if not any(
                start - _WINDOW_MARGIN <= upload.initiated <= end + _WINDOW_MARGIN
                for start, end in windows
            ):
                continue
            try:
                has_parts = bool(
                    client.list_parts(bucket, key, upload.upload_id, max_parts=1).parts
                )
            except NoSuchUpload:
                continue
            if not has_parts:
                aborted += client.abort_multipart_upload(bucket, key, upload.upload_id)
                log.info(
                    "Aborted unclaimed upload %s of oss://%s/%s", upload.upload_id, bucket, key
                )
    return aborted


def abort_quietly(client: OSSClient, bucket: str, key: str, upload_id: str, why: str) -> None:
    """Abort after a failure without hiding it: a failed abort is logged, not raised."""
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
