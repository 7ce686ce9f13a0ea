"""One pooled ``requests`` session per client, signing per attempt, and the one retry policy.

The policy (:class:`RetryPolicy`) lives here and nowhere else: a request is sent at most
``max_sends`` times, with full-jitter exponential backoff between sends, and has one deadline
from its first send to the last byte of its answer, across all sends: ``budget_seconds`` plus its
body at :data:`MIN_BODY_RATE` (an 8 MiB part gets 8 s more). The deadline is enforced on the
socket (:mod:`oss_provider.client.deadline`), so a peer that trickles its answer or accepts the
body slowly cannot hold a request past it. A caller that resolves a lost answer with more
requests (Complete, Initiate) runs them all in one :meth:`Transport.one_deadline` scope. Retried:
5xx and throttling answers, resets, timeouts, and 2xx answers whose XML is cut short. A
non-idempotent request (Initiate, Complete) is sent again only when it provably never reached
the server (no connection) or the server refused it with a retryable error; otherwise the error
says it may have been applied, and the caller resolves it (see ``OSSTransportError.maybe_applied``).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from oss_provider.client import xml as oss_xml
from oss_provider.client.bodies import CHUNK as BODY_CHUNK
from oss_provider.client.bodies import RangeBody
from oss_provider.client.deadline import POOL_CLASSES, Deadline
from oss_provider.client.endpoint import Endpoint
from oss_provider.client.errors import (
    MalformedResponseError,
    OSSClientError,
    OSSError,
    OSSResponseError,
    OSSTransportError,
    RetriesExhaustedError,
    error_class_for,
    is_retryable,
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
    """One OSS call. ``parse`` turns a 2xx answer into a value inside the retry loop, so an
    answer cut short is retried like a reset; ``idempotent`` False marks Initiate and Complete."""

    operation: str
    method: str
    bucket: str | None
    key: str | None = None
    params: Params = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | RangeBody | None = None
    idempotent: bool = True
    stream: bool = False
    parse: Callable[[requests.Response], Any] | None = None


MIN_BODY_RATE = 1024 * 1024  # bytes per second a request body is granted beyond the budget


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one request is tried: ``max_sends`` sends at most, none starting
    after ``budget_seconds``; waits are full-jitter exponential (``backoff_base`` doubling, at
    most ``backoff_cap``). Worst case to give up: ``budget_seconds`` plus the connect timeout."""

    max_sends: int = 4
    budget_seconds: float = 300.0
    backoff_base: float = 0.2
    backoff_cap: float = 10.0

    def __post_init__(self) -> None:
        sends = self.max_sends
        if isinstance(sends, bool) or not isinstance(sends, int) or sends < 1:
            raise ValueError(f"max_sends must be a whole number >= 1, got {sends!r}")
        for name in ("budget_seconds", "backoff_base", "backoff_cap"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value < float("inf"):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")

    def delay(self, sends: int) -> float:
        """The wait before the next send, after ``sends`` sends."""
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (sends - 1)))

    def deadline(self, body_bytes: int = 0, *, now: float | None = None) -> float:
        """The monotonic time by which a request sent ``now`` must be answered, retries included."""
        start = time.monotonic() if now is None else now
        return start + self.budget_seconds + body_bytes / MIN_BODY_RATE


