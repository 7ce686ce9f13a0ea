"""Bucket-level operations: create/delete, listings (objects, multipart uploads), lifecycle."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from typing import TypeVar

from .clock import iso_date
from .errors import ServiceError, invalid_argument
from .objects import (
    _encoding,
    _int_param,
    acl_document,
    owner_element,
    parse_xml_root,
    read_xml_body,
)
from .responses import XML_DECLARATION, E, Raw, document, quoted_etag, url_encode
from .store import Store
from .wire import Request, Response

MAX_LIFECYCLE_XML = 1024 * 1024
MAX_DELETE_XML = 2 * 1024 * 1024
MAX_DELETE_KEYS = 1000
T = TypeVar("T")
XML = {"Content-Type": "application/xml"}


def roll_up(
    entries: Iterable[T],
    key_of: Callable[[T], str],
    prefix: str,
    delimiter: str,
    limit: int,
    skip_prefix: str | None = None,
) -> tuple[list[tuple[str, T | None]], bool]:
    """One listing page: entries under ``prefix``, keys with ``delimiter`` after the prefix rolled
    up into common prefixes, each prefix counting as one entry against ``limit``.

    Returns ``[(key or common prefix, entry or None)]`` and whether more entries follow.
    """
    out: list[tuple[str, T | None]] = []
    seen: set[str] = set()
    for entry in entries:
        key = key_of(entry)
        if not key.startswith(prefix):
            continue
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                if common in seen or common == skip_prefix:
                    continue
                if len(out) == limit:
                    return out, True
                seen.add(common)
                out.append((common, None))
                continue
        if len(out) == limit:
            return out, True
        out.append((key, entry))
    return out, False


def _enc(encode: bool) -> Callable[[str], str]:
    return url_encode if encode else (lambda s: s)


# --------------------------------------------------------------------- buckets


def put_bucket(store: Store, req: Request) -> Response:
    req.body.drain()
    store.create_bucket(req.bucket, req.now)
    return Response(200, {"Location": f"/{req.bucket}"})


def delete_bucket(store: Store, req: Request) -> Response:
    store.delete_bucket(req.bucket)
    return Response(204)


def head_bucket(store: Store, req: Request) -> Response:
    store.get_bucket(req.bucket)
    return Response(200)


def bucket_info(store: Store, req: Request, region: str) -> Response:
    rec = store.get_bucket(req.bucket)
    body = E(
        "BucketInfo",
        E(
            "Bucket",
            E("CreationDate", iso_date(rec.created)),
            E("ExtranetEndpoint", req.host),
            E("IntranetEndpoint", req.host),
            E("Location", f"oss-{region}"),
            E("Name", rec.name),
            E("Region", region),
            E("StorageClass", "Standard"),
        ),
    )
    return Response(200, XML, document(body))


def bucket_location(store: Store, req: Request, region: str) -> Response:
    store.get_bucket(req.bucket)
    return Response(200, XML, document(E("LocationConstraint", f"oss-{region}")))


def list_buckets(store: Store, req: Request, region: str) -> Response:
    """ListBuckets (GetService) with ``prefix``, ``marker`` and ``max-keys`` (default 100)."""
    prefix = req.param("prefix") or ""
    marker = req.param("marker") or ""
    limit = _int_param(req, "max-keys", 100, 1, 1000)
    names = [b for b in store.list_buckets() if b.name.startswith(prefix) and b.name > marker]
    page, truncated = names[:limit], len(names) > limit
    buckets = [
        E(
            "Bucket",
            E("CreationDate", iso_date(b.created)),
            E("ExtranetEndpoint", req.host),
            E("IntranetEndpoint", req.host),
            E("Location", f"oss-{region}"),
            E("Name", b.name),
            E("Region", region),
            E("StorageClass", "Standard"),
        )
        for b in page
    ]
    head = []
    if any(req.has(p) for p in ("prefix", "marker", "max-keys")) or truncated:
        head = [E("Prefix", prefix), E("Marker", marker), E("MaxKeys", limit)]
        head.append(E("IsTruncated", "true" if truncated else "false"))
        if truncated:
            head.append(E("NextMarker", page[-1].name))
    body = E("ListAllMyBucketsResult", *head, Raw(owner_element()), E("Buckets", *buckets))
    return Response(200, XML, document(body))


# --------------------------------------------------------------------- listings


def list_uploads(store: Store, req: Request) -> Response:
    """ListMultipartUploads with OSS's marker rules (oss-api.md 2.6)."""
    encode = _encoding(req)
    enc = _enc(encode)
    prefix = req.param("prefix") or ""
    delimiter = req.param("delimiter") or ""
    key_marker = req.param("key-marker") or ""
    id_marker = req.param("upload-id-marker") or ""
    limit = _int_param(req, "max-uploads", 1000, 1, 1000)
    uploads = store.list_uploads(req.bucket)
    if key_marker:
        uploads = [
            u
            for u in uploads
            if u.key > key_marker or (id_marker and u.key == key_marker and u.upload_id > id_marker)
        ]
    page, truncated = roll_up(
        uploads, lambda u: u.key, prefix, delimiter, limit, key_marker or None
    )
    next_key = next_id = ""
    if page:
        next_key = page[-1][0]
        next_id = page[-1][1].upload_id if page[-1][1] is not None else ""
    items = [E("EncodingType", "url")] if encode else []
    items += [
        E("Bucket", req.bucket),
        E("KeyMarker", enc(key_marker)),
        E("UploadIdMarker", id_marker),
        E("NextKeyMarker", enc(next_key)),
        E("NextUploadIdMarker", next_id),
        E("Delimiter", enc(delimiter)),
        E("Prefix", enc(prefix)),
        E("MaxUploads", limit),
        E("IsTruncated", "true" if truncated else "false"),
    ]
    uploads_xml, prefixes_xml = [], []
    for key, up in page:
        if up is None:
            prefixes_xml.append(E("CommonPrefixes", E("Prefix", enc(key))))
        else:
            uploads_xml.append(
                E(
                    "Upload",
                    E("Key", enc(key)),
                    E("UploadId", up.upload_id),
                    E("StorageClass", up.storage_class),
                    E("Initiated", iso_date(up.initiated)),
                )
            )
    body = E("ListMultipartUploadsResult", *items, *uploads_xml, *prefixes_xml)
    return Response(200, XML, document(body))


