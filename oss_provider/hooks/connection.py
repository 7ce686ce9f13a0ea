"""Airflow Connection -> client settings, in one place (with the alibaba ``oss`` extras and env fallback)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from oss_provider.client.endpoint import endpoint_for_region, parse_endpoint, region_from_host
from oss_provider.client.models import Credentials


@dataclass(frozen=True)
class ConnectionSettings:
    """What a connection says, checked once: endpoint, credentials, region, default bucket,
    the client's timeouts and retries, and the transfer defaults from its extras."""

    endpoint: str
    credentials: Credentials = field(repr=False)
    region: str | None
    bucket_name: str | None
    signature_version: str = "v4"
    addressing: str = "auto"
    verify: bool | str = True
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 3
    retry_budget: float = 300.0
    transfer_defaults: dict[str, Any] = field(default_factory=dict)  # part_size, concurrency, ...

    def client_kwargs(self) -> dict[str, Any]:
        """:class:`~oss_provider.client.api.OSSClient`'s keywords besides endpoint and
        credentials."""
        return {
            "region": self.region,
            "signature_version": self.signature_version,
            "addressing": self.addressing,
            "verify": self.verify,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "max_retries": self.max_retries,
            "retry_budget": self.retry_budget,
        }


def _bool_or_path(value: Any) -> bool | str:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    return text  # a CA bundle path


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _seconds(extra: dict[str, Any], name: str, default: float, conn_id: str) -> float:
    value = extra.get(name)
    try:
        seconds = float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        seconds = -1.0
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"connection {conn_id!r}: extra {name!r} must be a finite number of seconds > 0, "
            f"got {value!r}"
        )
    return seconds


def _retries(extra: dict[str, Any], conn_id: str) -> int:
    value = extra.get("max_retries")
    if value in (None, ""):
        return 3
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if not 0 <= number <= 20:
        raise ValueError(
            f"connection {conn_id!r}: extra 'max_retries' must be a whole number from 0 to 20 "
            f"(sends after the first for a failed request), got {value!r}"
        )
    return number


_MiB = 1024 * 1024


def _transfer_defaults(extra: dict[str, Any], conn_id: str) -> dict[str, Any]:
    """``part_size`` (MiB), ``concurrency`` and ``content_md5`` extras: the transfer defaults of
    every task using the connection (an operator argument wins)."""
    out: dict[str, Any] = {}
    for name, low, high, unit in (("part_size", 0.1, 5120, "MiB"), ("concurrency", 1, 256, "")):
        value = extra.get(name)
        if value in (None, ""):
            continue
        try:
            number = float(str(value).strip())
        except ValueError:
            number = float("nan")
        if not (math.isfinite(number) and low <= number <= high) or (
            name == "concurrency" and not number.is_integer()
        ):
            raise ValueError(
                f"connection {conn_id!r}: extra {name!r} must be a number from {low:g} to "
                f"{high:g}{' ' + unit if unit else ''}, got {value!r}"
            )
        out[name] = int(number * _MiB) if name == "part_size" else int(number)
    md5 = extra.get("content_md5")
    if md5 not in (None, ""):
        text = str(md5).strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(
                f"connection {conn_id!r}: extra 'content_md5' must be true or false, got {md5!r}"
            )
        out["content_md5"] = text in ("true", "1", "yes")
    return out


def _extra_of(conn: Any, conn_id: str) -> dict[str, Any]:
    """The connection's extras, parsed from ``conn.extra`` without Airflow's ``extra_dejson``.

    ``extra_dejson`` hands every extra value to the secrets masker, which logs "Skipping masking
    for a secret as it's too short (<5 chars)" for values such as ``"v4"`` or ``"path"`` (it checks
    the length before it checks whether the key is sensitive). Nothing here is masked: the hook
    masks the AccessKey secret and the STS token, the only secrets, once they are resolved.
    """
    raw = getattr(conn, "extra", None)
    if raw is None and not hasattr(conn, "extra"):  # a connection-like object without .extra
        raw = getattr(conn, "extra_dejson", None)
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"connection {conn_id!r}: extra is not valid JSON; write it as a JSON object, "
            'e.g. {"region": "cn-hangzhou"}'
        ) from None
    if value is None:
        return {}
    if not isinstance(value, dict):  # ValueError: the hook turns it into a failed task
        raise ValueError(  # noqa: TRY004
            f"connection {conn_id!r}: extra must be a JSON object, got {type(value).__name__}; "
            'write it as e.g. {"region": "cn-hangzhou"}'
        )
    return value


def settings_from_connection(conn: Any, conn_id: str) -> ConnectionSettings:
    """Read an ``oss_multipart`` (or alibaba ``oss``) connection; raise ValueError naming the fix."""
    extra = _extra_of(conn, conn_id)
    region = extra.get("region") or None
    host = (conn.host or extra.get("endpoint") or "").strip()
    if conn.port and host and "://" not in host and ":" not in host:
        host = f"{host}:{conn.port}"
    if not host:
        if not region:
            raise ValueError(
                f"connection {conn_id!r} has neither an endpoint (host) nor a region; set one, "
                "e.g. host 'oss-cn-hangzhou.aliyuncs.com' or extra {'region': 'cn-hangzhou'}"
            )
        host = endpoint_for_region(region, internal=_truthy(extra.get("internal", False)))
    try:
        parsed = parse_endpoint(host, extra.get("addressing") or "auto")
    except ValueError as exc:
        raise ValueError(
            f"connection {conn_id!r}: {exc} (the host field, or extra 'addressing')"
        ) from None
    region = region or region_from_host(parsed.host)

    access_key_id = conn.login or extra.get("access_key_id") or os.environ.get("OSS_ACCESS_KEY_ID")
    secret = (
        conn.password or extra.get("access_key_secret") or os.environ.get("OSS_ACCESS_KEY_SECRET")
    )
    token = extra.get("security_token") or (
        os.environ.get("OSS_SESSION_TOKEN") if not conn.login else None
    )
    if not access_key_id or not secret:
        missing = "AccessKey ID (login)" if not access_key_id else "AccessKey secret (password)"
        raise ValueError(
            f"connection {conn_id!r} has no {missing}; set it on the connection or export "
            "OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET"
        )
    version = (extra.get("signature_version") or "v4").lower()
    if version not in ("v4", "v1"):
        raise ValueError(f"connection {conn_id!r}: signature_version must be 'v4' or 'v1'")
    return ConnectionSettings(
        endpoint=host,
        credentials=Credentials(str(access_key_id), str(secret), str(token) if token else None),
        region=region,
        bucket_name=extra.get("bucket_name") or extra.get("bucket") or None,
        signature_version=version,
        addressing=extra.get("addressing") or "auto",
        verify=_bool_or_path(extra.get("verify")),
        connect_timeout=_seconds(extra, "connect_timeout", 10.0, conn_id),
        read_timeout=_seconds(extra, "read_timeout", 120.0, conn_id),
        max_retries=_retries(extra, conn_id),
        retry_budget=_seconds(extra, "retry_budget", 300.0, conn_id),
        transfer_defaults=_transfer_defaults(extra, conn_id),
    )
