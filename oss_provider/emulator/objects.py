"""Object and multipart operations: Request in, Response out; rules as in oss-api.md section 2."""

from __future__ import annotations

import hashlib
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from .clock import http_date, iso_date
from .errors import ServiceError, invalid_argument
from .responses import E, Raw, document, quoted_etag, url_encode
from .store import BlobInfo, ObjectRecord, Store
from .wire import CHUNK, Request, Response, parse_content_md5

MAX_OBJECT_SIZE = 5 * 1024**3
MAX_COMPLETE_XML = 2 * 1024 * 1024  # 10,000 parts fit in about 1 MiB
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
SSE_ALGORITHMS = ("AES256", "KMS", "SM4")
KEPT_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-oss-storage-class",
    "x-oss-server-side-encryption",
    "x-oss-server-side-data-encryption",
    "x-oss-server-side-encryption-key-id",
)


# The account the emulator answers as (ListBuckets, ACLs, ListObjects ``<Owner>``).
OWNER_ID = "1000000000000000"
OWNER_NAME = "1000000000000000"
OBJECT_ACLS = ("default", "private", "public-read", "public-read-write")
MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_TAGGING_XML = 64 * 1024


def owner_element() -> str:
    return E("Owner", E("ID", OWNER_ID), E("DisplayName", OWNER_NAME))


def too_large() -> ServiceError:
    return ServiceError("EntityTooLarge", headers={"Connection": "close"})


def read_xml_body(
    req: Request, limit: int, digest_ec: str, *, missing_md5: ServiceError | None = None
) -> bytes:
    """The body of an XML request (Complete, tagging, lifecycle, delete): at most ``limit``
    bytes, checked against its Content-MD5 (``missing_md5``: raised when the header is absent,
    for the calls that require it)."""
    if req.body.length is not None and req.body.length > limit:
        raise too_large()
    raw_md5 = req.header("content-md5")
    body = req.body.read_all(limit, too_large)
    if raw_md5 is None and missing_md5 is not None:
        raise missing_md5
    expected = parse_content_md5(raw_md5)
    if expected is not None and hashlib.md5(body).digest() != expected:
        raise ServiceError("InvalidDigest", ec=digest_ec)
    return body


