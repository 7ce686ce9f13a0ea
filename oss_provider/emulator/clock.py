"""The server's clock: real time plus an offset that tests can move (stale-upload cleanup, skew)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate


class Clock:
    """Wall clock with a movable offset; every timestamp the emulator shows comes from here."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = float(offset_seconds)
        self._lock = threading.Lock()

    @property
    def offset_seconds(self) -> float:
        return self._offset

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = float(seconds)

    def now(self) -> float:
        """Seconds since the epoch, as the server sees them."""
        return time.time() + self._offset


def http_date(ts: float) -> str:
    """RFC 1123 GMT date with a two-digit day: ``Wed, 28 Dec 2022 10:27:41 GMT``."""
    return formatdate(ts, usegmt=True)


def iso_date(ts: float) -> str:
    """XML date as OSS writes it, always with ``.000Z``."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
