"""The state one emulator instance owns (store, credentials, clock, faults, counters), apart
from the HTTP layer, so the admin API and the request handler both read it without importing
each other."""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import threading
import time
from collections import Counter
from urllib.parse import unquote

from .auth import Credential, CredentialTable, Verifier
from .clock import Clock
from .errors import ServiceError
from .faults import FaultInjector
from .store import Store

# Virtual-hosted real OSS domains: <bucket>.oss-<region>[-internal].aliyuncs.com,
# <bucket>.oss-accelerate[-overseas].aliyuncs.com, <bucket>.<region>.oss.aliyuncs.com (dual stack).
REAL_DOMAIN = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])\."
    r"(?:oss-[a-z0-9-]+|[a-z0-9-]+\.oss)\.aliyuncs\.com$"
)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class Stats:
    """Request counts per operation, error counts per code, bytes received and sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.errors: Counter[str] = Counter()
            self.bytes_received = 0
            self.bytes_sent = 0

    def count(self, operation: str) -> None:
        with self._lock:
            self.requests[operation] += 1

    def error(self, code: str) -> None:
        with self._lock:
            self.errors[code] += 1

    def received(self, n: int) -> None:
        with self._lock:
            self.bytes_received += n

    def sent(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "errors": dict(self.errors),
                "bytes_received": self.bytes_received,
                "bytes_sent": self.bytes_sent,
            }


class Emulator:
    """Everything one server instance owns: state, credentials, clock, faults, counters."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        credentials: list[Credential],
        *,
        buckets: list[str] = (),
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        seed: int | None = None,
        region: str = "cn-hangzhou",
        virtual_host_suffixes: tuple[str, ...] = ("localhost",),
    ) -> None:
        self.clock = Clock()
        self.store = Store(data_dir)
        self.credentials = CredentialTable(credentials)
        self.verifier = Verifier(self.credentials, self.clock.now, region)
        self.faults = FaultInjector(fault_rate, seed, latency_ms)
        self.stats = Stats()
        self.region = region
        self.suffixes = virtual_host_suffixes
        self._ids = itertools.count(1)
        for name in buckets:
            if not any(b.name == name for b in self.store.list_buckets()):
                self.store.create_bucket(name, self.clock.now())

    def new_request_id(self) -> str:
        return f"{int(time.time()) & 0xFFFFFFFF:08X}{next(self._ids) & 0xFFFFFFFF:08X}{os.urandom(4).hex().upper()}"

    def locate(self, host: str, path: str) -> tuple[str | None, str | None, bool]:
        """(bucket, key, virtual-host?) of a request; names percent-decoded."""
        hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        hostname = hostname.strip("[]").lower()
        bucket_raw = None
        virtual = False
        real = REAL_DOMAIN.match(hostname)
        if real is not None:
            bucket_raw, virtual = real.group("bucket"), True
        for suffix in self.suffixes if not virtual else ():
            if hostname.endswith("." + suffix):
                label = hostname[: -len(suffix) - 1]
                if label and "." not in label and not _is_ip(hostname):
                    bucket_raw, virtual = label, True
                    break
        try:
            if virtual:
                key_raw = path.removeprefix("/")
                return bucket_raw, unquote(key_raw, errors="strict") or None, True
            if path in ("", "/"):
                return None, None, False
            bucket_part, _, key_raw = path[1:].partition("/")
            return (
                unquote(bucket_part, errors="strict"),
                unquote(key_raw, errors="strict") or None,
                False,
            )
        except UnicodeDecodeError:
            raise ServiceError(
                "InvalidObjectName", "Object name is not valid UTF-8 after percent-decoding."
            ) from None
