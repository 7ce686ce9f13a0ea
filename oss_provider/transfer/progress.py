"""Upload progress that never lies: bytes, percent, MiB/s and ETA, logged at most every few seconds.

A part's bytes are counted once, when the server has acknowledged the part, so a part that is
re-sent after an error never counts twice and the total never overshoots 100 %. Parts that a
resumed upload found already on the server are reported separately ("kept") and left out of the
transfer rate, which measures only what this run sent. Sizes and rates use binary units (KiB, MiB,
GiB: 1 MiB = 1,048,576 bytes), like every other message of this package.

A line stays short so the rate and ETA fit in Airflow's log view: the caller logs the object
(``oss://bucket/key``) once when the parts start and labels progress lines briefly
(``parts 1-8: 24.0 MiB of 64.0 MiB (37.5%), 3 parts, 48.2 MiB/s, ETA 0:00:01``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from oss_provider.units import format_bytes, format_duration

log = logging.getLogger(__name__)

DEFAULT_LOG_INTERVAL = 5.0
MiB = 1024 * 1024

ProgressCallback = Callable[["ProgressSnapshot"], None]


@dataclass(frozen=True)
class ProgressSnapshot:
    """Counters at one moment; ``total`` is None for a stream of unknown length."""

    sent: int  # bytes sent and acknowledged by this run
    kept: int  # bytes found already on the server by a resumed upload (not sent again)
    total: int | None
    elapsed: float  # seconds since the transfer started
    parts_done: int

    @property
    def done(self) -> int:
        """Bytes accounted for: sent by this run plus kept from an earlier one."""
        return self.sent + self.kept

    @property
    def percent(self) -> float | None:
        """``done`` as a percentage of ``total``, capped at 100; None when the total is unknown
        or 0."""
        if not self.total:
            return None
        return min(100.0, 100.0 * self.done / self.total)

    @property
    def rate(self) -> float:
        """Bytes per second sent by this run."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, or None when unknown."""
        if self.total is None or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)


def describe(snapshot: ProgressSnapshot, label: str = "") -> str:
    """One log line: ``label: 120.0 MiB of 256.0 MiB (46.9%), 15 parts, 81.4 MiB/s, ETA 0:00:02``."""
    head = f"{label}: " if label else ""
    if snapshot.total is None:
        amount = format_bytes(snapshot.done)
    else:
        amount = (
            f"{format_bytes(snapshot.done)} of {format_bytes(snapshot.total)} "
            f"({snapshot.percent or 0.0:.1f}%)"
        )
    text = (
        f"{head}{amount}, {snapshot.parts_done} parts, {snapshot.rate / MiB:.1f} MiB/s, "
        f"ETA {format_duration(snapshot.eta)}"
    )
    if snapshot.kept:
        text += f" ({format_bytes(snapshot.kept)} already on the server)"
    return text


class TransferProgress:
    """Thread-safe counters for one transfer, logged (and passed to ``callback``) at most every
    ``interval`` seconds, plus once at :meth:`finish`.

    ``clock`` is injectable so tests need no sleeping.
    """

    def __init__(
        self,
        total: int | None,
        *,
        label: str = "",
        interval: float = DEFAULT_LOG_INTERVAL,
        logger: logging.Logger | None = None,
        callback: ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval < 0:
            raise ValueError(f"progress interval must be >= 0 seconds, got {interval!r}")
        self.total = total
        self.label = label
        self.interval = interval
        self.logger = logger or log
        self.callback = callback
        self._clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._last_report = self._start
        self._sent = 0
        self._kept = 0
        self._parts = 0
        self._finished = False
        self._report_lock = threading.Lock()
        self._reported_parts = 0

    def snapshot(self) -> ProgressSnapshot:
        """The counters now, without logging or calling back."""
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> ProgressSnapshot:
        return ProgressSnapshot(
            self._sent, self._kept, self.total, self._clock() - self._start, self._parts
        )

    def part_sent(self, size: int) -> None:
        """A part was acknowledged by the server (call once per part, after any retries)."""
        self._add(sent=size)

    def part_kept(self, size: int) -> None:
        """A part was already on the server with the right size and CRC (resume)."""
        self._add(kept=size)

    def _add(self, *, sent: int = 0, kept: int = 0) -> None:
        with self._lock:
            self._sent += sent
            self._kept += kept
            self._parts += 1
            now = self._clock()
            due = now - self._last_report >= self.interval
            if due:
                self._last_report = now
            snap = self._snapshot_locked() if due else None
        if snap is not None:
            self._report(snap)

    def finish(self) -> ProgressSnapshot:
        """Report the final counters once (idempotent) and return them."""
        with self._lock:
            snap = self._snapshot_locked()
            first = not self._finished
            self._finished = True
        if first:
            self._report(snap)
        return snap

    def _report(self, snap: ProgressSnapshot) -> None:
        """Log and call back in order: a thread that lost the race to a newer snapshot stays
        quiet, so the log never goes backwards."""
        with self._report_lock:
            if snap.parts_done < self._reported_parts:
                return
            self._reported_parts = snap.parts_done
            self.logger.info("%s", describe(snap, self.label))
            if self.callback is not None:
                self.callback(snap)