def _contents(obj, enc, owner: bool) -> Raw:
    fields = [
        E("Key", enc(obj.key)),
        E("LastModified", iso_date(obj.last_modified)),
        E("ETag", quoted_etag(obj.etag)),
        E("Type", obj.object_type),
        E("Size", obj.size),
        E("StorageClass", obj.storage_class),
    ]
    if owner:  # ListObjects (v1) always; ListObjectsV2 only with fetch-owner=true
        fields.append(Raw(owner_element()))
    return E("Contents", *fields)


def list_objects(store: Store, req: Request, *, v2: bool) -> Response:
    """ListObjects (v1, ``marker``) and ListObjectsV2 (``continuation-token``, ``start-after``)."""
    encode = _encoding(req)
    enc = _enc(encode)
    prefix = req.param("prefix") or ""
    delimiter = req.param("delimiter") or ""
    limit = _int_param(req, "max-keys", 100, 0, 1000)
    token = req.param("continuation-token") if v2 else None
    start_after = req.param("start-after") if v2 else req.param("marker")
    after = start_after or ""
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise invalid_argument(
                "The continuation token provided is incorrect.", "continuation-token", token
            ) from None
    objects = store.list_objects(req.bucket)
    if after:
        raw_after = after.encode("utf-8", "surrogatepass")
        objects = [o for o in objects if o.key.encode("utf-8", "surrogatepass") > raw_after]
    page, truncated = roll_up(objects, lambda o: o.key, prefix, delimiter, limit, after or None)
    owner = not v2 or (req.param("fetch-owner") or "").lower() == "true"
    contents = [_contents(o, enc, owner) for _, o in page if o is not None]
    prefixes = [E("CommonPrefixes", E("Prefix", enc(k))) for k, o in page if o is None]
    last = page[-1][0] if page else ""
    if v2:
        items = [E("Name", req.bucket), E("Prefix", enc(prefix))]
        if start_after:
            items.append(E("StartAfter", enc(start_after)))
        if token:
            items.append(E("ContinuationToken", token))
        items += [E("MaxKeys", limit), E("Delimiter", enc(delimiter))]
        if encode:
            items.append(E("EncodingType", "url"))
        items.append(E("IsTruncated", "true" if truncated else "false"))
        if truncated:
            next_token = base64.urlsafe_b64encode(last.encode("utf-8")).decode("ascii")
            items.append(E("NextContinuationToken", next_token))
        body = E("ListBucketResult", *items, *contents, *prefixes, E("KeyCount", len(page)))
    else:
        items = [
            E("Name", req.bucket),
            E("Prefix", enc(prefix)),
            E("Marker", enc(start_after or "")),
            E("MaxKeys", limit),
            E("Delimiter", enc(delimiter)),
        ]
        if encode:
            items.append(E("EncodingType", "url"))
        items.append(E("IsTruncated", "true" if truncated else "false"))
        if truncated:
            items.append(E("NextMarker", enc(last)))
        body = E("ListBucketResult", *items, *contents, *prefixes)
    return Response(200, XML, document(body))


