"""The multipart calls: Initiate, UploadPart, UploadPartCopy, Abort, ListParts and
ListMultipartUploads, each one request (Complete and its recovery are in :mod:`.completion`)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from oss_provider.client import xml as oss_xml
from oss_provider.client.base import ClientBase, _crc_header, _page_size
from oss_provider.client.bodies import RangeBody
from oss_provider.client.checksums import crc64, md5_base64
from oss_provider.client.errors import IntegrityError, NoSuchUpload, OSSClientError
from oss_provider.client.http import response_date
from oss_provider.client.models import PartInfo, PartsPage, UploadedPart, UploadInfo, UploadsPage
from oss_provider.client.options import ObjectOptions
from oss_provider.client.validation import (
    validate_bucket_name,
    validate_key,
    validate_part_number,
)


class MultipartCalls(ClientBase):
    """One method per multipart REST call (Complete aside)."""

    def initiate_multipart_upload(self, bucket: str, key: str, **options: Any) -> str:
        """Deprecated alias: ``start_multipart_upload(bucket, key, **options).upload_id``."""
        warnings.warn(
            "OSSClient.initiate_multipart_upload is deprecated; use "
            "start_multipart_upload(...).upload_id (it also gives the server's time of the start)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.start_multipart_upload(bucket, key, **options).upload_id

    def start_multipart_upload(
        self,
        bucket: str,
        key: str,
        options: ObjectOptions | None = None,
        **option_kwargs: Any,
    ) -> UploadInfo:
        """Initiate, returning the upload id with the server's time of the answer (``initiated``).

        ``options`` (an :class:`~oss_provider.client.options.ObjectOptions`, or the same as
        keywords) become the object's: ``content_type``, ``metadata``, ``storage_class``
        (Standard, IA, Archive, ColdArchive, DeepColdArchive), ``server_side_encryption`` (AES256, KMS, SM4; ``sse_kms_key_id`` with
        KMS), ``tagging``, ``cache_control``, ``content_disposition``; ``forbid_overwrite``
        refuses to replace an existing object (checked again at Complete).

        Initiate is not idempotent: it is sent again only when it provably never reached OSS;
        any other lost answer raises with ``maybe_applied`` (see ``transfer`` for recovery)."""
        hdrs = ObjectOptions.of(options, **option_kwargs).request_headers()
        resp = self._send(
            "InitiateMultipartUpload",
            "POST",
            bucket,
            key,
            params=[("uploads", None)],
            headers=hdrs,
            idempotent=False,
            parse=lambda r: oss_xml.parse_initiate(r.content),
        )
        return UploadInfo(key=key, upload_id=resp.parsed, initiated=response_date(resp))

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        data: bytes | bytearray | memoryview | RangeBody,
        *,
        content_md5: bool = True,
    ) -> UploadedPart:
        """Store one part (replacing any part with that number); verified by MD5 and CRC-64.
        A :class:`~oss_provider.client.bodies.RangeBody` is read from its file when hashed and
        again when sent, so no part-sized buffer is held."""
        validate_part_number(part_number)
        body: bytes | RangeBody
        if isinstance(data, RangeBody):
            body = data
            local_crc = data.digests(content_md5)[1]
            headers = {"Content-MD5": data.content_md5()} if content_md5 else {}
        else:
            body = data if isinstance(data, bytes) else bytes(data)
            headers = {"Content-MD5": md5_base64(body)} if content_md5 else {}
            local_crc = crc64(body)
        resp = self._send(
            "UploadPart",
            "PUT",
            bucket,
            key,
            params=[("partNumber", str(part_number)), ("uploadId", upload_id)],
            headers=headers,
            body=body,
        )
        server_crc = _crc_header(resp)
        if server_crc is not None and server_crc != local_crc:
            raise IntegrityError(
                f"part {part_number} of {key!r}: OSS stored CRC-64 {server_crc}, the sent bytes "
                f"have {local_crc}; the part was corrupted in transit, upload it again"
            )
        etag = oss_xml.strip_etag(resp.headers.get("ETag"))
        return UploadedPart(part_number, etag, len(body), local_crc)

    def upload_part_copy(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source_bucket: str,
        source_key: str,
        *,
        byte_range: tuple[int, int] | None = None,
        source_version_id: str | None = None,
    ) -> UploadedPart:
        """Copy a byte range of an existing object into a part, server-side (no bytes through us)."""
        validate_part_number(part_number)
        validate_bucket_name(source_bucket)
        validate_key(source_key)
        source = f"/{source_bucket}/{quote(source_key, safe='')}"
        if source_version_id:
            source += f"?versionId={source_version_id}"
        headers = {"x-oss-copy-source": source}
        if byte_range is not None:
            first, last = byte_range
            if first < 0 or last < first:
                raise ValueError(
                    f"byte_range {byte_range} must be (first, last) with 0 <= first <= last"
                )
            headers["x-oss-copy-source-range"] = f"bytes={first}-{last}"
        resp = self._send(
            "UploadPartCopy",
            "PUT",
            bucket,
            key,
            params=[("partNumber", str(part_number)), ("uploadId", upload_id)],
            headers=headers,
            parse=lambda r: oss_xml.parse_copy_part(r.content),
        )
        etag = resp.parsed
        if byte_range is not None:
            size = byte_range[1] - byte_range[0] + 1
        else:
            size = int(resp.headers.get("x-oss-copy-source-size") or 0) or self._size_of(
                source_bucket, source_key
            )
        return UploadedPart(part_number, etag, size, _crc_header(resp))

    def _size_of(self, bucket: str, key: str) -> int:
        return self.head_object(bucket, key).size or 0

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> bool:
        """Abort; True if this call aborted it, False if it was already gone."""
        try:
            self._send(
                "AbortMultipartUpload", "DELETE", bucket, key, params=[("uploadId", upload_id)]
            )
        except NoSuchUpload:
            return False
        return True

    def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        max_parts: int = 1000,
        part_number_marker: int = 0,
    ) -> PartsPage:
        """One ListParts page: up to ``max_parts`` (1..1000) parts after ``part_number_marker``;
        NoSuchUpload once the upload is completed or aborted."""
        params = [("uploadId", upload_id), ("max-parts", str(_page_size(max_parts)))]
        if part_number_marker:
            params.append(("part-number-marker", str(int(part_number_marker))))
        resp = self._send(
            "ListParts",
            "GET",
            bucket,
            key,
            params=params,
            parse=lambda r: oss_xml.parse_list_parts(r.content, bucket, key, upload_id),
        )
        return resp.parsed

    def iter_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        page_size: int = 1000,
        part_number_marker: int = 0,
    ) -> Iterator[PartInfo]:
        """Every part of the upload, page by page; OSSClientError when the server's marker does
        not advance (rather than looping forever)."""
        marker = part_number_marker
        while True:
            page = self.list_parts(
                bucket, key, upload_id, max_parts=page_size, part_number_marker=marker
            )
            yield from page.parts
            if not page.is_truncated:
                return
            if page.next_part_number_marker <= marker:
                raise OSSClientError(
                    f"ListParts of {key!r} returned a marker that does not advance "
                    f"({page.next_part_number_marker}); stopping to avoid an endless loop"
                )
            marker = page.next_part_number_marker

    def list_multipart_uploads(
        self,
        bucket: str,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        key_marker: str | None = None,
        upload_id_marker: str | None = None,
        max_uploads: int = 1000,
    ) -> UploadsPage:
        """One ListMultipartUploads page (keys travel URL-encoded and come back decoded);
        ``server_date`` is the answer's Date, to judge upload age by the server's clock."""
        params: list[tuple[str, str | None]] = [
            ("uploads", None),
            ("encoding-type", "url"),
            ("max-uploads", str(_page_size(max_uploads))),
        ]
        for name, value in (
            ("prefix", prefix),
            ("delimiter", delimiter),
            ("key-marker", key_marker),
            ("upload-id-marker", upload_id_marker),
        ):
            if value:
                params.append((name, value))
        resp = self._send(
            "ListMultipartUploads",
            "GET",
            bucket,
            params=params,
            parse=lambda r: oss_xml.parse_list_uploads(r.content, bucket, response_date(r)),
        )
        return resp.parsed

    def iter_multipart_upload_pages(
        self,
        bucket: str,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        key_marker: str | None = None,
        upload_id_marker: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[UploadsPage]:
        """Every page, following key-marker + upload-id-marker; stops if they fail to advance."""
        marker = (key_marker or "", upload_id_marker or "")
        while True:
            page = self.list_multipart_uploads(
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=marker[0] or None,
                upload_id_marker=marker[1] or None,
                max_uploads=page_size,
            )
            yield page
            if not page.is_truncated:
                return
            nxt = (page.next_key_marker, page.next_upload_id_marker)
            if nxt <= marker or not nxt[0]:
                raise OSSClientError(
                    f"ListMultipartUploads of bucket {bucket!r} returned markers that do not "
                    f"advance ({nxt!r} after {marker!r}); stopping to avoid an endless loop"
                )
            marker = nxt

    def iter_multipart_uploads(self, bucket: str, **kwargs: Any) -> Iterator[UploadInfo]:
        """Every in-progress upload across all pages; ``kwargs`` as
        :meth:`iter_multipart_upload_pages`."""
        for page in self.iter_multipart_upload_pages(bucket, **kwargs):
            yield from page.uploads
