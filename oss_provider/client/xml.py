"""OSS XML: request bodies out, responses in (defusedxml, namespace-free, unknown elements ignored)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import unquote
from xml.etree.ElementTree import Element, tostring
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeET

from oss_provider.client.errors import MalformedResponseError
from oss_provider.client.models import (
    PartInfo,
    PartsPage,
    UploadedPart,
    UploadInfo,
    UploadsPage,
)

XMLParseError = MalformedResponseError  # a body that should be OSS XML is not (retryable)


def parse(body: bytes) -> Element:
    """The root element of a body, parsed with defusedxml; XMLParseError (retryable) when the
    body is not XML (an answer cut short)."""
    try:
        return SafeET.fromstring(body)
    except Exception as exc:  # ParseError, DefusedXmlException
        raise XMLParseError(f"not OSS XML: {exc}") from exc


def _text(node: Element, tag: str, default: str = "") -> str:
    child = node.find(tag)
    return child.text or default if child is not None and child.text is not None else default


def _int(node: Element, tag: str, default: int = 0) -> int:
    value = _text(node, tag)
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _bool(node: Element, tag: str) -> bool:
    return _text(node, tag).lower() == "true"


def parse_time(value: str | None) -> datetime | None:
    """``2012-02-23T04:18:23.000Z`` -> aware UTC datetime; None when missing or unparsable."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def strip_etag(etag: str | None) -> str:
    """An ETag as this package stores and compares it: no quotes, upper case; ``""`` for None."""
    return (etag or "").strip().strip('"').upper()


# ------------------------------------------------------------------------------ bodies


def complete_body(parts: Iterable[UploadedPart]) -> bytes:
    """The CompleteMultipartUpload body, parts in the order given, ETags quoted as SDKs send."""
    inner = "".join(
        f"<Part><PartNumber>{p.part_number}</PartNumber><ETag>&quot;{escape(p.etag)}&quot;</ETag></Part>"
        for p in parts
    )
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


def lifecycle_body(rules: Iterable[dict]) -> bytes:
    """The PutBucketLifecycle body. A rule from :func:`parse_lifecycle` not marked
    ``_modified`` is written back as its ``raw`` XML, so elements not modelled here survive."""
    out = []
    for rule in rules:
        raw = rule.get("raw")
        if raw and not rule.get("_modified"):
            out.append(raw)
            continue
        parts = [f"<ID>{escape(rule['id'])}</ID>"] if rule.get("id") else []
        parts.append(f"<Prefix>{escape(rule.get('prefix') or '')}</Prefix>")
        parts.append(f"<Status>{escape(rule.get('status') or 'Enabled')}</Status>")
        if rule.get("expiration_days"):
            parts.append(f"<Expiration><Days>{int(rule['expiration_days'])}</Days></Expiration>")
        if rule.get("abort_multipart_upload_days"):
            days = int(rule["abort_multipart_upload_days"])
            parts.append(f"<AbortMultipartUpload><Days>{days}</Days></AbortMultipartUpload>")
        out.append(f"<Rule>{''.join(parts)}</Rule>")
    return f"<LifecycleConfiguration>{''.join(out)}</LifecycleConfiguration>".encode()


# ------------------------------------------------------------------------------ responses


def parse_error(body: bytes) -> dict[str, str]:
    """Children of ``<Error>``; raises XMLParseError when the body is not an OSS error."""
    root = parse(body)
    if root.tag != "Error":
        raise XMLParseError(f"expected <Error>, got <{root.tag}>")
    return {child.tag: child.text or "" for child in root}


def parse_error_header(value: str) -> dict[str, str] | None:
    """HEAD errors carry the Error XML base64-encoded in ``x-oss-err``."""
    try:
        return parse_error(base64.b64decode(value))
    except (ValueError, XMLParseError):
        return None


def parse_initiate(body: bytes) -> str:
    """InitiateMultipartUploadResult -> the upload id; XMLParseError when it has none."""
    root = parse(body)
    upload_id = _text(root, "UploadId")
    if not upload_id:
        raise XMLParseError("InitiateMultipartUploadResult has no UploadId")
    return upload_id