def parse_xml_root(body: bytes, tag: str, malformed: ServiceError) -> Any:
    """The root element of a request body, which must be ``<tag>``; else ``malformed``."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        raise malformed from None
    if root.tag != tag:
        raise malformed
    return root


def _object_headers(req: Request) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """Content type, user metadata and kept headers of a PutObject/Initiate request, validated."""
    storage = req.header("x-oss-storage-class")
    if storage is not None and storage not in STORAGE_CLASSES:
        raise invalid_argument(
            f"Invalid storage class {storage!r}; use one of {', '.join(STORAGE_CLASSES)}.",
            "x-oss-storage-class",
            storage,
        )
    sse = req.header("x-oss-server-side-encryption")
    if sse is not None and sse not in SSE_ALGORITHMS:
        raise ServiceError("InvalidEncryptionAlgorithmError", ec="0016-00000401")
    names = {n.lower() for n in req.header_names}
    metadata = {n: req.header(n) or "" for n in sorted(names) if n.startswith("x-oss-meta-")}
    kept = {n: req.header(n) or "" for n in KEPT_HEADERS if n in names}
    return req.header("content-type"), metadata, kept


def _invalid_tag(message: str, ec: str = "0010-00000219") -> ServiceError:
    return ServiceError("InvalidTag", message, status=400, ec=ec)


def check_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """OSS object-tag rules: at most 10 tags, unique non-empty keys <= 128 characters, values
    <= 256 characters."""
    tags: dict[str, str] = {}
    for key, value in pairs:
        if not key or len(key) > MAX_TAG_KEY:
            raise _invalid_tag("The TagKey you have provided is invalid.")
        if len(value) > MAX_TAG_VALUE:
            raise _invalid_tag("The TagValue you have provided is invalid.")
        if key in tags:
            raise _invalid_tag("Cannot provide multiple Tags with the same key.")
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise _invalid_tag("Object tags cannot be greater than 10.")
    return tags


def parse_tagging_header(value: str | None) -> dict[str, str]:
    """``x-oss-tagging: k1=v1&k2=v2`` (URL-encoded keys and values) -> tags, validated."""
    if value is None or value == "":
        return {}
    pairs = []
    for item in value.split("&"):
        key, _, val = item.partition("=")
        if "=" in val:
            raise _invalid_tag("The tag provided was not a valid tag: use key1=value1&key2=value2.")
        try:
            pairs.append((unquote(key, errors="strict"), unquote(val, errors="strict")))
        except UnicodeDecodeError:
            raise _invalid_tag("Tag keys and values must be UTF-8.", ec="0010-00000216") from None
    return check_tags(pairs)


def check_object_acl(value: str | None) -> str | None:
    if value is None:
        return None
    if value not in OBJECT_ACLS:
        raise invalid_argument("no such object access control exists", "x-oss-object-acl", value)
    return value


def _forbid_overwrite(req: Request) -> bool:
    return (req.header("x-oss-forbid-overwrite") or "").lower() == "true"


def _check_length(req: Request) -> None:
    if not req.body.chunked and req.body.length is None:
        raise ServiceError("MissingContentLength", ec="0003-00000301")
    if req.body.length is not None and req.body.length > MAX_OBJECT_SIZE:
        raise too_large()


def _receive(store: Store, req: Request, expected_md5: bytes | None) -> BlobInfo:
    info = req.body.into(store.new_blob_writer(), MAX_OBJECT_SIZE, too_large)
    if expected_md5 is not None and info.md5 != expected_md5:
        info.path.unlink(missing_ok=True)
        raise ServiceError(
            "InvalidDigest",
            ec="0017-00000503",
            extras={"CalculatedDigest": info.md5_base64},
        )
    return info


def object_headers(obj: ObjectRecord) -> dict[str, str]:
    """The headers HEAD and GET show for an object."""
    headers = {
        "Content-Type": obj.content_type or "application/octet-stream",
        "ETag": quoted_etag(obj.etag),
        "Last-Modified": http_date(obj.last_modified),
        "Accept-Ranges": "bytes",
        "x-oss-object-type": obj.object_type,
        "x-oss-storage-class": obj.storage_class,
    }
    if obj.crc is not None:
        headers["x-oss-hash-crc64ecma"] = str(obj.crc)
    if obj.object_type == "Normal" and obj.content_md5:
        headers["Content-MD5"] = obj.content_md5
    if obj.tags:
        headers["x-oss-tagging-count"] = str(len(obj.tags))
    for name, value in obj.headers.items():
        headers[name] = value
    headers.update(obj.metadata)
    return headers


# --------------------------------------------------------------------- simple objects


def put_object(store: Store, req: Request) -> Response:
    _check_length(req)
    expected = parse_content_md5(req.header("content-md5"))
    content_type, metadata, kept = _object_headers(req)
    tags = parse_tagging_header(req.header("x-oss-tagging"))
    acl = check_object_acl(req.header("x-oss-object-acl")) or "default"
    forbid = _forbid_overwrite(req)
    if forbid and store.exists(req.bucket, req.key):
        raise ServiceError("FileAlreadyExists", ec="0026-00000009")
    store.get_bucket(req.bucket)
    info = _receive(store, req, expected)
    obj = store.put_object(
        req.bucket,
        req.key,
        info,
        req.now,
        content_type=content_type,
        metadata=metadata,
        headers=kept,
        forbid_overwrite=forbid,
        tags=tags,
        acl=acl,
    )
    headers = {"ETag": quoted_etag(obj.etag), "Content-MD5": info.md5_base64}
    headers["x-oss-hash-crc64ecma"] = str(obj.crc)
    return Response(200, headers)


def _parse_range(value: str | None, size: int, standard: bool) -> tuple[int, int] | None:
    """(first, last) for a single ``bytes=`` range; None = serve the whole object."""
    if not value or not value.startswith("bytes="):
        return None
    spec = value[6:].split(",")[0].strip()
    first_s, sep, last_s = spec.partition("-")
    try:
        if not sep:
            return None
        if first_s == "":
            n = int(last_s)
            if n <= 0 or size == 0:
                return None
            return max(0, size - n), size - 1
        first = int(first_s)
        last = int(last_s) if last_s else size - 1
    except ValueError:
        return None
    if first < 0 or last < first:
        return None
    if first >= size:
        if standard:
            raise ServiceError("InvalidRange", ec="0003-00000401")
        return None
    if last >= size:
        if not standard and last_s:
            return None
        last = size - 1
    return first, last


def _check_conditions(req: Request, obj: ObjectRecord) -> None:
    etag = quoted_etag(obj.etag)
    if_match = req.header("if-match")
    if if_match and if_match.strip() not in (etag, "*", obj.etag):
        raise ServiceError("PreconditionFailed", extras={"Condition": "If-Match"})
    none_match = req.header("if-none-match")
    if none_match and none_match.strip() in (etag, "*", obj.etag):
        raise ServiceError("NotModified", status=304)
    for name, newer_fails in (("if-unmodified-since", True), ("if-modified-since", False)):
        value = req.header(name)
        if not value:
            continue
        try:
            stamp = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            continue
        modified = int(obj.last_modified) > stamp
        if newer_fails and modified:
            raise ServiceError("PreconditionFailed", extras={"Condition": "If-Unmodified-Since"})
        if not newer_fails and not modified:
            raise ServiceError("NotModified", status=304)


def get_object(store: Store, req: Request, *, head: bool = False) -> Response:
    reader = store.open_object(req.bucket, req.key)
    try:
        obj = reader.record
        _check_conditions(req, obj)
        headers = object_headers(obj)
        for param, header in (
            ("response-content-type", "Content-Type"),
            ("response-content-language", "Content-Language"),
            ("response-expires", "Expires"),
            ("response-cache-control", "Cache-Control"),
            ("response-content-disposition", "Content-Disposition"),
            ("response-content-encoding", "Content-Encoding"),
        ):
            if req.param(param):
                headers[header] = req.param(param)
        standard = (req.header("x-oss-range-behavior") or "").lower() == "standard"
        rng = None if head else _parse_range(req.header("range"), obj.size, standard)
        status, first, last = 200, 0, obj.size - 1
        if rng is not None:
            status, (first, last) = 206, rng
            headers["Content-Range"] = f"bytes {first}-{last}/{obj.size}"
        headers["Content-Length"] = str(last - first + 1)
    except BaseException:
        reader.close()
        raise
    if head:
        reader.close()
        return Response(status, headers)
    return Response(status, headers, reader=reader, start=first, end=last)


def delete_object(store: Store, req: Request) -> Response:
    store.delete_object(req.bucket, req.key)
    return Response(204)


def _copy_source(store: Store, req: Request) -> tuple[str, str]:
    raw = req.header("x-oss-copy-source") or ""
    path = unquote(raw.split("?", 1)[0])
    bucket, sep, key = path.lstrip("/").partition("/")
    if not sep or not bucket or not key:
        raise invalid_argument(
            "x-oss-copy-source must look like /<bucket>/<url-encoded key>.",
            "x-oss-copy-source",
            raw,
        )
    return bucket, key


def _copy_into_blob(store: Store, bucket: str, key: str, req: Request, *, use_range: bool):
    """Source data (a range of it for UploadPartCopy) into a new uncommitted blob."""
    reader = store.open_object(bucket, key)
    with reader:
        src = reader.record
        _check_copy_conditions(req, src)
        first, last = 0, src.size - 1
        rng = None
        if use_range:
            rng = _parse_range(req.header("x-oss-copy-source-range"), src.size, False)
            if rng is not None:
                first, last = rng
        if last - first + 1 > MAX_OBJECT_SIZE:
            raise too_large()
        writer = store.new_blob_writer()
        try:
            for path, offset, count in reader.ranges(first, last) if src.size else []:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    while count > 0:
                        chunk = fh.read(min(CHUNK, count))
                        if not chunk:
                            raise ServiceError("InternalError", "Object data is missing.")
                        writer.write(chunk)
                        count -= len(chunk)
        except BaseException:
            writer.discard()
            raise
        return writer.finish(), src, rng


def _check_copy_conditions(req: Request, src: ObjectRecord) -> None:
    etag = quoted_etag(src.etag)
    value = req.header("x-oss-copy-source-if-match")
    if value and value.strip() not in (etag, src.etag):
        raise ServiceError("PreconditionFailed")
    value = req.header("x-oss-copy-source-if-none-match")
    if value and value.strip() in (etag, src.etag):
        raise ServiceError("PreconditionFailed")


def copy_object(store: Store, req: Request) -> Response:
    req.body.drain()
    src_bucket, src_key = _copy_source(store, req)
    store.get_bucket(req.bucket)
    directive = _directive(req, "x-oss-metadata-directive")
    tag_directive = _directive(req, "x-oss-tagging-directive")
    tags_given = parse_tagging_header(req.header("x-oss-tagging"))
    acl = check_object_acl(req.header("x-oss-object-acl")) or "default"
    if directive == "REPLACE":
        _object_headers(req)  # validated before any data moves
    info, src, _ = _copy_into_blob(store, src_bucket, src_key, req, use_range=False)
    if directive == "REPLACE":
        content_type, metadata, kept = _object_headers(req)
    else:
        content_type, metadata, kept = src.content_type, src.metadata, src.headers
    tags = tags_given if tag_directive == "REPLACE" else dict(src.tags)
    obj = store.put_object(
        req.bucket,
        req.key,
        info,
        req.now,
        content_type=content_type,
        metadata=metadata,
        headers=kept,
        forbid_overwrite=_forbid_overwrite(req),
        tags=tags,
        acl=acl,
    )
    body = document(
        E(
            "CopyObjectResult",
            E("ETag", quoted_etag(obj.etag)),
            E("LastModified", iso_date(obj.last_modified)),
        )
    )
    return Response(200, {"Content-Type": "application/xml", "ETag": quoted_etag(obj.etag)}, body)


def _directive(req: Request, header: str) -> str:
    """``COPY`` (default) or ``REPLACE``; anything else is refused like OSS does."""
    value = req.header(header)
    if value is None or value == "":
        return "COPY"
    if value.upper() not in ("COPY", "REPLACE"):
        raise invalid_argument(f"Invalid {header}: use COPY or REPLACE.", header, value)
    return value.upper()


# --------------------------------------------------------------------- tags, ACL, meta


def get_tagging(store: Store, req: Request) -> Response:
    obj = store.head(req.bucket, req.key)
    tags = "".join(E("Tag", E("Key", k), E("Value", v)) for k, v in obj.tags.items())
    body = document(E("Tagging", E("TagSet", Raw(tags))))
    return Response(200, {"Content-Type": "application/xml"}, body)


def put_tagging(store: Store, req: Request) -> Response:
    store.head(req.bucket, req.key)
    body = read_xml_body(req, MAX_TAGGING_XML, "0010-00000002")
    malformed = ServiceError("MalformedXML")
    tag_set = parse_xml_root(body, "Tagging", malformed).find("TagSet")
    if tag_set is None:
        raise malformed
    pairs = []
    for tag in tag_set.findall("Tag"):
        key = tag.findtext("Key")
        if key is None:
            raise malformed
        pairs.append((key, tag.findtext("Value") or ""))
    store.update_object(req.bucket, req.key, tags=check_tags(pairs))
    return Response(200)


def delete_tagging(store: Store, req: Request) -> Response:
    store.head(req.bucket, req.key)
    store.update_object(req.bucket, req.key, tags={})
    return Response(204)


def acl_document(grant: str) -> bytes:
    return document(
        E(
            "AccessControlPolicy",
            Raw(owner_element()),
            E("AccessControlList", E("Grant", grant)),
        )
    )


def get_object_acl(store: Store, req: Request) -> Response:
    obj = store.head(req.bucket, req.key)
    return Response(200, {"Content-Type": "application/xml"}, acl_document(obj.acl))


def put_object_acl(store: Store, req: Request) -> Response:
    req.body.drain()
    value = req.header("x-oss-object-acl")
    if value is None:
        raise invalid_argument("no such object access control exists", "x-oss-object-acl", "")
    store.head(req.bucket, req.key)
    store.update_object(req.bucket, req.key, acl=check_object_acl(value))
    return Response(200)


def get_object_meta(store: Store, req: Request) -> Response:
    """GetObjectMeta (``HEAD /key?objectMeta``): size, ETag and times, no body."""
    obj = store.head(req.bucket, req.key)
    headers = {
        "ETag": quoted_etag(obj.etag),
        "Last-Modified": http_date(obj.last_modified),
        "x-oss-last-access-time": http_date(obj.last_modified),
        "Content-Length": str(obj.size) if req.method == "HEAD" else "0",
    }
    if obj.crc is not None:
        headers["x-oss-hash-crc64ecma"] = str(obj.crc)
    return Response(200, headers)


# --------------------------------------------------------------------- multipart


def _encoding(req: Request) -> bool:
    value = req.param("encoding-type")
    if value is not None and value != "url":
        raise invalid_argument("The encoding-type must be url.", "encoding-type", value)
    return value == "url"


def initiate(store: Store, req: Request) -> Response:
    encode = _encoding(req)
    content_type, metadata, kept = _object_headers(req)
    tags = parse_tagging_header(req.header("x-oss-tagging"))
    acl = check_object_acl(req.header("x-oss-object-acl")) or "default"
    req.body.drain()
    up = store.initiate(
        req.bucket,
        req.key,
        req.now,
        content_type=content_type,
        metadata=metadata,
        headers=kept,
        forbid_overwrite=_forbid_overwrite(req),
        tags=tags,
        acl=acl,
    )
    parts = [E("EncodingType", "url")] if encode else []
    parts += [
        E("Bucket", req.bucket),
        E("Key", url_encode(req.key) if encode else req.key),
        E("UploadId", up.upload_id),
    ]
    headers = {"Content-Type": "application/xml"}
    if "x-oss-server-side-encryption" in kept:
        headers["x-oss-server-side-encryption"] = kept["x-oss-server-side-encryption"]
    return Response(200, headers, document(E("InitiateMultipartUploadResult", *parts)))


def _part_number(req: Request) -> int:
    raw = req.query.get("partNumber", "")
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= 10_000 or not raw.strip().isdigit():
        raise invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive.",
            "PartNumber",
            raw,
            ec="0017-00000220",
        )
    return number


def upload_part(store: Store, req: Request) -> Response:
    number = _part_number(req)
    upload_id = req.query.get("uploadId", "")
    up = store.get_upload(req.bucket, req.key, upload_id)
    if req.header("x-oss-server-side-encryption") is not None:
        raise invalid_argument(
            "Do not send x-oss-server-side-encryption on UploadPart; set it at Initiate.",
            "x-oss-server-side-encryption",
            req.header("x-oss-server-side-encryption") or "",
        )
    if req.header("x-oss-copy-source") is not None:
        return _upload_part_copy(store, req, number, upload_id)
    _check_length(req)
    expected = parse_content_md5(req.header("content-md5"))
    info = _receive(store, req, expected)
    part = store.commit_part(req.bucket, req.key, upload_id, number, info, req.now)
    headers = {
        "ETag": quoted_etag(part.etag),
        "Content-MD5": info.md5_base64,
        "x-oss-hash-crc64ecma": str(part.crc),
    }
    if "x-oss-server-side-encryption" in up.headers:
        headers["x-oss-server-side-encryption"] = up.headers["x-oss-server-side-encryption"]
    return Response(200, headers)


def _upload_part_copy(store: Store, req: Request, number: int, upload_id: str) -> Response:
    req.body.drain()
    src_bucket, src_key = _copy_source(store, req)
    info, src, rng = _copy_into_blob(store, src_bucket, src_key, req, use_range=True)
    part = store.commit_part(req.bucket, req.key, upload_id, number, info, req.now)
    headers = {"Content-Type": "application/xml", "ETag": quoted_etag(part.etag)}
    if rng is not None:
        headers["Content-Range"] = f"bytes {rng[0]}-{rng[1]}/{src.size}"
    body = document(
        E(
            "CopyPartResult",
            E("LastModified", iso_date(part.last_modified)),
            E("ETag", quoted_etag(part.etag)),
        )
    )
    return Response(200, headers, body)


def _parse_complete(body: bytes) -> list[tuple[int, str]]:
    malformed = ServiceError("MalformedXML", ec="0042-00000205")
    root = parse_xml_root(body, "CompleteMultipartUpload", malformed)
    listed = []
    for part in root:
        if part.tag != "Part":
            continue
        number, etag = part.findtext("PartNumber"), part.findtext("ETag")
        if number is None or etag is None:
            raise malformed
        try:
            listed.append((int(number.strip()), etag.strip()))
        except ValueError:
            raise malformed from None
    if not listed:
        raise malformed
    return listed


def complete(store: Store, req: Request) -> Response:
    upload_id = req.query.get("uploadId", "")
    encode = _encoding(req)
    store.get_upload(req.bucket, req.key, upload_id, ec="0042-00000002")
    body = read_xml_body(req, MAX_COMPLETE_XML, "0042-00000203")
    acl = check_object_acl(req.header("x-oss-object-acl"))
    complete_all = (req.header("x-oss-complete-all") or "").lower() == "yes"
    if complete_all:
        if body.strip():
            raise invalid_argument(
                "Should not speficy both complete all header and http body.",
                "x-oss-complete-all",
                "yes",
                ec="0042-00000216",
            )
        listed = None
    else:
        listed = _parse_complete(body)
    obj = store.complete(
        req.bucket,
        req.key,
        upload_id,
        listed,
        req.now,
        forbid_overwrite=_forbid_overwrite(req),
        acl=acl,
    )
    if req.virtual_host:
        location = f"http://{req.host}/{quote(req.key)}"
    else:
        location = f"http://{req.host}/{req.bucket}/{quote(req.key)}"
    parts = [E("EncodingType", "url")] if encode else []
    parts += [
        E("Location", location),
        E("Bucket", req.bucket),
        E("Key", url_encode(req.key) if encode else req.key),
        E("ETag", quoted_etag(obj.etag)),
    ]
    headers = {"Content-Type": "application/xml", "ETag": quoted_etag(obj.etag)}
    if obj.crc is not None:
        headers["x-oss-hash-crc64ecma"] = str(obj.crc)
    return Response(200, headers, document(E("CompleteMultipartUploadResult", *parts)))


def abort(store: Store, req: Request) -> Response:
    store.abort(req.bucket, req.key, req.query.get("uploadId", ""))
    return Response(204)


def _int_param(req: Request, name: str, default: int, low: int, cap: int | None = None) -> int:
    raw = req.param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low:
        raise invalid_argument(f"Argument {name} must be an integer >= {low}.", name, raw)
    return min(value, cap) if cap is not None else value


def list_parts(store: Store, req: Request) -> Response:
    encode = _encoding(req)
    max_parts = _int_param(req, "max-parts", 1000, 1, 1000)
    marker = _int_param(req, "part-number-marker", 0, 0)
    up, parts = store.list_parts(req.bucket, req.key, req.query.get("uploadId", ""))
    after = [p for p in parts if p.number > marker]
    page = after[:max_parts]
    items = [E("EncodingType", "url")] if encode else []
    items += [
        E("Bucket", req.bucket),
        E("Key", url_encode(req.key) if encode else req.key),
        E("UploadId", up.upload_id),
        E("StorageClass", up.storage_class),
        E("PartNumberMarker", marker),
        E("NextPartNumberMarker", page[-1].number if page else marker),
        E("MaxParts", max_parts),
        E("IsTruncated", "true" if len(after) > max_parts else "false"),
    ]
    for p in page:
        fields = [
            E("PartNumber", p.number),
            E("LastModified", iso_date(p.last_modified)),
            E("ETag", quoted_etag(p.etag)),
        ]
        if p.crc is not None:
            fields.append(E("HashCrc64ecma", p.crc))
        fields.append(E("Size", p.size))
        items.append(E("Part", *fields))
    return Response(
        200, {"Content-Type": "application/xml"}, document(E("ListPartsResult", *items))
    )
