"""The object calls: Head, Get, Put (verified; settled after a lost answer when it must not
overwrite), Delete, ListObjectsV2 pages with ``delimiter`` (folders as CommonPrefixes),
DeleteMultipleObjects (1,000 keys a request) and CopyObject; and :func:`object_headers`, the
one place an object's options become request headers."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

import requests

from oss_provider.client import xml as oss_xml
from oss_provider.client.base import ClientBase, _crc_header, _page_size, response_date_header
from oss_provider.client.bodies import RangeBody
from oss_provider.client.checksums import crc64, md5_base64
from oss_provider.client.errors import (
    AmbiguousResultError,
    FileAlreadyExists,
    IntegrityError,
    MalformedResponseError,
    NoSuchKey,
    OSSClientError,
    OSSTransportError,
)
from oss_provider.client.http import response_date
from oss_provider.client.limits import MAX_LIST_PAGE
from oss_provider.client.models import ObjectInfo
from oss_provider.client.options import ObjectOptions
from oss_provider.client.signing import decode_header_value
from oss_provider.client.validation import (
    validate_bucket_name,
    validate_key,
)

log = logging.getLogger(__name__)

MAX_DELETE_BATCH = 1000  # DeleteMultipleObjects takes at most 1,000 keys
MAX_COPY_OBJECT_SIZE = 5 * 1024**3  # CopyObject copies at most 5 GiB; above, UploadPartCopy


@dataclass(frozen=True)
class ObjectsPage:
    """One ListObjectsV2 page: objects (dicts with key, size, etag, last_modified) and, with a
    delimiter, the folders under the prefix (CommonPrefixes)."""

    objects: list[dict[str, Any]]
    prefixes: list[str] = field(default_factory=list)
    next_token: str | None = None


def _parse_page(body: bytes) -> ObjectsPage:
    root = oss_xml.parse(body)
    encoded = (root.findtext("EncodingType") or "") == "url"

    def text(value: str | None) -> str:
        value = value or ""
        return unquote(value) if encoded else value

    objects = [
        {
            "key": text(node.findtext("Key")),
            "size": int(node.findtext("Size") or 0),
            "etag": oss_xml.strip_etag(node.findtext("ETag")),
            "last_modified": oss_xml.parse_time(node.findtext("LastModified")),
        }
        for node in root.findall("Contents")
    ]
    prefixes = [text(node.findtext("Prefix")) for node in root.findall("CommonPrefixes")]
    truncated = (root.findtext("IsTruncated") or "").lower() == "true"
    token = root.findtext("NextContinuationToken") if truncated else None
    return ObjectsPage(objects, prefixes, token or None)


def object_headers(**options: Any) -> dict[str, str]:
    """The request headers of an object's options (see :class:`ObjectOptions`), checked before
    any request."""
    return ObjectOptions.of(options).request_headers()


class ObjectCalls(ClientBase):
    """One method per object REST call."""

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """Size, ETag, CRC-64, type and user metadata of an object; NoSuchKey when there is none."""
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
        """The object's bytes, held whole in memory (``byte_range`` is ``(first, last)``,
        inclusive); :meth:`open_object` streams instead."""
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
        data: bytes | bytearray | memoryview | RangeBody,
        options: ObjectOptions | None = None,
        **option_kwargs: Any,
    ) -> ObjectInfo:
        """One verified PUT (Content-MD5, then the server's CRC-64 compared); ``options`` (an
        :class:`~oss_provider.client.options.ObjectOptions`, or the same as keywords) are the
        object's type, metadata, storage class, encryption, tags ...
        A :class:`~oss_provider.client.bodies.RangeBody` is hashed and sent by reading its file,
        so no object-sized buffer is held."""
        hdrs = ObjectOptions.of(options, **option_kwargs).request_headers()
        body: bytes | RangeBody
        if isinstance(data, RangeBody):
            body = data
            md5, local_crc = data.digests(True)
            md5_hex = (md5 or b"").hex().upper()
            hdrs["Content-MD5"] = data.content_md5()
        else:
            body = data if isinstance(data, bytes) else bytes(data)
            md5_hex = hashlib.md5(body).hexdigest().upper()
            hdrs["Content-MD5"] = md5_base64(body)
            local_crc = crc64(body)
        if hdrs.get("x-oss-forbid-overwrite") == "true":
            # not idempotent: a re-send after a lost answer would meet our own object and fail
            # with FileAlreadyExists; the outcome is settled by looking at the key instead
            with self.transport.one_deadline(self.transport.policy.deadline(len(body))):
                resp = self._put_once_settled(bucket, key, hdrs, body, (md5_hex, local_crc))
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
        self,
        bucket: str,
        key: str,
        hdrs: dict[str, str],
        body: bytes | RangeBody,
        digests: tuple[str, int],
    ) -> requests.Response | ObjectInfo:
        """A PUT that must not replace an object: sent again only when it provably did not
        land. After a lost answer the key is looked at: no object, send again; this body,
        written since our first send (MD5 ETag, size, CRC-64, Last-Modified), it is ours;
        anything else is another writer's object (FileAlreadyExists)."""
        first_sent = time.monotonic()
        md5_hex, local_crc = digests
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
        """Delete the object; OSS answers success when there is none, so it is safe to repeat."""
        self._send("DeleteObject", "DELETE", bucket, key)

    def list_objects(
        self, bucket: str, *, prefix: str | None = None, max_keys: int = 1000
    ) -> list[dict]:
        """Every object under ``prefix`` (ListObjectsV2, all pages), as dicts with ``key``,
        ``size``, ``etag`` and ``last_modified``."""
        pages = self.iter_objects_pages(bucket, prefix=prefix or "", max_keys=_page_size(max_keys))
        return [entry for page in pages for entry in page.objects]

    def list_objects_page(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        continuation_token: str | None = None,
        max_keys: int = MAX_LIST_PAGE,
    ) -> ObjectsPage:
        """One ListObjectsV2 page (keys URL-encoded on the wire, decoded here)."""
        if not 1 <= max_keys <= MAX_LIST_PAGE:
            raise ValueError(f"max_keys must be 1..{MAX_LIST_PAGE}, got {max_keys}")
        params: list[tuple[str, str | None]] = [
            ("list-type", "2"),
            ("encoding-type", "url"),
            ("max-keys", str(max_keys)),
        ]
        for name, value in (
            ("prefix", prefix),
            ("delimiter", delimiter),
            ("continuation-token", continuation_token),
        ):
            if value:
                params.append((name, value))
        resp = self._send(
            "ListObjectsV2", "GET", bucket, params=params, parse=lambda r: _parse_page(r.content)
        )
        return resp.parsed

    def iter_objects_pages(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = MAX_LIST_PAGE,
    ) -> Iterator[ObjectsPage]:
        """Every page; stops if the continuation token does not change."""
        token: str | None = None
        while True:
            page = self.list_objects_page(
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                continuation_token=token,
                max_keys=max_keys,
            )
            yield page
            if not page.next_token:
                return
            if page.next_token == token:
                raise OSSClientError(
                    f"ListObjectsV2 of bucket {bucket!r} repeated continuation token; stopping"
                )
            token = page.next_token

    def delete_objects(self, bucket: str, keys: Iterable[str]) -> list[dict[str, str]]:
        """Delete keys in batches of 1,000 (quiet mode); returns the keys OSS could not delete, each
        ``{"key", "code", "message"}`` (a missing key counts as deleted, as in OSS)."""
        failed: list[dict[str, str]] = []
        batch: list[str] = []
        for key in keys:
            validate_key(key)
            batch.append(key)
            if len(batch) == MAX_DELETE_BATCH:
                failed += self._delete_batch(bucket, batch)
                batch = []
        if batch:
            failed += self._delete_batch(bucket, batch)
        return failed

    def _delete_batch(self, bucket: str, keys: list[str]) -> list[dict[str, str]]:
        objects = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
        body = f"<Delete><Quiet>true</Quiet>{objects}</Delete>".encode()
        resp = self._send(
            "DeleteMultipleObjects",
            "POST",
            bucket,
            params=[("delete", None), ("encoding-type", "url")],
            headers={"Content-MD5": md5_base64(body), "Content-Type": "application/xml"},
            body=body,
            parse=lambda r: oss_xml.parse(r.content) if r.content else None,
        )
        root = resp.parsed
        if root is None:
            return []
        encoded = (root.findtext("EncodingType") or "") == "url"
        failed = []
        for node in root.findall("Error"):
            key = node.findtext("Key") or ""
            failed.append(
                {
                    "key": unquote(key) if encoded else key,
                    "code": node.findtext("Code") or "",
                    "message": node.findtext("Message") or "",
                }
            )
        return failed

    def copy_object(self, source_bucket: str, source_key: str, bucket: str, key: str) -> str:
        """Server-side copy of an object of at most 5 GiB (metadata and type kept); returns the ETag."""
        validate_bucket_name(source_bucket)
        validate_key(source_key)
        resp = self._send(
            "CopyObject",
            "PUT",
            bucket,
            key,
            headers={"x-oss-copy-source": f"/{source_bucket}/{quote(source_key, safe='')}"},
            parse=lambda r: oss_xml.parse_copy_part(r.content),
        )
        return resp.parsed