def parse_copy_part(body: bytes) -> str:
    """CopyPartResult (UploadPartCopy) -> the new part's ETag, unquoted, upper case."""
    return strip_etag(_text(parse(body), "ETag"))


def parse_complete(body: bytes) -> dict[str, str]:
    """CompleteMultipartUploadResult -> its children by tag (``Location``, ``Bucket``, ``Key``,
    ``ETag`` ...), values as sent; ``{}`` for an empty body."""
    if not body:
        return {}
    root = parse(body)
    return {child.tag: child.text or "" for child in root}


def _maybe_unquote(value: str, encoded: bool) -> str:
    return unquote(value) if encoded and value else value


def parse_list_parts(body: bytes, bucket: str, key: str, upload_id: str) -> PartsPage:
    """ListPartsResult -> a :class:`PartsPage`; a part without ``HashCrc64ecma`` (a copied
    part) has ``crc64`` None."""
    root = parse(body)
    parts = []
    for node in root.findall("Part"):
        crc = _text(node, "HashCrc64ecma")
        parts.append(
            PartInfo(
                part_number=_int(node, "PartNumber"),
                etag=strip_etag(_text(node, "ETag")),
                size=_int(node, "Size"),
                last_modified=parse_time(_text(node, "LastModified")),
                crc64=int(crc) if crc.isdigit() else None,
            )
        )
    return PartsPage(
        bucket=bucket,
        key=key,
        upload_id=upload_id,
        parts=parts,
        part_number_marker=_int(root, "PartNumberMarker"),
        next_part_number_marker=_int(root, "NextPartNumberMarker"),
        max_parts=_int(root, "MaxParts", 1000),
        is_truncated=_bool(root, "IsTruncated"),
    )


def parse_list_uploads(body: bytes, bucket: str, server_date: datetime | None) -> UploadsPage:
    """ListMultipartUploadsResult -> an :class:`UploadsPage`; keys, prefixes and key markers
    are URL-decoded when ``EncodingType`` is ``url``."""
    root = parse(body)
    encoded = _text(root, "EncodingType") == "url"
    uploads = [
        UploadInfo(
            key=_maybe_unquote(_text(node, "Key"), encoded),
            upload_id=_text(node, "UploadId"),
            initiated=parse_time(_text(node, "Initiated")),
            storage_class=_text(node, "StorageClass") or None,
        )
        for node in root.findall("Upload")
    ]
    prefixes = [
        _maybe_unquote(_text(node, "Prefix"), encoded) for node in root.findall("CommonPrefixes")
    ]
    return UploadsPage(
        bucket=bucket,
        uploads=uploads,
        common_prefixes=prefixes,
        key_marker=_maybe_unquote(_text(root, "KeyMarker"), encoded),
        upload_id_marker=_text(root, "UploadIdMarker"),
        next_key_marker=_maybe_unquote(_text(root, "NextKeyMarker"), encoded),
        next_upload_id_marker=_text(root, "NextUploadIdMarker"),
        max_uploads=_int(root, "MaxUploads", 1000),
        is_truncated=_bool(root, "IsTruncated"),
        server_date=server_date,
    )


def parse_lifecycle(body: bytes) -> list[dict]:
    """LifecycleConfiguration -> one dict per rule: ``id``, ``prefix``, ``status``,
    ``expiration_days``, ``abort_multipart_upload_days`` (None if absent) and its ``raw`` XML."""
    root = parse(body)
    rules = []
    for node in root.findall("Rule"):
        abort = node.find("AbortMultipartUpload")
        expiration = node.find("Expiration")
        rules.append(
            {
                "id": _text(node, "ID"),
                "prefix": _text(node, "Prefix"),
                "status": _text(node, "Status") or "Enabled",
                "abort_multipart_upload_days": _int(abort, "Days") or None
                if abort is not None
                else None,
                "expiration_days": _int(expiration, "Days") or None
                if expiration is not None
                else None,
                "raw": tostring(node, encoding="unicode").strip(),
            }
        )
    return rules
