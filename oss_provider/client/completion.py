"""CompleteMultipartUpload, and how a Complete whose answer was lost is settled.

Complete is not idempotent, so a lost answer is never simply re-sent: while the upload exists,
Complete is sent again; once it is gone, success is reported only when the object at the key is
provably this upload's (multipart ETag of these parts, size, CRC-64, written after the upload
started). The same proof serves a retried Complete task (:meth:`CompleteCalls.find_completed`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from oss_provider.client import xml as oss_xml
from oss_provider.client.base import ClientBase, _crc_header
from oss_provider.client.checksums import combine_part_crcs
from oss_provider.client.errors import (
    AmbiguousResultError,
    IntegrityError,
    MalformedResponseError,
    NoSuchKey,
    NoSuchUpload,
    OSSTransportError,
    UploadOwnershipError,
)
from oss_provider.client.http import Request
from oss_provider.client.models import CompletedObject, UploadedPart
from oss_provider.client.validation import validate_bucket_name, validate_key, validate_part_number

log = logging.getLogger(__name__)


def _ordered_parts(
    parts: Iterable[UploadedPart | Mapping[str, Any]],
) -> tuple[list[UploadedPart], int | None]:
    """The parts of a Complete by number (the last one listed of a number wins), and the CRC-64
    the object made of them has (None when a part's CRC-64 is unknown)."""
    by_number: dict[int, UploadedPart] = {}
    for part in parts:
        item = UploadedPart.from_dict(part)  # type: ignore[arg-type]
        by_number[item.part_number] = item
    ordered = [by_number[n] for n in sorted(by_number)]
    expected_crc = None
    if ordered and all(p.crc64 is not None for p in ordered):
        expected_crc = combine_part_crcs((p.crc64, p.size) for p in ordered)  # type: ignore[misc]
    return ordered, expected_crc


class CompleteCalls(ClientBase):
    """Complete, with the recovery of a lost answer (uses ``list_parts`` and ``head_object``
    of the other call groups through ``self``)."""

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Iterable[UploadedPart | Mapping[str, Any]] = (),
        *,
        complete_all: bool = False,
        forbid_overwrite: bool | None = None,
        headers: Mapping[str, str] | None = None,
        initiated: datetime | None = None,
    ) -> CompletedObject:
        """Stitch the parts into the object.

        When the answer is lost: if the upload still exists, Complete is sent again; if it is
        gone, success is reported only when the object at the key is provably this upload's
        (multipart ETag of these parts, size, CRC-64, and not older than ``initiated``, the
        upload's start by the server's clock); otherwise :class:`UploadOwnershipError`."""
        ordered, expected_crc = _ordered_parts(parts)
        for part in ordered:
            validate_part_number(part.part_number)
        if not ordered and not complete_all:
            raise ValueError("Complete needs at least one part (or complete_all=True)")
        hdrs = dict(headers or {})
        if forbid_overwrite is not None:
            hdrs["x-oss-forbid-overwrite"] = "true" if forbid_overwrite else "false"
        body = None
        if complete_all:
            hdrs["x-oss-complete-all"] = "yes"
        else:
            body = oss_xml.complete_body(ordered)
            hdrs["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        request = Request(
            "CompleteMultipartUpload",
            "POST",
            bucket,
            key,
            params=[("uploadId", upload_id)],
            headers=hdrs,
            body=body,
            idempotent=False,
            parse=lambda r: oss_xml.parse_complete(r.content),
        )
        validate_bucket_name(bucket)
        validate_key(key)
        sends = self.transport.policy.max_sends
        deadline = self.transport.policy.deadline(len(body or b""))
        with self.transport.one_deadline(deadline):
            return self._complete_until_known(
                request, bucket, key, upload_id, ordered, expected_crc, initiated, sends
            )

    def _complete_until_known(
        self, request, bucket, key, upload_id, ordered, expected_crc, initiated, sends
    ) -> CompletedObject:
        """Send Complete; after a lost answer, look at the upload and the object until the
        outcome is known (all under the caller's one deadline)."""
        lost: Exception | None = None
        not_ours = (
            f"Complete of upload {upload_id} of oss://{bucket}/{key} lost its answer and the "
            "upload no longer exists, but the object at the key is not this upload's (another "
            "writer completed the key, or the upload was aborted). Upload again."
        )
        for _ in range(sends):
            try:
                resp = self.transport.send(request)
            except NoSuchUpload as gone:
                # applied by an earlier send (ours, or a killed process's) or aborted by someone
                confirmed = self._confirm_complete(bucket, key, ordered, expected_crc, initiated)
                if confirmed is not None:
                    return confirmed
                if lost is None:
                    raise
                raise UploadOwnershipError(not_ours) from gone
            except (OSSTransportError, MalformedResponseError) as exc:
                if isinstance(exc, OSSTransportError) and not exc.maybe_applied:
                    raise
                lost = exc
                log.info("Complete of %r lost its answer (%s); checking the upload", key, exc)
                if self.upload_exists(bucket, key, upload_id):
                    continue  # not applied yet: send Complete again
                confirmed = self._confirm_complete(bucket, key, ordered, expected_crc, initiated)
                if confirmed is not None:
                    return confirmed
                raise UploadOwnershipError(not_ours) from exc
            else:
                return self._completed(bucket, key, resp, ordered, expected_crc)
        raise AmbiguousResultError(
            f"Complete of upload {upload_id} of oss://{bucket}/{key} lost its answer {sends} "
            f"times while the upload still exists; last error: {lost}"
        )

    def find_completed(
        self,
        bucket: str,
        key: str,
        parts: Iterable[UploadedPart | Mapping[str, Any]],
        *,
        initiated: datetime | None = None,
    ) -> CompletedObject | None:
        """The object at the key if it is provably the Complete of ``parts`` (multipart ETag of
        these parts and their count, size, CRC-64, not older than ``initiated``), else None: the
        proof a Complete whose answer was lost, or a retried Complete task, relies on."""
        ordered, expected_crc = _ordered_parts(parts)
        return self._confirm_complete(bucket, key, ordered, expected_crc, initiated)

    def upload_exists(self, bucket: str, key: str, upload_id: str) -> bool:
        """Whether the upload is still in progress (one ListParts of one part)."""
        try:
            self.list_parts(bucket, key, upload_id, max_parts=1)
        except NoSuchUpload:
            return False
        return True

    def _completed(self, bucket, key, resp, ordered, expected_crc) -> CompletedObject:
        fields = resp.parsed
        server_crc = _crc_header(resp)
        if expected_crc is not None and server_crc is not None and server_crc != expected_crc:
            raise IntegrityError(
                f"{key!r}: OSS reports CRC-64 {server_crc} for the completed object, the parts "
                f"combine to {expected_crc}; the object does not hold the uploaded bytes"
            )
        return CompletedObject(
            bucket=bucket,
            key=key,
            etag=oss_xml.strip_etag(fields.get("ETag") or resp.headers.get("ETag")),
            size=sum(p.size for p in ordered) if ordered else None,
            crc64=server_crc if server_crc is not None else expected_crc,
            version_id=resp.headers.get("x-oss-version-id"),
            request_id=resp.headers.get("x-oss-request-id"),
        )

    def _confirm_complete(
        self, bucket, key, ordered, expected_crc, initiated=None
    ) -> CompletedObject | None:
        """After a lost answer, with the upload gone: is the object at the key exactly this
        upload's? Its ETag must be the multipart ETag of these parts (MD5 of their MD5s, "-N"),
        its size and CRC-64 those of the parts, and it must be newer than the upload's start."""
        if not ordered:
            return None
        try:
            info = self.head_object(bucket, key)
        except NoSuchKey:
            return None
        digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in ordered)).hexdigest()
        if (info.etag or "").upper() != f"{digest.upper()}-{len(ordered)}":
            return None
        if info.size != sum(p.size for p in ordered):
            return None
        if expected_crc is not None and info.crc64 is not None and info.crc64 != expected_crc:
            return None
        written = info.last_modified
        if (
            initiated is not None
            and written is not None
            and written.timestamp() < int(initiated.timestamp())
        ):
            return None  # an identical object written before this upload started
        log.info("Complete of %r lost its answer; the object is this upload's", key)
        return CompletedObject(
            bucket=bucket,
            key=key,
            etag=info.etag or "",
            size=info.size,
            crc64=info.crc64,
            request_id=info.request_id,
            confirmed_by_head=True,
        )
