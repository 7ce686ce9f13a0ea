"""Server-side signature checks: V1 and V4, in the Authorization header or a presigned URL, STS.

Written from oss-api.md sections 5-7 on its own code path (it does not import the client's signer),
so a shared misunderstanding cannot make both sides agree on a wrong signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from .errors import ServiceError

MAX_SKEW_SECONDS = 15 * 60
MAX_V4_EXPIRES = 604_800
V4_ALGORITHM = "OSS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"

# V1: query parameters that are part of the CanonicalizedResource (oss-api.md section 5).
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


@dataclass
class Credential:
    access_key_id: str
    secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    expired: bool = False


class CredentialTable:
    """AK -> secret (+ STS token); tests add and expire entries while the server runs."""

    def __init__(self, entries: list[Credential] | None = None) -> None:
        self._lock = threading.Lock()
        self._by_ak = {c.access_key_id: c for c in entries or []}

    def put(self, cred: Credential) -> None:
        with self._lock:
            self._by_ak[cred.access_key_id] = cred

    def expire(self, access_key_id: str, expired: bool = True) -> bool:
        with self._lock:
            cred = self._by_ak.get(access_key_id)
            if cred is not None:
                cred.expired = expired
            return cred is not None

    def remove(self, access_key_id: str) -> bool:
        with self._lock:
            return self._by_ak.pop(access_key_id, None) is not None

    def get(self, access_key_id: str) -> Credential | None:
        with self._lock:
            return self._by_ak.get(access_key_id)

    def owner_of_token(self, token: str) -> Credential | None:
        with self._lock:
            return next((c for c in self._by_ak.values() if c.token == token), None)


def parse_credentials(spec: str) -> list[Credential]:
    """``AK:SK[,AK2:SK2:TOKEN]`` (the CLI form) -> credentials; a third field makes it STS."""
    creds = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        fields = item.split(":", 2)
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise ValueError(
                "credentials must look like AK:SK or AK:SK:TOKEN, separated by commas "
                f"(got an entry with {len(fields)} field(s))"
            )
        creds.append(Credential(fields[0], fields[1], fields[2] if len(fields) > 2 else None))
    return creds


@dataclass
class SignedRequest:
    """What the verifier needs to know about a request (already percent-decoded)."""

    method: str
    bucket: str | None
    key: str | None
    query: list[tuple[str, str]]
    headers: Callable[[str], list[str]]  # lower-case name -> all values
    header_names: list[str]  # every header name as received

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        return values[0] if values else None

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


def _bytes(text: str) -> bytes:
    """Text -> the bytes that were on the wire (header values keep undecodable bytes as
    surrogate escapes, see server.wire_text)."""
    return text.encode("utf-8", "surrogateescape")


def _hexbytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in _bytes(text))


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "<security-token>") if token else text


def _mismatch(
    string_to_sign: str,
    provided: str,
    ak: str,
    ec: str,
    token: str | None,
    canonical: str | None = None,
) -> ServiceError:
    sts = _redact(string_to_sign, token)
    extras = {
        "StringToSign": sts,
        "SignatureProvided": provided,
        "StringToSignBytes": _hexbytes(sts),
        "OSSAccessKeyId": ak,
    }
    if canonical is not None:
        canon = _redact(canonical, token)
        extras["CanonicalRequest"] = canon
        extras["CanonicalRequestBytes"] = _hexbytes(canon)
    return ServiceError("SignatureDoesNotMatch", ec=ec, extras=extras)


class Verifier:
    """Checks one request's signature against the credential table at the server's time."""

    def __init__(
        self,
        credentials: CredentialTable,
        now: Callable[[], float],
        region: str | None = None,
    ) -> None:
        self.credentials = credentials
        self._now = now
        self.region = region  # V4 scopes must name it (None: any region)

    def verify(self, req: SignedRequest) -> Credential:
        auth = req.header("authorization")
        names = {k for k, _ in req.query}
        if auth:
            if auth.startswith(V4_ALGORITHM):
                return self._v4_header(req, auth)
            if auth.startswith("OSS "):
                return self._v1_header(req, auth)
            raise ServiceError(
                "InvalidArgument", "Authorization header is invalid.", ec="0002-00000005"
            )
        if "x-oss-signature" in names or "x-oss-signature-version" in names:
            return self._v4_query(req)
        if names & {"OSSAccessKeyId", "Signature", "Expires"}:
            return self._v1_query(req)
        raise ServiceError(
            "AccessDenied",
            "You have no right to access this object because of bucket acl.",
            ec="0003-00000001",
        )

    # ----------------------------------------------------------------- common

    def _credential(self, ak: str, token: str | None) -> Credential:
        cred = self.credentials.get(ak)
        if cred is None:
            raise ServiceError(
                "InvalidAccessKeyId", extras={"OSSAccessKeyId": ak}, ec="0002-00000902"
            )
        if cred.token is None and token is None:
            if cred.expired:
                raise ServiceError(
                    "InvalidAccessKeyId",
                    "The OSS Access Key Id you provided is disabled.",
                    extras={"OSSAccessKeyId": ak},
                    ec="0002-00000903",
                )
            return cred
        if token is None or (cred.token is None and token is not None):
            raise ServiceError("InvalidSecurityToken", ec="0002-00000108")
        if not hmac.compare_digest(cred.token.encode(), token.encode()):
            owner = self.credentials.owner_of_token(token)
            if owner is not None:
                raise ServiceError("AccessKeyIdAndSecurityTokenNotMatch", ec="0002-00000109")
            raise ServiceError("InvalidSecurityToken", ec="0002-00000108")
        if cred.expired:
            raise ServiceError("SecurityTokenExpired", ec="0002-00000110")
        return cred

    def _check_skew(self, request_time: float) -> None:
        now = self._now()
        if abs(now - request_time) > MAX_SKEW_SECONDS:
            raise ServiceError(
                "RequestTimeTooSkewed",
                extras={
                    "RequestTime": datetime.fromtimestamp(request_time, UTC).strftime(
                        "%Y-%m-%dT%H:%M:%S.000Z"
                    ),
                    "ServerTime": datetime.fromtimestamp(now, UTC).strftime(
                        "%Y-%m-%dT%H:%M:%S.000Z"
                    ),
                    "MaxAllowedSkewMilliseconds": str(MAX_SKEW_SECONDS * 1000),
                },
                ec="0002-00000504",
            )

    # ----------------------------------------------------------------- V1

    @staticmethod
    def v1_oss_headers(req: SignedRequest) -> str:
        names = sorted({n.lower() for n in req.header_names if n.lower().startswith("x-oss-")})
        return "".join(f"{n}:{','.join(v.strip() for v in req.headers(n))}\n" for n in names)

    @staticmethod
    def v1_resource(req: SignedRequest) -> str:
        if req.bucket is None:
            resource = "/"
        else:
            resource = f"/{req.bucket}/{req.key or ''}"
        subs = sorted((k, v) for k, v in req.query if k in V1_SUBRESOURCES)
        if subs:
            resource += "?" + "&".join(f"{k}={v}" if v != "" else k for k, v in subs)
        return resource

    def v1_string_to_sign(self, req: SignedRequest, date: str) -> str:
        return (
            f"{req.method}\n{req.header('content-md5') or ''}\n{req.header('content-type') or ''}\n"
            f"{date}\n{self.v1_oss_headers(req)}{self.v1_resource(req)}"
        )

    @staticmethod
    def _v1_sign(secret: str, sts: str) -> str:
        mac = hmac.new(secret.encode("utf-8"), _bytes(sts), hashlib.sha1)
        return base64.b64encode(mac.digest()).decode("ascii")

    def _v1_header(self, req: SignedRequest, auth: str) -> Credential:
        ak, sep, signature = auth[4:].strip().rpartition(":")
        if not sep or not ak or not signature:
            raise ServiceError(
                "InvalidArgument", "Authorization header is invalid.", ec="0002-00000005"
            )
        date = req.header("x-oss-date") or req.header("date")
        try:
            request_time = parsedate_to_datetime(date).timestamp() if date else None
        except (TypeError, ValueError):
            request_time = None
        if request_time is None:
            raise ServiceError(
                "AccessDenied", "OSS authentication requires a valid Date.", ec="0002-00000020"
            )
        token = req.header("x-oss-security-token")
        cred = self._credential(ak, token)
        self._check_skew(request_time)
        sts = self.v1_string_to_sign(req, date)
        if not hmac.compare_digest(self._v1_sign(cred.secret, sts), signature):
            raise _mismatch(sts, signature, ak, "0002-00000040", token)
        return cred

    def _v1_query(self, req: SignedRequest) -> Credential:
        ak, expires, signature = (req.param(n) for n in ("OSSAccessKeyId", "Expires", "Signature"))
        if not ak or not expires or not signature:
            raise ServiceError(
                "AccessDenied",
                "Query-string authentication requires the Signature, Expires and OSSAccessKeyId "
                "parameters",
                ec="0002-00000023",
            )
        try:
            expires_at = int(expires)
        except ValueError:
            raise ServiceError(
                "AccessDenied", "Expires should be a number.", ec="0002-00000025"
            ) from None
        if self._now() > expires_at:
            raise ServiceError(
                "AccessDenied",
                "Request has expired.",
                extras={"Expires": expires, "ServerTime": str(int(self._now()))},
                ec="0002-00000024",
            )
        token = req.param("security-token")
        cred = self._credential(ak, token)
        sts = self.v1_string_to_sign(req, expires)
        if not hmac.compare_digest(self._v1_sign(cred.secret, sts), signature):
            raise _mismatch(sts, signature, ak, "0002-00000041", token)
        return cred

    # ----------------------------------------------------------------- V4

    @staticmethod
    def v4_uri(req: SignedRequest) -> str:
        if req.bucket is None:
            return "/"
        return quote(f"/{req.bucket}/{req.key or ''}", safe="/")

    @staticmethod
    def v4_query(req: SignedRequest, *, skip: str | None = None) -> str:
        pairs = sorted((quote(k, safe=""), quote(v, safe="")) for k, v in req.query if k != skip)
        return "&".join(f"{k}={v}" if v else k for k, v in pairs)

    @staticmethod
    def v4_headers(req: SignedRequest, additional: list[str]) -> str:
        wanted = set(additional)
        names = sorted(
            {
                n.lower()
                for n in req.header_names
                if n.lower().startswith("x-oss-")
                or n.lower() in ("content-type", "content-md5")
                or n.lower() in wanted
            }
        )
        return "".join(f"{n}:{','.join(v.strip() for v in req.headers(n))}\n" for n in names)

    def _v4_check(
        self,
        req: SignedRequest,
        *,
        credential: str,
        date: str | None,
        additional: str,
        signature: str,
        token: str | None,
        ec: str,
        query_skip: str | None,
    ) -> tuple[Credential, float]:
        parts = credential.split("/")
        if len(parts) != 5 or parts[3] != "oss" or parts[4] != "aliyun_v4_request" or not parts[0]:
            raise ServiceError(
                "InvalidArgument",
                "Invalid credential in Authorization header: expected "
                "<AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request.",
                ec="0002-00000207",
            )
        ak, day, region = parts[0], parts[1], parts[2]
        try:
            request_time = datetime.strptime(date or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise ServiceError(
                "AccessDenied",
                "OSS authentication requires a valid x-oss-date (yyyymmddTHHMMSSZ).",
                ec="0002-00000202",
            ) from None
        if day != date[:8]:
            raise ServiceError(
                "InvalidArgument",
                "Invalid signing date in Authorization header: the credential date must equal the "
                "date of x-oss-date.",
                ec="0002-00000208",
            )
        if self.region is not None and region != self.region:
            where = "x-oss-credential" if query_skip else "Authorization header"
            raise ServiceError(
                "InvalidArgument",
                f"Invalid signing region in {where}: the credential scope names {region!r}, "
                f"the bucket is in {self.region!r}.",
                ec="0002-00000226" if query_skip else "0002-00000228",
                extras={"SigningRegion": region, "BucketRegion": self.region},
            )
        cred = self._credential(ak, token)
        add_list = [h.strip().lower() for h in additional.split(";") if h.strip()]
        canonical = "\n".join(
            [
                req.method,
                self.v4_uri(req),
                self.v4_query(req, skip=query_skip),
                self.v4_headers(req, add_list),
                ";".join(sorted(add_list)),
                UNSIGNED,
            ]
        )
        scope = f"{day}/{region}/oss/aliyun_v4_request"
        sts = "\n".join([V4_ALGORITHM, date, scope, hashlib.sha256(_bytes(canonical)).hexdigest()])
        key = ("aliyun_v4" + cred.secret).encode("utf-8")
        for part in (day, region, "oss", "aliyun_v4_request"):
            key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
        expected = hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise _mismatch(sts, signature, ak, ec, token, canonical)
        return cred, request_time.timestamp()

    def _v4_header(self, req: SignedRequest, auth: str) -> Credential:
        fields: dict[str, str] = {}
        for item in auth[len(V4_ALGORITHM) :].split(","):
            name, sep, value = item.strip().partition("=")
            if sep:
                fields[name.strip()] = value.strip()
        if "Credential" not in fields or "Signature" not in fields:
            raise ServiceError(
                "InvalidArgument",
                "Authorization header is invalid: Credential and Signature are required.",
                ec="0002-00000005",
            )
        if "AdditionalHeaders" in fields and not fields["AdditionalHeaders"]:
            raise ServiceError(
                "InvalidArgument",
                "AdditionalHeaders must not be empty; leave it out when there are none.",
                ec="0002-00000209",
            )
        sha = req.header("x-oss-content-sha256")
        if sha != UNSIGNED:
            raise ServiceError(
                "InvalidArgument",
                "x-oss-content-sha256 must be UNSIGNED-PAYLOAD for OSS4-HMAC-SHA256.",
                ec="0002-00000214",
            )
        date = req.header("x-oss-date")
        token = req.header("x-oss-security-token")
        cred, request_time = self._v4_check(
            req,
            credential=fields["Credential"],
            date=date,
            additional=fields.get("AdditionalHeaders", ""),
            signature=fields["Signature"],
            token=token,
            ec="0002-00000201",
            query_skip=None,
        )
        self._check_skew(request_time)
        return cred

    def _v4_query(self, req: SignedRequest) -> Credential:
        version = req.param("x-oss-signature-version")
        credential = req.param("x-oss-credential")
        date = req.param("x-oss-date")
        expires = req.param("x-oss-expires")
        signature = req.param("x-oss-signature")
        if version != V4_ALGORITHM or not credential or not signature or not expires:
            raise ServiceError(
                "AccessDenied",
                "Query-string authentication V4 requires x-oss-signature-version="
                "OSS4-HMAC-SHA256, x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature.",
                ec="0002-00000023",
            )
        try:
            lifetime = int(expires)
        except ValueError:
            lifetime = -1
        if not 0 < lifetime <= MAX_V4_EXPIRES:
            raise ServiceError(
                "InvalidArgument",
                f"x-oss-expires must be an integer between 1 and {MAX_V4_EXPIRES}.",
                ec="0002-00000206",
            )
        token = req.param("x-oss-security-token")
        cred, request_time = self._v4_check(
            req,
            credential=credential,
            date=date,
            additional=req.param("x-oss-additional-headers") or "",
            signature=signature,
            token=token,
            ec="0002-00000201",
            query_skip="x-oss-signature",
        )
        if self._now() > request_time + lifetime:
            raise ServiceError("AccessDenied", "Request has expired.", ec="0002-00000024")
        return cred