class _DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections (direct or through a proxy) obey the request deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        # a streamed body (a file range) goes out in 1 MiB reads, not urllib3's 16 KiB
        super().init_poolmanager(*args, blocksize=BODY_CHUNK, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, blocksize=BODY_CHUNK, **kwargs)
        manager.pool_classes_by_scheme = POOL_CLASSES
        return manager


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
    """Sends signed requests under one :class:`RetryPolicy`."""

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
        policy: RetryPolicy,
        pool_size: int,
    ) -> None:
        self.endpoint = endpoint
        self._credentials = credentials
        self.region = region
        self.signature_version = signature_version
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.policy = policy
        self.session = _session_with_environment_read_once(endpoint, verify)
        adapter = _DeadlineAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": "airflow-provider-oss-multipart"})
        self.session.headers.pop("Accept-Encoding", None)
        self._scope = threading.local()

    @contextmanager
    def one_deadline(self, deadline: float) -> Iterator[None]:
        """Every request this thread sends inside shares ``deadline`` (or its own, if earlier):
        for a call that resolves a lost answer with more requests, so its re-sends and checks
        do not each start a fresh budget."""
        outer = getattr(self._scope, "deadline", None)
        self._scope.deadline = deadline if outer is None else min(outer, deadline)
        try:
            yield
        finally:
            self._scope.deadline = outer

    def credentials(self) -> Credentials:
        """The credentials for one send, asked for on every send so a refreshed STS token is
        used; ValueError when the ID or the secret is missing."""
        return self._credentials()

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    def send(self, req: Request) -> requests.Response:
        """Send under the retry policy; return a 2xx response (``.parsed`` set when the request
        has a parser) or raise the error, :class:`RetriesExhaustedError` when the policy ran out.

        The last byte of the answer must arrive by the request's deadline, retries included: the
        policy's budget (plus the body's time) from now, or the :meth:`one_deadline` scope's
        when that is earlier."""
        policy = self.policy
        started = time.monotonic()
        deadline = policy.deadline(len(req.body or b""), now=started)
        scope = getattr(self._scope, "deadline", None)
        if scope is not None:
            deadline = min(deadline, scope)
        sends = 0
        while True:
            left = deadline - time.monotonic()
            sends += 1
            try:
                if left <= 0:
                    raise self._deadline_error(req)
                resp = self.send_once(
                    req, read_timeout=min(self.read_timeout, left), deadline=deadline
                )
                if resp.status_code < 300:
                    if req.parse is not None:
                        resp.parsed = req.parse(resp)  # type: ignore[attr-defined]
                    return resp
                error: OSSClientError = self.to_error(req, resp)  # type: ignore[assignment]
            except MalformedResponseError as exc:
                error = MalformedResponseError(f"{req.operation}: the answer is cut short: {exc}")
            except OSSTransportError as exc:
                error = exc
            if not self._may_send_again(req, error):
                raise error
            elapsed = time.monotonic() - started
            delay = policy.delay(sends)
            if sends >= policy.max_sends or time.monotonic() + delay >= deadline:
                if sends == 1:
                    raise error  # nothing was retried: the error says it all
                raise RetriesExhaustedError(
                    f"{req.operation} gave up after {sends} send{'s' if sends > 1 else ''} in "
                    f"{elapsed:.1f} s (retry policy: at most {policy.max_sends} sends within "
                    f"{deadline - started:.0f} s); last error: {error}",
                    last=error,
                    sends=sends,
                    seconds=elapsed,
                ) from error
            log.info("retrying %s in %.2fs after: %s", req.operation, delay, error)
            time.sleep(delay)

    @staticmethod
    def _may_send_again(req: Request, error: OSSClientError) -> bool:
        if not is_retryable(error):
            return False
        if req.idempotent:
            return True
        # Initiate / Complete: again only when the server provably did not apply it
        if isinstance(error, OSSTransportError):
            return not error.maybe_applied
        return isinstance(error, OSSError)  # an error answer: the server refused the request

    def _deadline_error(self, req: Request) -> OSSTransportError:
        return OSSTransportError(
            f"no complete answer from {self.endpoint.netloc} within the request's deadline (the "
            f"retry budget of {self.policy.budget_seconds:g} s plus the body at 1 MiB/s, from "
            "its first send); raise the connection's 'retry_budget' for a slow link",
            operation=req.operation,
        )

    def send_once(
        self,
        req: Request,
        *,
        read_timeout: float | None = None,
        deadline: float,
    ) -> requests.Response:
        """One send, no retry, signed afresh (a new Date); returns any HTTP answer, error
        statuses included, or raises OSSTransportError (no answer, or ``deadline`` passed)."""
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
        watch = None
        try:
            timeout = (self.connect_timeout, read_timeout or self.read_timeout)
            with Deadline(deadline) as watch:
                resp = self._send_prepared(req, url, headers, timeout)
                if not req.stream or resp.status_code >= 300:
                    resp.content  # noqa: B018 - read the body inside the try: resets surface here
        except requests.exceptions.RequestException as exc:
            if watch is not None and watch.expired:
                raise self._deadline_error(req) from None
            raise self._transport_error(req, exc) from None
        if watch.expired:  # a socket shut mid-answer can read as a short, "complete" answer
            raise self._deadline_error(req)
        return resp

    def _transport_error(
        self, req: Request, exc: requests.exceptions.RequestException
    ) -> OSSTransportError:
        """What a ``requests`` failure means for this request: never sent, maybe applied, or a
        setting no retry can fix."""
        where = self.endpoint.netloc
        if isinstance(exc, requests.exceptions.SSLError):
            return OSSTransportError(
                f"TLS error talking to {where}: {_short(exc)}. If the endpoint uses a private CA, "
                "set the connection's 'verify' extra to the CA bundle path (or false for a test "
                "server).",
                operation=req.operation,
                retryable=False,
            )
        if isinstance(exc, requests.exceptions.InvalidURL):
            return OSSTransportError(
                f"invalid URL: {_short(exc)}", operation=req.operation, retryable=False
            )
        if _never_connected(exc):
            reason, lasting = _connect_reason(exc)
            return OSSTransportError(
                f"cannot connect to {where}: {reason}",
                operation=req.operation,
                maybe_applied=False,
                retryable=not lasting,  # a refused port or an unknown host is a setting
            )
        return OSSTransportError(f"no answer from {where}: {_short(exc)}", operation=req.operation)

    def _send_prepared(
        self, req: Request, url: str, headers: dict[str, str], timeout: tuple[float, float]
    ) -> requests.Response:
        """Straight to the pooled adapter: a signed OSS request needs none of what
        ``Session.request`` adds per call (settings merged from the environment, cookies, hooks,
        redirects), and skipping it cuts a third of the CPU a small request costs."""
        body = req.body
        if isinstance(body, RangeBody):
            body = body.reader()  # read from the file while it is sent; fresh on every send
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=req.method,
            url=url,
            headers={**self.session.headers, **headers},
            data=body if body is not None else b"",
        )
        return self.session.get_adapter(url).send(
            prepared,
            stream=req.stream,
            timeout=timeout,
            verify=self.session.verify,
            proxies=self.session.proxies,
        )

    def to_error(self, req: Request, resp: requests.Response) -> Exception:
        """The exception for a non-2xx answer: the class of its OSS code (from the body, or
        ``x-oss-err`` for HEAD), or OSSResponseError for a page that is not OSS. Fields the
        server derived from the secret (StringToSign ...) are left out."""
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
    """The answer's ``Date`` (the server's clock) as aware UTC; None when absent or unreadable."""
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


def _never_connected(exc: requests.exceptions.RequestException) -> bool:
    """True when the request provably never reached the server: no connection was made."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        inner = exc.args[0]
        reason = inner.reason if isinstance(inner, MaxRetryError) else inner
        return isinstance(reason, NewConnectionError)
    return False


def _connect_reason(exc: requests.exceptions.RequestException) -> tuple[str, bool]:
    """Why no connection was made, and whether it is lasting (a wrong host or port: retrying
    cannot help) rather than transient (a connect timeout)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timed out", False
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused (nothing listens on that port)"),
        ("Name or service not known", "the host name does not resolve"),
        ("nodename nor servname", "the host name does not resolve"),
        ("No address associated with hostname", "the host name does not resolve"),
    ):
        if needle in text:
            return reason, True
    for needle, reason in (
        ("Temporary failure in name resolution", "the host name did not resolve (DNS failure)"),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "the network is unreachable"),
    ):
        if needle in text:
            return reason, False
    return _short(exc), False
