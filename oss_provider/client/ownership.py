"""Who owns an in-progress upload, told by the server itself, so a writer resumes only its own.

Design: right after Initiate, the writer stores a tiny *owner record* as part 10,000 of the upload.
Its bytes name an owner token, so its ETag (the MD5 OSS returns in ListParts) identifies the
owner without reading anything back. Complete never lists part 10,000 (the engine plans at most
9,999 data parts), so OSS discards the record with the upload. The token is a SHA-256 of the
writer's identity and every option that shapes the object (content type, metadata, storage
class, encryption, tagging, headers): a retry with other options starts a new upload instead of
silently inheriting the old ones, which ListMultipartUploads could not show.

Why on the server: a retry may run in another process or on another Celery worker, after a
SIGKILL, with no disk shared; ListParts answers the same to all of them. Cost: one tiny PUT per
upload and, when resuming, one ListParts page per in-progress upload of the key.

Identity: an Airflow task passes ``dag_id/run_id/task_id/map_index`` (the same for every try of
one task instance, different for another DAG run); the Python API takes ``owner=`` or derives one
from the source's identity (description and fingerprint: path, size, mtime / ETag).

A lost Initiate answer (the request may have created an upload whose id we never saw) is
recovered here too: an upload of the key that was initiated during our attempt and still has no
part at all is unclaimed (every writer claims its upload within one request), so it is aborted
before Initiate is sent again. A writer whose fresh upload is aborted that way notices at its
claim (NoSuchUpload) and initiates again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from oss_provider.client.errors import (
    AmbiguousResultError,
    MalformedResponseError,
    NoSuchUpload,
    OSSTransportError,
)
from oss_provider.client.limits import MAX_PARTS
from oss_provider.client.models import UploadInfo

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

log = logging.getLogger(__name__)

OWNER_PART_NUMBER = MAX_PARTS
_RECORD_PREFIX = b"oss-provider owner record v1 "
_CLAIM_ATTEMPTS = 3
_WINDOW_MARGIN = timedelta(seconds=5)


def owner_token(owner: str, options: Mapping[str, Any]) -> str:
    """The token of a writer: its identity and the options that shape the object."""
    shaped = {k: v for k, v in options.items() if v is not None and v != {}}
    payload = json.dumps({"owner": owner, "options": shaped}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def owner_record(token: str) -> bytes:
    """The bytes of part 10,000 for ``token``."""
    return _RECORD_PREFIX + token.encode("ascii")


def owner_etag(token: str) -> str:
    return hashlib.md5(owner_record(token)).hexdigest().upper()


def _uploads_of(client: OSSClient, bucket: str, key: str) -> Iterator[UploadInfo]:
    for upload in client.iter_multipart_uploads(bucket, prefix=key):
        if upload.key == key:
            yield upload
        elif upload.key > key:
            return  # listings are sorted by key; every upload of ``key`` came first


def record_of(client: OSSClient, bucket: str, key: str, upload_id: str) -> str | None:
    """The ETag of an upload's owner record, or None when it has none (or is gone)."""
    try:
        page = client.list_parts(
            bucket, key, upload_id, max_parts=1, part_number_marker=OWNER_PART_NUMBER - 1
        )
    except NoSuchUpload:
        return None
    for part in page.parts:
        if part.part_number == OWNER_PART_NUMBER:
            return (part.etag or "").upper()
    return None


def find_own_upload(client: OSSClient, bucket: str, key: str, token: str) -> UploadInfo | None:
    """The newest in-progress upload of ``key`` whose owner record is ``token``'s."""
    wanted = owner_etag(token)
    mine = [
        u
        for u in _uploads_of(client, bucket, key)
        if record_of(client, bucket, key, u.upload_id) == wanted
    ]
    if not mine:
        return None
    return max(mine, key=lambda u: (u.initiated is not None, u.initiated))


def claim(client: OSSClient, bucket: str, key: str, upload_id: str, token: str) -> None:
    """Store the owner record (part 10,000) of a fresh upload."""
    client.upload_part(bucket, key, upload_id, OWNER_PART_NUMBER, owner_record(token))


def start_owned_upload(
    client: OSSClient,
    bucket: str,
    key: str,
    token: str,
    initiate_kwargs: Mapping[str, Any],
) -> UploadInfo:
    """Initiate and claim an upload. A lost Initiate answer leaves nothing behind: the unclaimed
    upload it may have created is found and aborted, then Initiate is sent again."""
    kwargs = {k: v for k, v in initiate_kwargs.items() if v is not None}
    for _ in range(_CLAIM_ATTEMPTS):
        sent_at = time.monotonic()
        try:
            info = client.start_multipart_upload(bucket, key, **kwargs)
        except (OSSTransportError, MalformedResponseError) as lost:
            if isinstance(lost, OSSTransportError) and not lost.maybe_applied:
                raise
            log.info(
                "Initiate of oss://%s/%s lost its answer (%s); looking for it", bucket, key, lost
            )
            abort_unclaimed(client, bucket, key, time.monotonic() - sent_at)
            continue
        try:
            claim(client, bucket, key, info.upload_id, token)
        except NoSuchUpload:
            log.info(
                "Upload %s of oss://%s/%s vanished before it was claimed; starting another",
                info.upload_id,
                bucket,
                key,
            )
            continue
        except BaseException:
            _abort_quietly(client, bucket, key, info.upload_id)
            raise
        return info
    raise AmbiguousResultError(
        f"could not start an upload of oss://{bucket}/{key}: Initiate lost its answer (or the "
        f"fresh upload vanished) {_CLAIM_ATTEMPTS} times; check the network path to OSS"
    )


def abort_unclaimed(client: OSSClient, bucket: str, key: str, seconds_ago: float) -> int:
    """Abort the uploads of ``key`` initiated within the last ``seconds_ago`` (plus a margin,
    by the server's clock) that hold no part at all: a lost Initiate's, or a writer's that will
    initiate again. Returns how many were aborted."""
    aborted = 0
    for page in client.iter_multipart_upload_pages(bucket, prefix=key):
        now = page.server_date
        for upload in page.uploads:
            if upload.key != key or upload.initiated is None or now is None:
                continue
            if upload.initiated < now - timedelta(seconds=seconds_ago) - _WINDOW_MARGIN:
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


def _abort_quietly(client: OSSClient, bucket: str, key: str, upload_id: str) -> None:
    try:
        client.abort_multipart_upload(bucket, key, upload_id)
    except Exception as error:  # noqa: BLE001 - never hide the real error behind a cleanup error
        log.info("Could not abort upload %s of oss://%s/%s: %s", upload_id, bucket, key, error)
