"""Object calls a filesystem needs beyond the multipart API: one ListObjectsV2 page with
``delimiter`` (folders as CommonPrefixes), DeleteMultipleObjects (1,000 keys a request) and
CopyObject. Functions over an :class:`~oss_provider.client.api.OSSClient`, so the client keeps
one method per multipart call and this file the object calls."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from oss_provider.client import xml as oss_xml
from oss_provider.client.checksums import md5_base64
from oss_provider.client.errors import OSSClientError
from oss_provider.client.limits import MAX_LIST_PAGE
from oss_provider.client.validation import validate_bucket_name, validate_key

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

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


def list_objects_page(
    client: OSSClient,
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
    resp = client._send(
        "ListObjectsV2", "GET", bucket, params=params, parse=lambda r: _parse_page(r.content)
    )
    return resp.parsed


def iter_objects_pages(
    client: OSSClient,
    bucket: str,
    *,
    prefix: str = "",
    delimiter: str = "",
    max_keys: int = MAX_LIST_PAGE,
) -> Iterator[ObjectsPage]:
    """Every page; stops if the continuation token does not change."""
    token: str | None = None
    while True:
        page = list_objects_page(
            client,
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


def delete_objects(client: OSSClient, bucket: str, keys: Iterable[str]) -> list[dict[str, str]]:
    """Delete keys in batches of 1,000 (quiet mode); returns the keys OSS could not delete, each
    ``{"key", "code", "message"}`` (a missing key counts as deleted, as in OSS)."""
    failed: list[dict[str, str]] = []
    batch: list[str] = []
    for key in keys:
        validate_key(key)
        batch.append(key)
        if len(batch) == MAX_DELETE_BATCH:
            failed += _delete_batch(client, bucket, batch)
            batch = []
    if batch:
        failed += _delete_batch(client, bucket, batch)
    return failed


def _delete_batch(client: OSSClient, bucket: str, keys: list[str]) -> list[dict[str, str]]:
    objects = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    body = f"<Delete><Quiet>true</Quiet>{objects}</Delete>".encode()
    resp = client._send(
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


def copy_object(
    client: OSSClient, source_bucket: str, source_key: str, bucket: str, key: str
) -> str:
    """Server-side copy of an object of at most 5 GiB (metadata and type kept); returns the ETag."""
    validate_bucket_name(source_bucket)
    validate_key(source_key)
    resp = client._send(
        "CopyObject",
        "PUT",
        bucket,
        key,
        headers={"x-oss-copy-source": f"/{source_bucket}/{quote(source_key, safe='')}"},
        parse=lambda r: oss_xml.parse_copy_part(r.content),
    )
    return resp.parsed
