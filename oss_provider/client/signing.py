"""OSS request signing: V4 (``OSS4-HMAC-SHA256``) and V1 (``OSS AK:sig``), headers and URLs.

Pure functions of their inputs (time included), so the test vectors of oss-api.md sections 5-7
reproduce byte for byte. Keys and query values are the *decoded* strings; encoding happens here.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import formatdate
from urllib.parse import quote

from oss_provider.client.models import Credentials

Params = list[tuple[str, str | None]]

V4_ALGORITHM = "OSS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# Query parameters that V1 signs (oss-api.md section 5); all others are left out of the resource.
V1_SUBRESOURCES = frozenset(
    [
        "acl",
        "uploads",
        "location",
        "cors",
        "logging",
        "website",
        "referer",
        "lifecycle",
        "delete",
        "append",
        "tagging",
        "objectMeta",
        "uploadId",
        "partNumber",
        "security-token",
        "position",
        "img",
        "style",
        "styleName",
        "replication",
        "replicationProgress",
        "replicationLocation",
        "cname",
        "bucketInfo",
        "comp",
        "qos",
        "live",
        "status",
        "vod",
        "startTime",
        "endTime",
        "symlink",
        "x-oss-process",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "restore",
        "callback",
        "callback-var",
        "versions",
        "versioning",
        "versionId",
        "policy",
        "encryption",
        "requestPayment",
        "x-oss-traffic-limit",
        "x-oss-request-payer",
        "sequential",
        "inventory",
        "inventoryId",
        "continuation-token",
        "worm",
        "wormId",
        "wormExtend",
        "transferAcceleration",
        "metaQuery",
        "resourceGroup",
        "regionList",
        "stat",
        "objectInfo",
        "qosInfo",
        "asyncFetch",
        "group",
        "link",
        "x-oss-async-process",
    ]
)


def _enc(value: str) -> str:
    """RFC 3986: keep unreserved characters, encode everything else (``/`` too)."""
    return quote(value, safe="-_.~")


def normalize_params(
    params: Mapping[str, str | None] | Iterable[tuple[str, str | None]] | None,
) -> Params:
    """Query params as ``[(name, value or None)]`` of strings, in the given order; None keeps a
    bare name (``?uploads``)."""
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    return [(str(k), None if v is None else str(v)) for k, v in items]


def canonical_query(params: Params) -> str:
    """The query string as sent and as V4 signs it: encoded, sorted, bare names for empty values."""
    pairs = sorted((_enc(k), _enc(v) if v else "") for k, v in params)
    return "&".join(f"{k}={v}" if v else k for k, v in pairs)


def resource_path(bucket: str | None, key: str | None) -> str:
    """``/bucket/key`` (``/bucket/`` for a bucket call, ``/`` for the service), whatever the
    addressing style: V1's CanonicalizedResource and, encoded, V4's CanonicalURI."""
    if bucket is None:
        return "/"
    return f"/{bucket}/{key or ''}"


def header_text(value: object) -> str:
    """A header value as text for signing: ``bytes`` are UTF-8 (undecodable bytes kept as
    surrogate escapes, so they sign as themselves)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def wire_headers(headers: Mapping[str, object]) -> dict[str, str | bytes]:
    """Headers as they go on the wire: non-ASCII values as their UTF-8 bytes, as OSS and oss2
    send ``x-oss-meta-*: 测试`` (http.client would otherwise try latin-1 and fail)."""
    out: dict[str, str | bytes] = {}
    for name, value in headers.items():
        text = header_text(value)
        out[name] = text if text.isascii() else _utf8(text)
    return out


