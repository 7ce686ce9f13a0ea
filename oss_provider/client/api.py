"""OSSClient: one method per OSS REST call used for multipart uploads (no Airflow import)."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Self
from urllib.parse import quote, urlencode

import requests

from oss_provider.client import xml as oss_xml
from oss_provider.client.bodies import RangeBody
from oss_provider.client.checksums import combine_part_crcs, crc64, md5_base64
from oss_provider.client.endpoint import parse_endpoint, region_from_host
from oss_provider.client.errors import (
    AmbiguousResultError,
    FileAlreadyExists,
    IntegrityError,
    MalformedResponseError,
    NoSuchKey,
    NoSuchUpload,
    OSSClientError,
    OSSError,
    OSSTransportError,
    UploadOwnershipError,
)
from oss_provider.client.http import Request, RetryPolicy, Transport, response_date
from oss_provider.client.limits import MAX_LIST_PAGE
from oss_provider.client.models import (
    CompletedObject,
    Credentials,
    ObjectInfo,
    PartInfo,
    PartsPage,
    UploadedPart,
    UploadInfo,
    UploadsPage,
)
from oss_provider.client.objects import iter_objects_pages
from oss_provider.client.signing import decode_header_value, normalize_params, presign_params
from oss_provider.client.validation import (
    validate_bucket_name,
    validate_key,
    validate_object_options,
    validate_part_number,
)

log = logging.getLogger(__name__)
DEFAULT_LOCAL_REGION = "cn-hangzhou"


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


def _crc_header(resp: requests.Response) -> int | None:
    value = resp.headers.get("x-oss-hash-crc64ecma")
    return int(value) if value and value.isdigit() else None


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


def _page_size(value: int) -> int:
    if not 1 <= int(value) <= MAX_LIST_PAGE:
        raise ValueError(f"page size {value} is out of range: OSS lists 1..1000 entries per page")
    return int(value)


def object_headers(
    *,
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
    storage_class: str | None = None,
    server_side_encryption: str | None = None,
    sse_kms_key_id: str | None = None,
    tagging: Mapping[str, str] | str | None = None,
    forbid_overwrite: bool | None = None,
    cache_control: str | None = None,
    content_disposition: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The request headers that make an object's type, metadata and options (Initiate and PUT
    alike), checked before any request."""
    validate_object_options(storage_class, server_side_encryption, sse_kms_key_id, tagging)
    hdrs = dict(headers or {})
    hdrs["Content-Type"] = content_type or "application/octet-stream"
    for name, value in (metadata or {}).items():
        hdrs[f"x-oss-meta-{name}"] = str(value)
    for header, value in (
        ("x-oss-storage-class", storage_class),
        ("x-oss-server-side-encryption", server_side_encryption),
        ("x-oss-server-side-encryption-key-id", sse_kms_key_id),
        ("Cache-Control", cache_control),
        ("Content-Disposition", content_disposition),
    ):
        if value:
            hdrs[header] = value
    if tagging:
        hdrs["x-oss-tagging"] = tagging if isinstance(tagging, str) else urlencode(tagging)
    if forbid_overwrite is not None:
        hdrs["x-oss-forbid-overwrite"] = "true" if forbid_overwrite else "false"
    return hdrs


