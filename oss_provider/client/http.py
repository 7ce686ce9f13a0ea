"""One pooled ``requests`` session per client, signing per attempt, and jittered retries.

Only requests that are safe to repeat are retried (every OSS call here but Complete, which the
client confirms with HEAD instead). Errors become OSSError / OSSTransportError / OSSResponseError.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter

from oss_provider.client import xml as oss_xml
from oss_provider.client.endpoint import Endpoint
from oss_provider.client.errors import (
    OSSError,
    OSSResponseError,
    OSSTransportError,
    error_class_for,
)
from oss_provider.client.models import Credentials
from oss_provider.client.signing import Params, canonical_query, sign_headers

log = logging.getLogger(__name__)

AUTH_HINTS = {
    "SignatureDoesNotMatch": "Check the AccessKey secret, and that the region matches the endpoint.",
    "InvalidAccessKeyId": "Check the AccessKey ID; it is unknown or disabled.",
    "SecurityTokenExpired": "The STS token expired: refresh the temporary credentials.",
    "InvalidSecurityToken": "The STS security token is invalid: refresh the temporary credentials.",
    "AccessKeyIdAndSecurityTokenNotMatch": "The STS token belongs to another AccessKey ID.",
    "RequestTimeTooSkewed": "The machine's clock differs from OSS by more than 15 minutes; sync it.",
    "NoSuchBucket": "Check the bucket name and that the endpoint is in the bucket's region.",
    "AccessDenied": "The credentials lack permission for this call (check the RAM policy).",
    "NoSuchUpload": (
        "The upload was completed or aborted, or the upload ID belongs to another key or bucket "
        "(an upload ID is valid only with the key it was initiated for)."
    ),
}


@dataclass
class Request:
    operation: str
    method: str
    bucket: str | None
    key: str | None = None
    params: Params = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    retryable: bool = True
    stream: bool = False


def _session_with_environment_read_once(endpoint: Endpoint, verify: bool | str) -> requests.Session:
    """A session that honours HTTP(S)_PROXY / NO_PROXY and REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE as
    requests does, but reads them once: left to itself requests scans the whole environment on
    every request (about 1 ms of CPU each, a third of what a small request costs)."""
    session = requests.Session()
    session.trust_env = False
    url = f"{endpoint.scheme}://{endpoint.netloc}"
    session.proxies.update(requests.utils.get_environ_proxies(url))
    if verify is True:
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.verify = verify
    return session


class Transport:
    """Sends signed requests; retries transient failures with full-jitter exponential backoff."""

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: Callable[[], Credentials],
        *,
        region: str | None,
        signature_version: str,
        verify: bool | str,
        connect_timeout: float,
        read_timeout: float,
        max_retries: int,
        pool_size: int,
        backoff_base: float = 0.2,
        backoff_cap: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self._credentials = credentials
        self.region = region
        self.signature_version = signature_version
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.session = _session_with_environment_read_once(endpoint, verify)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": "airflow-provider-oss-multipart"})
        self.session.headers.pop("Accept-Encoding", None)

    def credentials(self) -> Credentials:
        return self._credentials()

    def close(self) -> None:
        self.session.close()

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    def send(self, req: Request) -> requests.Response:
        """Send with retries; return a 2xx response or raise."""
        attempts = self.max_retries + 1 if req.retryable else 1
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff(attempt)
                log.info("retrying %s in %.2fs after: %s", req.operation, delay, last)
                time.sleep(delay)
            try:
                resp = self.send_once(req)
            except OSSTransportError as exc:
                last = exc
                if not exc.retryable:
                    raise
                continue
            if resp.status_code < 300:
                return resp
            error = self.to_error(req, resp)
            if isinstance(error, OSSError) and error.retryable and attempt + 1 < attempts:
                last = error
                continue
            raise error
        assert last is not None
        raise last

    def send_once(self, req: Request) -> requests.Response:
        creds = self.credentials()
        headers = sign_headers(
            req.method,
            req.bucket,
            req.key,
            req.params,
            req.headers,
            creds,
            version=self.signature_version,
            region=self.region,
            when=time.time(),
        )
        url = self.endpoint.url(req.bucket, req.key, canonical_query(req.params))
        try:
            resp = self._send_prepared(req, url, headers)
            if not req.stream or resp.status_code >= 300:
                resp.content  # noqa: B018 - read the body inside the try: resets surface here
        except requests.exceptions.SSLError as exc:
            raise OSSTransportError(
                f"TLS error talking to {self.endpoint.netloc}: {_short(exc)}. If the endpoint uses "
                "a private CA, set the connection's 'verify' extra to the CA bundle path "
                "(or false for a test server).",
                operation=req.operation,
                retryable=False,
            ) from None
        except requests.exceptions.InvalidURL as exc:
            raise OSSTransportError(
                f"invalid URL: {_short(exc)}", operation=req.operation, retryable=False
            ) from None
        except requests.exceptions.RequestException as exc:
            raise OSSTransportError(
                f"no answer from {self.endpoint.netloc}: {_short(exc)}", operation=req.operation
            ) from None
        return resp

    def _send_prepared(self, req: Request, url: str, headers: dict[str, str]) -> requests.Response:
        """Straight to the pooled adapter: a signed OSS request needs none of what
        ``Session.request`` adds per call (settings merged from the environment, cookies, hooks,
        redirects), and skipping it cuts a third of the CPU a small request costs."""
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=req.method,
            url=url,
            headers={**self.session.headers, **headers},
            data=req.body if req.body is not None else b"",
        )
        return self.session.get_adapter(url).send(
            prepared,
            stream=req.stream,
            timeout=self.timeout,
            verify=self.session.verify,
            proxies=self.session.proxies,
        )

    def to_error(self, req: Request, resp: requests.Response) -> Exception:
        request_id = resp.headers.get("x-oss-request-id")
        fields: dict[str, str] | None = None
        if resp.content:
            try:
                fields = oss_xml.parse_error(resp.content)
            except oss_xml.XMLParseError:
                fields = None
        elif resp.headers.get("x-oss-err"):
            fields = oss_xml.parse_error_header(resp.headers["x-oss-err"])
        if fields is None:
            if resp.content and not request_id:
                return OSSResponseError(
                    resp.status_code,
                    resp.content[:120].decode("utf-8", "replace"),
                    operation=req.operation,
                )
            code = {404: "NoSuchKey" if req.key else "NoSuchBucket", 403: "AccessDenied"}.get(
                resp.status_code, f"HTTP{resp.status_code}"
            )
            if resp.status_code >= 500:
                code = "InternalError"
            fields = {"Code": code, "Message": resp.reason or ""}
        code = fields.get("Code") or f"HTTP{resp.status_code}"
        known = {"Code", "Message", "RequestId", "HostId", "EC", "RecommendDoc"}
        # never echo what the server computed from our secret material
        secret_fields = {
            "StringToSign",
            "StringToSignBytes",
            "CanonicalRequest",
            "SignatureProvided",
        }
        details = {k: v for k, v in fields.items() if k not in known and k not in secret_fields}
        return error_class_for(code)(
            resp.status_code,
            code,
            fields.get("Message", ""),
            fields.get("RequestId") or request_id,
            fields.get("EC") or resp.headers.get("x-oss-ec"),
            host_id=fields.get("HostId"),
            details=details,
            operation=req.operation,
            hint=AUTH_HINTS.get(code),
        )


def response_date(resp: requests.Response) -> datetime | None:
    value = resp.headers.get("Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "..."
