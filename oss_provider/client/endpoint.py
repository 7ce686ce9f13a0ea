"""Endpoint parsing: scheme, host, addressing style and the V4 signing region."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

_REGION_RE = re.compile(r"^oss-([a-z0-9-]+?)(-internal)?\.aliyuncs\.com$")
_DUALSTACK_RE = re.compile(r"^([a-z0-9-]+)\.oss\.aliyuncs\.com$")
ADDRESSING = ("auto", "virtual", "path")


def is_ip_or_localhost(host: str) -> bool:
    """Path-style hosts: IP literals and localhost (as oss2 decides)."""
    name = host.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def region_from_host(host: str) -> str | None:
    """``oss-cn-hangzhou(-internal).aliyuncs.com`` -> ``cn-hangzhou``; None if it cannot tell."""
    hostname = host.split(":")[0].lower()
    match = _REGION_RE.match(hostname)
    if match and not match.group(1).startswith("accelerate"):
        return match.group(1)
    match = _DUALSTACK_RE.match(hostname)
    if match:
        return match.group(1)
    return None


def endpoint_for_region(region: str, *, internal: bool = False) -> str:
    """The public endpoint host of a region id (``cn-hangzhou``); ``internal``: the free
    same-region VPC one (``oss-cn-hangzhou-internal.aliyuncs.com``)."""
    return f"oss-{region}{'-internal' if internal else ''}.aliyuncs.com"


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint; ``path_style`` puts the bucket in the path (IP, localhost) instead of
    the host name."""

    scheme: str
    netloc: str  # host[:port]
    path_style: bool

    @property
    def host(self) -> str:
        """The host name without its port (a bracketed IPv6 netloc is returned whole)."""
        return self.netloc.rsplit(":", 1)[0] if not self.netloc.startswith("[") else self.netloc

    def host_for(self, bucket: str | None) -> str:
        """The netloc a request goes to: ``bucket.netloc`` when virtual-hosted, else the netloc."""
        if bucket and not self.path_style:
            return f"{bucket}.{self.netloc}"
        return self.netloc

    def path_for(self, bucket: str | None, key: str | None) -> str:
        """URL path; ``/`` inside keys is sent as ``%2F`` so no layer can collapse ``..``."""
        encoded_key = quote(key, safe="") if key else ""
        if bucket is None:
            return "/"
        if self.path_style:
            return f"/{bucket}/{encoded_key}"
        return f"/{encoded_key}"

    def url(self, bucket: str | None, key: str | None, query: str = "") -> str:
        """The full URL; ``query`` must already be encoded
        (:func:`~oss_provider.client.signing.canonical_query`)."""
        url = f"{self.scheme}://{self.host_for(bucket)}{self.path_for(bucket, key)}"
        return f"{url}?{query}" if query else url


def parse_endpoint(endpoint: str, addressing: str = "auto") -> Endpoint:
    """Accept ``host``, ``host:port`` or ``scheme://host[:port]``; https when no scheme is given."""
    if not endpoint or not isinstance(endpoint, str):
        raise ValueError("an OSS endpoint is required, e.g. 'oss-cn-hangzhou.aliyuncs.com'")
    if addressing not in ADDRESSING:
        raise ValueError(f"addressing must be one of {ADDRESSING}, got {addressing!r}")
    text = endpoint.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"endpoint {endpoint!r} is not usable; give a host such as "
            "'oss-cn-hangzhou.aliyuncs.com' or a URL such as 'http://127.0.0.1:9000'"
        )
    if parts.path not in ("", "/"):
        raise ValueError(f"endpoint {endpoint!r} must not contain a path ({parts.path!r})")
    netloc = parts.netloc.lower()
    host = parts.hostname or ""
    if addressing == "auto":
        path_style = is_ip_or_localhost(host)
    else:
        path_style = addressing == "path"
    return Endpoint(scheme=parts.scheme, netloc=netloc, path_style=path_style)
