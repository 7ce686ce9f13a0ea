"""A tiny OSS request signer for the emulator's own tests (written from oss-api.md, not the client).

It lets the emulator tests send exactly the bytes they mean, including broken signatures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime
from email.utils import formatdate
from urllib.parse import quote

import requests

V1_SUB = {
    "uploads",
    "uploadId",
    "partNumber",
    "lifecycle",
    "security-token",
    "bucketInfo",
    "location",
    "continuation-token",
}


def _q(s: str) -> str:
    return quote(s, safe="")


class Signer:
    def __init__(
        self,
        endpoint: str,
        ak: str,
        sk: str,
        token: str | None = None,
        *,
        version: str = "v4",
        region: str = "cn-hangzhou",
        session: requests.Session | None = None,
        encode_slash: bool = False,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.ak, self.sk, self.token = ak, sk, token
        self.version = version
        self.region = region
        self.session = session or requests.Session()
        self.encode_slash = encode_slash  # oss2 style: "/" in keys as %2F

    def url(self, bucket: str | None, key: str | None, params: list[tuple[str, str | None]]) -> str:
        safe = "" if self.encode_slash else "/"
        path = "/" if bucket is None else f"/{bucket}/" + quote(key or "", safe=safe)
        query = "&".join(_q(k) if v is None else f"{_q(k)}={_q(v)}" for k, v in params)
        return self.endpoint + path + (f"?{query}" if query else "")

    # ----------------------------------------------------------------- header signing

    def sign(self, method, bucket, key, params, headers, *, when: float | None = None) -> dict:
        headers = dict(headers)
        when = time.time() if when is None else when
        if self.token:
            headers["x-oss-security-token"] = self.token
        if self.version == "v1":
            headers["Date"] = formatdate(when, usegmt=True)
            sts = self.v1_string(method, bucket, key, params, headers, headers["Date"])
            headers["Authorization"] = f"OSS {self.ak}:{self._v1(sts)}"
        else:
            stamp = datetime.fromtimestamp(when, UTC).strftime("%Y%m%dT%H%M%SZ")
            headers["x-oss-date"] = stamp
            headers["x-oss-content-sha256"] = "UNSIGNED-PAYLOAD"
            sig = self._v4(method, bucket, key, params, headers, stamp)
            scope = f"{stamp[:8]}/{self.region}/oss/aliyun_v4_request"
            headers["Authorization"] = (
                f"OSS4-HMAC-SHA256 Credential={self.ak}/{scope},Signature={sig}"
            )
        return headers

    def request(
        self,
        method: str,
        bucket: str | None,
        key: str | None = None,
        params: list[tuple[str, str | None]] | None = None,
        headers: dict | None = None,
        data=None,
        *,
        when: float | None = None,
        **kwargs,
    ) -> requests.Response:
        params = list(params or [])
        signed = self.sign(method, bucket, key, params, headers or {}, when=when)
        return self.session.request(
            method, self.url(bucket, key, params), headers=signed, data=data, **kwargs
        )

    def v1_string(self, method, bucket, key, params, headers, date) -> str:
        low = {k.lower(): str(v).strip() for k, v in headers.items()}
        oss = "".join(f"{k}:{low[k]}\n" for k in sorted(low) if k.startswith("x-oss-"))
        resource = "/" if bucket is None else f"/{bucket}/{key or ''}"
        subs = sorted((k, v) for k, v in params if k in V1_SUB)
        if subs:
            resource += "?" + "&".join(k if not v else f"{k}={v}" for k, v in subs)
        return (
            f"{method}\n{low.get('content-md5', '')}\n{low.get('content-type', '')}\n{date}\n"
            f"{oss}{resource}"
        )

    def _v1(self, sts: str) -> str:
        return base64.b64encode(
            hmac.new(self.sk.encode(), sts.encode(), hashlib.sha1).digest()
        ).decode()

    def _v4(self, method, bucket, key, params, headers, stamp, skip=None) -> str:
        uri = "/" if bucket is None else quote(f"/{bucket}/{key or ''}", safe="/")
        pairs = sorted((_q(k), _q(v or "")) for k, v in params if k != skip)
        query = "&".join(f"{k}={v}" if v else k for k, v in pairs)
        low = {k.lower(): str(v).strip() for k, v in headers.items()}
        canon = "".join(
            f"{k}:{low[k]}\n"
            for k in sorted(low)
            if k.startswith("x-oss-") or k in ("content-type", "content-md5")
        )
        creq = f"{method}\n{uri}\n{query}\n{canon}\n\nUNSIGNED-PAYLOAD"
        scope = f"{stamp[:8]}/{self.region}/oss/aliyun_v4_request"
        sts = "\n".join(
            ["OSS4-HMAC-SHA256", stamp, scope, hashlib.sha256(creq.encode()).hexdigest()]
        )
        k = ("aliyun_v4" + self.sk).encode()
        for part in (stamp[:8], self.region, "oss", "aliyun_v4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()

    # ----------------------------------------------------------------- presigned URLs

    def presign(self, method, bucket, key, params=None, *, expires=600, when=None) -> str:
        params = list(params or [])
        when = time.time() if when is None else when
        if self.version == "v1":
            exp = str(int(when + expires))
            if self.token:
                params.append(("security-token", self.token))
            sts = self.v1_string(method, bucket, key, params, {}, exp)
            params += [("OSSAccessKeyId", self.ak), ("Expires", exp), ("Signature", self._v1(sts))]
            return self.url(bucket, key, params)
        stamp = datetime.fromtimestamp(when, UTC).strftime("%Y%m%dT%H%M%SZ")
        scope = f"{stamp[:8]}/{self.region}/oss/aliyun_v4_request"
        params += [
            ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
            ("x-oss-credential", f"{self.ak}/{scope}"),
            ("x-oss-date", stamp),
            ("x-oss-expires", str(expires)),
        ]
        if self.token:
            params.append(("x-oss-security-token", self.token))
        params.append(("x-oss-signature", self._v4(method, bucket, key, params, {}, stamp)))
        return self.url(bucket, key, params)


# --------------------------------------------------------------------- helpers for the tests


def for_server(srv, version: str = "v4") -> Signer:
    """A signer with the emulator's main credentials."""
    return Signer(srv.endpoint, srv.access_key_id, srv.access_key_secret, version=version)


def error_of(resp: requests.Response) -> dict[str, str]:
    """The children of an Error body (``Code``, ``Message``, ...)."""
    import xml.etree.ElementTree as ET

    return {child.tag: child.text or "" for child in ET.fromstring(resp.content)}


def initiate(s: Signer, bucket: str, key: str, headers: dict | None = None) -> str:
    import re

    resp = s.request("POST", bucket, key, [("uploads", None)], headers or {})
    assert resp.status_code == 200, resp.text
    return re.search(r"<UploadId>(\w+)</UploadId>", resp.text).group(1)


def put_part(s: Signer, bucket: str, key: str, upload_id: str, n: int, data: bytes, **kw):
    return s.request(
        "PUT", bucket, key, [("partNumber", str(n)), ("uploadId", upload_id)], data=data, **kw
    )


def complete_body(parts: list[tuple[int, str]]) -> str:
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>"


def complete(s: Signer, bucket: str, key: str, upload_id: str, parts, headers=None):
    body = complete_body(parts) if parts is not None else None
    return s.request("POST", bucket, key, [("uploadId", upload_id)], headers or {}, data=body)