class OSSClient:
    """A thread-safe OSS client: share one per process; it keeps one connection pool."""

    def __init__(
        self,
        endpoint: str,
        credentials: Credentials | Callable[[], Credentials],
        *,
        region: str | None = None,
        signature_version: str = "v4",
        addressing: str = "auto",
        verify: bool | str = True,
        connect_timeout: float = 10,
        read_timeout: float = 120,
        max_retries: int = 3,
        retry_budget: float = 300.0,
        retry_policy: RetryPolicy | None = None,
        pool_size: int = 32,
    ) -> None:
        """:param max_retries: sends after the first for a failed request (5xx, throttling,
        reset, timeout, an answer cut short); ``retry_policy`` overrides it and
        ``retry_budget``, the seconds after which no request is sent again."""
        parsed = parse_endpoint(endpoint, addressing)
        if signature_version not in ("v4", "v1"):
            raise ValueError(f"signature_version must be 'v4' or 'v1', got {signature_version!r}")
        region = region or region_from_host(parsed.host)
        if region is None and parsed.path_style:
            region = DEFAULT_LOCAL_REGION
        if signature_version == "v4" and not region:
            raise ValueError(
                f"cannot tell the region of endpoint {endpoint!r} for V4 signing; "
                "set region (e.g. 'cn-hangzhou')"
            )
        self._credentials_source = credentials
        self.transport = Transport(
            parsed,
            self._current_credentials,
            region=region,
            signature_version=signature_version,
            verify=verify,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            policy=retry_policy
            or RetryPolicy(
                max_sends=_whole(max_retries, "max_retries") + 1, budget_seconds=retry_budget
            ),
            pool_size=pool_size,
        )

    # -- plumbing ----------------------------------------------------------------------------
    def _current_credentials(self) -> Credentials:
        source = self._credentials_source
        creds = source() if callable(source) else source
        if not creds.access_key_id or not creds.access_key_secret:
            raise ValueError("OSS credentials need both an AccessKey ID and an AccessKey secret")
        return creds

    @property
    def endpoint(self) -> str:
        ep = self.transport.endpoint
        return f"{ep.scheme}://{ep.netloc}"

    @property
    def region(self) -> str | None:
        return self.transport.region

    @property
    def signature_version(self) -> str:
        return self.transport.signature_version

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OSSClient(endpoint={self.endpoint!r}, region={self.region!r})"

    def _send(self, operation: str, method: str, bucket: str | None, key: str | None = None, **kw):
        if bucket is not None:
            validate_bucket_name(bucket)
        if key is not None:
            validate_key(key)
        return self.transport.send(Request(operation, method, bucket, key, **kw))

    # -- multipart ---------------------------------------------------------------------------
    def initiate_multipart_upload(self, bucket: str, key: str, **options: Any) -> str:
        """Start an upload and return its upload id; ``options`` are those of
        :meth:`start_multipart_upload` (content type, metadata, storage class, ...)."""
        return self.start_multipart_upload(bucket, key, **options).upload_id

    def start_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        server_side_encryption: str | None = None,
        tagging: Mapping[str, str] | str | None = None,
        forbid_overwrite: bool | None = None,
        headers: Mapping[str, str] | None = None,
        sse_kms_key_id: str | None = None,
        cache_control: str | None = None,
        content_disposition: str | None = None,
    ) -> UploadInfo:
        """Initiate, returning the upload id with the server's time of the answer (``initiated``).

        The options become the object's: ``storage_class`` (Standard, IA, Archive, ColdArchive,
        DeepColdArchive), ``server_side_encryption`` (AES256, KMS, SM4; ``sse_kms_key_id`` with
        KMS), ``tagging``, ``cache_control``, ``content_disposition``; ``forbid_overwrite``
        refuses to replace an existing object (checked again at Complete).

        Initiate is not idempotent: it is sent again only when it provably never reached OSS;
        any other lost answer raises with ``maybe_applied`` (see ``transfer`` for recovery)."""
        hdrs = object_headers(
            content_type=content_type,
            metadata=metadata,
            storage_class=storage_class,
            server_side_encryption=server_side_encryption,
            sse_kms_key_id=sse_kms_key_id,
            tagging=tagging,
            forbid_overwrite=forbid_overwrite,
            cache_control=cache_control,
            content_disposition=content_disposition,
            headers=headers,
        )
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
        for page in self.iter_multipart_upload_pages(bucket, **kwargs):
            yield from page.uploads

    # -- objects -----------------------------------------------------------------------------
    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        resp = self._send("HeadObject", "HEAD", bucket, key)
        return self._object_info(bucket, key, resp)

    def _object_info(self, bucket: str, key: str, resp: requests.Response) -> ObjectInfo:
        h = resp.headers
        length = h.get("Content-Length")
        last_modified = response_date_header(h.get("Last-Modified"))
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=int(length) if length and length.isdigit() else None,
            etag=oss_xml.strip_etag(h.get("ETag")) or None,
            crc64=_crc_header(resp),
            content_type=h.get("Content-Type"),
            last_modified=last_modified,
            object_type=h.get("x-oss-object-type"),
            metadata={
                k[len("x-oss-meta-") :]: decode_header_value(v)  # UTF-8 on the wire
                for k, v in h.items()
                if k.lower().startswith("x-oss-meta-")
            },
            request_id=h.get("x-oss-request-id"),
        )

    def get_object(
        self, bucket: str, key: str, *, byte_range: tuple[int, int] | None = None
    ) -> bytes:
        headers = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        return self._send("GetObject", "GET", bucket, key, headers=headers).content

    def open_object(
        self, bucket: str, key: str, *, byte_range: tuple[int, int] | None = None
    ) -> requests.Response:
        """A streamed GET; the caller reads ``iter_content`` and closes the response."""
        headers = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        return self._send("GetObject", "GET", bucket, key, headers=headers, stream=True)

    def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> ObjectInfo:
        """One verified PUT (Content-MD5, then the server's CRC-64 compared); ``options`` are the
        object options of :meth:`start_multipart_upload` (storage class, encryption, tags ...)."""
        body = data if isinstance(data, bytes) else bytes(data)
        hdrs = object_headers(
            content_type=content_type, metadata=metadata, headers=headers, **options
        )
        hdrs["Content-MD5"] = md5_base64(body)
        local_crc = crc64(body)
        if hdrs.get("x-oss-forbid-overwrite") == "true":
            # not idempotent: a re-send after a lost answer would meet our own object and fail
            # with FileAlreadyExists; the outcome is settled by looking at the key instead
            with self.transport.one_deadline(self.transport.policy.deadline(len(body))):
                resp = self._put_once_settled(bucket, key, hdrs, body, local_crc)
            if isinstance(resp, ObjectInfo):
                return resp
        else:
            resp = self._send("PutObject", "PUT", bucket, key, headers=hdrs, body=body)
        server_crc = _crc_header(resp)
        if server_crc is not None and server_crc != local_crc:
            raise IntegrityError(f"{key!r}: OSS stored CRC-64 {server_crc}, sent {local_crc}")
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=len(body),
            etag=oss_xml.strip_etag(resp.headers.get("ETag")),
            crc64=local_crc,
            content_type=hdrs["Content-Type"],
            request_id=resp.headers.get("x-oss-request-id"),
        )

    def _put_once_settled(
        self, bucket: str, key: str, hdrs: dict[str, str], body: bytes, local_crc: int
    ) -> requests.Response | ObjectInfo:
        """A PUT that must not replace an object: sent again only when it provably did not
        land. After a lost answer the key is looked at: no object, send again; this body,
        written since our first send (MD5 ETag, size, CRC-64, Last-Modified), it is ours;
        anything else is another writer's object (FileAlreadyExists)."""
        first_sent = time.monotonic()
        md5_hex = hashlib.md5(body).hexdigest().upper()
        for _ in range(self.transport.policy.max_sends):
            try:
                return self._send(
                    "PutObject", "PUT", bucket, key, headers=hdrs, body=body, idempotent=False
                )
            except (OSSTransportError, MalformedResponseError) as lost:
                if isinstance(lost, OSSTransportError) and not lost.maybe_applied:
                    raise
                log.info("PUT of %r lost its answer (%s); looking at the key", key, lost)
                try:
                    head = self._send("HeadObject", "HEAD", bucket, key)
                except NoSuchKey:
                    continue  # it did not land: send it again
                info = self._object_info(bucket, key, head)
                now = response_date(head)
                since = None
                if now is not None:
                    since = now.timestamp() - (time.monotonic() - first_sent) - 2
                if (
                    (info.etag or "").upper() == md5_hex
                    and info.size == len(body)
                    and info.crc64 in (None, local_crc)
                    and (
                        since is None
                        or (info.last_modified and info.last_modified.timestamp() >= int(since))
                    )
                ):
                    log.info("PUT of %r lost its answer; the object at the key is this one", key)
                    return replace(info, crc64=local_crc, content_type=hdrs["Content-Type"])
                raise FileAlreadyExists(
                    409,
                    "FileAlreadyExists",
                    f"PUT of oss://{bucket}/{key} lost its answer and the key now holds another "
                    "object; forbid_overwrite is set, so nothing of ours replaced it",
                    operation="PutObject",
                ) from lost
        raise AmbiguousResultError(
            f"PUT of oss://{bucket}/{key} lost its answer {self.transport.policy.max_sends} times "
            "and the key is still empty"
        )

    def delete_object(self, bucket: str, key: str) -> None:
        self._send("DeleteObject", "DELETE", bucket, key)

    def list_objects(
        self, bucket: str, *, prefix: str | None = None, max_keys: int = 1000
    ) -> list[dict]:
        """Every object under ``prefix`` (ListObjectsV2, all pages), as dicts with ``key``,
        ``size``, ``etag`` and ``last_modified``."""
        pages = iter_objects_pages(self, bucket, prefix=prefix or "", max_keys=_page_size(max_keys))
        return [entry for page in pages for entry in page.objects]

    # -- buckets -----------------------------------------------------------------------------
    def put_bucket(self, bucket: str) -> None:
        self._send("PutBucket", "PUT", bucket)

    def delete_bucket(self, bucket: str) -> None:
        self._send("DeleteBucket", "DELETE", bucket)

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self.list_multipart_uploads(bucket, max_uploads=1)
        except OSSError as exc:
            if exc.code == "NoSuchBucket":
                return False
            raise
        return True

    def get_bucket_lifecycle(self, bucket: str) -> list[dict]:
        try:
            resp = self._send("GetBucketLifecycle", "GET", bucket, params=[("lifecycle", None)])
        except OSSError as exc:
            if exc.code == "NoSuchLifecycle":
                return []
            raise
        return oss_xml.parse_lifecycle(resp.content)

    def put_bucket_lifecycle(self, bucket: str, rules: list[dict]) -> None:
        body = oss_xml.lifecycle_body(rules)
        self._send(
            "PutBucketLifecycle",
            "PUT",
            bucket,
            params=[("lifecycle", None)],
            headers={"Content-MD5": md5_base64(body)},
            body=body,
        )

    def presign_url(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        expires: int = 3600,
        params: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """A URL anyone can use until it expires (V4: at most 7 days)."""
        import time

        from oss_provider.client.signing import canonical_query

        validate_bucket_name(bucket)
        validate_key(key)
        query = presign_params(
            method.upper(),
            bucket,
            key,
            normalize_params(params),
            self._current_credentials(),
            version=self.signature_version,
            region=self.region,
            when=time.time(),
            expires=expires,
            headers=headers,
        )
        return self.transport.endpoint.url(bucket, key, canonical_query(query))


def response_date_header(value: str | None):
    from email.utils import parsedate_to_datetime

    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