# --------------------------------------------------------------------- delete, live, acl


def delete_multiple(store: Store, req: Request) -> Response:
    """DeleteMultipleObjects (``POST /?delete``): quiet or verbose, Content-MD5 required."""
    encode = _encoding(req)
    store.get_bucket(req.bucket)
    missing = ServiceError(
        "InvalidRequest",
        "Missing required header for this request: Content-MD5.",
        status=400,
        ec="0016-00000606",
    )
    body = read_xml_body(req, MAX_DELETE_XML, "0016-00000607", missing_md5=missing)
    malformed = ServiceError("MalformedXML", ec="0016-00000608")
    root = parse_xml_root(body, "Delete", malformed)
    quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
    keys = []
    for node in root.findall("Object"):
        key = node.findtext("Key")
        if key is None or key == "":
            raise ServiceError("MalformedXML", ec="0016-00000613")
        keys.append(key)
    if not keys or len(keys) > MAX_DELETE_KEYS:
        raise malformed
    enc = _enc(encode)
    deleted = []
    for key in keys:
        store.delete_object(req.bucket, key)
        if not quiet:
            deleted.append(E("Deleted", E("Key", enc(key))))
    items = [E("EncodingType", "url")] if encode else []
    return Response(200, XML, document(E("DeleteResult", *items, *deleted)))


def list_live_channels(store: Store, req: Request) -> Response:
    """ListLiveChannel: the emulator has no RTMP ingest, so every bucket has no channels."""
    store.get_bucket(req.bucket)
    limit = _int_param(req, "max-keys", 100, 1, 1000)
    body = E(
        "ListLiveChannelResult",
        E("Prefix", req.param("prefix") or ""),
        E("Marker", req.param("marker") or ""),
        E("MaxKeys", limit),
        E("IsTruncated", "false"),
        E("NextMarker", ""),
    )
    return Response(200, XML, document(body))


def get_bucket_acl(store: Store, req: Request) -> Response:
    store.get_bucket(req.bucket)
    return Response(200, XML, acl_document("private"))


# --------------------------------------------------------------------- lifecycle


def put_lifecycle(store: Store, req: Request) -> Response:
    store.get_bucket(req.bucket)
    body = read_xml_body(req, MAX_LIFECYCLE_XML, "0014-00000002")
    malformed = ServiceError("MalformedXML")
    rules = parse_xml_root(body, "LifecycleConfiguration", malformed).findall("Rule")
    if not rules:
        raise malformed
    for rule in rules:
        status = (rule.findtext("Status") or "").strip()
        if status not in ("Enabled", "Disabled"):
            raise malformed
        if rule.find("Prefix") is None and rule.find("Filter") is None:
            raise malformed
    text = body.decode("utf-8")
    if not text.lstrip().startswith("<?xml"):
        text = XML_DECLARATION + text
    store.set_lifecycle(req.bucket, text)
    return Response(200)


def get_lifecycle(store: Store, req: Request) -> Response:
    rec = store.get_bucket(req.bucket)
    if not rec.lifecycle_xml:
        raise ServiceError("NoSuchLifecycle", extras={"BucketName": req.bucket}, ec="0014-00000012")
    return Response(200, XML, rec.lifecycle_xml.encode("utf-8"))


def delete_lifecycle(store: Store, req: Request) -> Response:
    store.set_lifecycle(req.bucket, None)
    return Response(204)
