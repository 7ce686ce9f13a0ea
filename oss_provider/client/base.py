"""What every OSS call shares: the endpoint, credentials, the transport and presigned URLs.

The calls themselves are grouped by what they act on (:mod:`.multipart`, :mod:`.completion`,
:mod:`.objects`, :mod:`.buckets`); :class:`~oss_provider.client.api.OSSClient` joins them. Each
group extends :class:`ClientBase` and reaches the others only through ``self``, so the arrows run
one way: ``api`` -> groups -> ``base``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self

import requests

from oss_provider.client.endpoint import parse_endpoint, region_from_host
from oss_provider.client.http import Request, RetryPolicy, Transport
from oss_provider.client.limits import MAX_LIST_PAGE
from oss_provider.client.models import Credentials
from oss_provider.client.signing import canonical_query, normalize_params, presign_params
from oss_provider.client.validation import validate_bucket_name, validate_key

DEFAULT_LOCAL_REGION = "cn-hangzhou"


def _crc_header(resp: requests.Response) -> int | None:
    value = resp.headers.get("x-oss-hash-crc64ecma")
    return int(value) if value and value.isdigit() else None


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


def _page_size(value: int) -> int:
    if not 1 <= int(value) <= MAX_LIST_PAGE:
        raise ValueError(f"page size {value} is out of range: OSS lists 1..1000 entries per page")
    return int(value)


def response_date_header(value: str | None) -> datetime | None:
    """A ``Last-Modified`` / ``Date`` header as a datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


class ClientBase:
    """Endpoint, credentials and one :class:`~oss_provider.client.http.Transport` (one
    connection pool); the call groups send through :meth:`_send`."""

    def __init__(
        self,
        endpoint: str,
        credentials: Credentials | Callable[[], Credentials],
        *,
        region: str | None = None,
        signature_version: str = "v4",
        addressing: str = "auto",
        verify: bool | str = True,
        connect_timeout: float = 10,
        read_timeout: float = 120,
        max_retries: int = 3,
        retry_budget: float = 300.0,
        retry_policy: RetryPolicy | None = None,
        pool_size: int = 32,
    ) -> None:
        """:param max_retries: sends after the first for a failed request (5xx, throttling,
        reset, timeout, an answer cut short); ``retry_policy`` overrides it and
        ``retry_budget``, the seconds after which no request is sent again."""
        parsed = parse_endpoint(endpoint, addressing)
        if signature_version not in ("v4", "v1"):
            raise ValueError(f"signature_version must be 'v4' or 'v1', got {signature_version!r}")
        region = region or region_from_host(parsed.host)
        if region is None and parsed.path_style:
            region = DEFAULT_LOCAL_REGION
        if signature_version == "v4" and not region:
            raise ValueError(
                f"cannot tell the region of endpoint {endpoint!r} for V4 signing; "
                "set region (e.g. 'cn-hangzhou')"
            )
        self._credentials_source = credentials
        self.transport = Transport(
            parsed,
            self._current_credentials,
            region=region,
            signature_version=signature_version,
            verify=verify,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            policy=retry_policy
            or RetryPolicy(
                max_sends=_whole(max_retries, "max_retries") + 1, budget_seconds=retry_budget
            ),
            pool_size=pool_size,
        )

    def _current_credentials(self) -> Credentials:
        source = self._credentials_source
        creds = source() if callable(source) else source
        if not creds.access_key_id or not creds.access_key_secret:
            raise ValueError("OSS credentials need both an AccessKey ID and an AccessKey secret")
        return creds

    @property
    def endpoint(self) -> str:
        """``scheme://host[:port]`` as configured, without a bucket prefix."""
        ep = self.transport.endpoint
        return f"{ep.scheme}://{ep.netloc}"

    @property
    def region(self) -> str | None:
        """The V4 signing region (given, or told by the endpoint host); None only when V1
        signing talks to a host that names no region."""
        return self.transport.region

    @property
    def signature_version(self) -> str:
        """``"v4"`` or ``"v1"``: how every request and presigned URL is signed."""
        return self.transport.signature_version

    def close(self) -> None:
        """Close the pooled connections (leaving a ``with`` block does the same)."""
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OSSClient(endpoint={self.endpoint!r}, region={self.region!r})"

    def _send(self, operation: str, method: str, bucket: str | None, key: str | None = None, **kw):
        if bucket is not None:
            validate_bucket_name(bucket)
        if key is not None:
            validate_key(key)
        return self.transport.send(Request(operation, method, bucket, key, **kw))

    def presign_url(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        expires: int = 3600,
        params: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """A URL anyone can use until it expires (V4: at most 7 days)."""
        validate_bucket_name(bucket)
        validate_key(key)
        query = presign_params(
            method.upper(),
            bucket,
            key,
            normalize_params(params),
            self._current_credentials(),
            version=self.signature_version,
            region=self.region,
            when=time.time(),
            expires=expires,
            headers=headers,
        )
        return self.transport.endpoint.url(bucket, key, canonical_query(query))