def decode_header_value(value: str) -> str:
    """A received header value as text: requests/http.client decode header bytes as latin-1,
    OSS sends UTF-8 (non-ASCII user metadata), so re-read the bytes as UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def http_date(when: float) -> str:
    """RFC 1123 GMT with a 2-digit day, independent of locale."""
    return _http_date(int(when))


def iso_basic(when: float) -> str:
    """``20231216T162057Z``, V4's ``x-oss-date``; its first 8 characters are the scope's day."""
    return _iso_basic(int(when))


# Both depend on the whole second only; a busy client signs many requests per second.
@functools.lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    return formatdate(second, usegmt=True)


@functools.lru_cache(maxsize=4)
def _iso_basic(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y%m%dT%H%M%SZ")


# ----------------------------------------------------------------------------------- V1


def v1_string_to_sign(
    method: str,
    bucket: str | None,
    key: str | None,
    params: Params,
    headers: Mapping[str, str],
    date: str,
) -> str:
    """V1 step 1, the StringToSign: verb, Content-MD5, Content-Type, ``date`` (``x-oss-date``
    wins; ``Expires`` for a URL), the ``x-oss-*`` headers, then the resource with its signed
    sub-resources (raw, decoded values)."""
    lower = {k.lower(): header_text(v).strip() for k, v in headers.items()}
    if "x-oss-date" in lower:
        date = lower["x-oss-date"]
    oss_headers = "".join(f"{k}:{lower[k]}\n" for k in sorted(lower) if k.startswith("x-oss-"))
    resource = resource_path(bucket, key)
    subs = sorted((k, v) for k, v in params if k in V1_SUBRESOURCES)
    if subs:
        resource += "?" + "&".join(k if not v else f"{k}={v}" for k, v in subs)
    return (
        f"{method.upper()}\n{lower.get('content-md5', '')}\n{lower.get('content-type', '')}\n"
        f"{date}\n{oss_headers}{resource}"
    )


def v1_signature(secret: str, string_to_sign: str) -> str:
    """V1 step 2: base64 of HMAC-SHA1(AccessKey secret, StringToSign)."""
    digest = hmac.new(secret.encode(), _utf8(string_to_sign), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


# ----------------------------------------------------------------------------------- V4


def v4_canonical_request(
    method: str,
    bucket: str | None,
    key: str | None,
    params: Params,
    headers: Mapping[str, str],
    additional_headers: Iterable[str] = (),
) -> str:
    """V4 step 1, the CanonicalRequest: method, encoded URI, canonical query, signed headers
    (``x-oss-*``, Content-Type, Content-MD5 and ``additional_headers`` present), their names,
    and the payload hash (UNSIGNED-PAYLOAD)."""
    uri = quote(resource_path(bucket, key), safe="/-_.~")
    lower = {k.lower(): header_text(v).strip() for k, v in headers.items()}
    extra = sorted({h.lower() for h in additional_headers} & set(lower))
    signed = sorted(
        k
        for k in lower
        if k.startswith("x-oss-") or k in ("content-type", "content-md5") or k in extra
    )
    canonical_headers = "".join(f"{k}:{lower[k]}\n" for k in signed)
    payload = lower.get("x-oss-content-sha256", UNSIGNED_PAYLOAD)
    return (
        f"{method.upper()}\n{uri}\n{canonical_query(params)}\n{canonical_headers}\n"
        f"{';'.join(extra)}\n{payload}"
    )


def v4_scope(when_iso: str, region: str) -> str:
    """The V4 credential scope, ``yyyymmdd/<region>/oss/aliyun_v4_request``."""
    return f"{when_iso[:8]}/{region}/oss/aliyun_v4_request"


def v4_string_to_sign(canonical_request: str, when_iso: str, region: str) -> str:
    """V4 step 2: algorithm, timestamp, scope and the SHA-256 hex of the CanonicalRequest."""
    digest = hashlib.sha256(_utf8(canonical_request)).hexdigest()
    return f"{V4_ALGORITHM}\n{when_iso}\n{v4_scope(when_iso, region)}\n{digest}"


@functools.lru_cache(maxsize=16)
def v4_signing_key(secret: str, day: str, region: str) -> bytes:
    """V4 step 3: HMAC-SHA256 chained over day, region, ``oss`` and ``aliyun_v4_request``,
    starting from ``"aliyun_v4" + secret``; the same for every request of one day, so it is
    kept (a few keys: one per credential, day and region in use)."""
    key = ("aliyun_v4" + secret).encode()
    for part in (day, region, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def v4_signature(secret: str, string_to_sign: str, when_iso: str, region: str) -> str:
    """V4 step 4: lower-case hex HMAC-SHA256 of the StringToSign under the day's signing key."""
    key = v4_signing_key(secret, when_iso[:8], region)
    return hmac.new(key, _utf8(string_to_sign), hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------------- requests


def sign_headers(
    method: str,
    bucket: str | None,
    key: str | None,
    params: Params,
    headers: Mapping[str, str | bytes],
    credentials: Credentials,
    *,
    version: str = "v4",
    region: str | None = None,
    when: float,
    additional_headers: Iterable[str] = (),
) -> dict[str, str | bytes]:
    """Return ``headers`` plus Date, the STS token and ``Authorization`` for one request.

    Header values may be non-ASCII text (or UTF-8 bytes): they are signed as their UTF-8 bytes
    and returned as those bytes (:func:`wire_headers`), which is how OSS and oss2 treat them."""
    signed = dict(headers)
    signed["Date"] = http_date(when)
    if credentials.security_token:
        signed["x-oss-security-token"] = credentials.security_token
    if version == "v1":
        text = v1_string_to_sign(method, bucket, key, params, signed, signed["Date"])
        sig = v1_signature(credentials.access_key_secret, text)
        signed["Authorization"] = f"OSS {credentials.access_key_id}:{sig}"
        return wire_headers(signed)
    if version != "v4":
        raise ValueError(f"signature_version must be 'v4' or 'v1', got {version!r}")
    if not region:
        raise ValueError("V4 signing needs a region (e.g. 'cn-hangzhou'); set the region")
    stamp = iso_basic(when)
    signed["x-oss-date"] = stamp
    signed["x-oss-content-sha256"] = UNSIGNED_PAYLOAD
    extra = sorted({h.lower() for h in additional_headers} & {k.lower() for k in signed})
    creq = v4_canonical_request(method, bucket, key, params, signed, extra)
    sig = v4_signature(
        credentials.access_key_secret, v4_string_to_sign(creq, stamp, region), stamp, region
    )
    auth = f"{V4_ALGORITHM} Credential={credentials.access_key_id}/{v4_scope(stamp, region)}"
    if extra:
        auth += f",AdditionalHeaders={';'.join(extra)}"
    signed["Authorization"] = f"{auth},Signature={sig}"
    return wire_headers(signed)


def presign_params(
    method: str,
    bucket: str | None,
    key: str | None,
    params: Params,
    credentials: Credentials,
    *,
    version: str = "v4",
    region: str | None = None,
    when: float,
    expires: int = 3600,
    headers: Mapping[str, str] | None = None,
) -> Params:
    """Query parameters of a presigned URL (the request's own params plus the auth ones)."""
    params = list(params)
    headers = dict(headers or {})
    if version == "v1":
        expiry = str(int(when) + int(expires))
        if credentials.security_token:
            params.append(("security-token", credentials.security_token))
        text = v1_string_to_sign(method, bucket, key, params, headers, expiry)
        sig = v1_signature(credentials.access_key_secret, text)
        return params + [
            ("OSSAccessKeyId", credentials.access_key_id),
            ("Expires", expiry),
            ("Signature", sig),
        ]
    if not region:
        raise ValueError("V4 presigning needs a region (e.g. 'cn-hangzhou'); set the region")
    if not 0 < int(expires) <= 604800:
        raise ValueError("a V4 presigned URL lives at most 7 days (604800 s); lower expires")
    stamp = iso_basic(when)
    params += [
        ("x-oss-signature-version", V4_ALGORITHM),
        ("x-oss-credential", f"{credentials.access_key_id}/{v4_scope(stamp, region)}"),
        ("x-oss-date", stamp),
        ("x-oss-expires", str(int(expires))),
    ]
    if credentials.security_token:
        params.append(("x-oss-security-token", credentials.security_token))
    creq = v4_canonical_request(method, bucket, key, params, headers)
    sig = v4_signature(
        credentials.access_key_secret, v4_string_to_sign(creq, stamp, region), stamp, region
    )
    return params + [("x-oss-signature", sig)]
