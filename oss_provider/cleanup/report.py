"""What a sweep saw and did: :class:`CleanupReport`, its per-upload actions and its formatting.

Counts are always complete; per-upload rows are capped (failed ones first) so the report stays
small enough for XCom. ``format_age`` / ``format_bytes`` make the task-log table readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oss_provider.cleanup.options import CleanupOptions
from oss_provider.units import format_bytes

# Per-upload actions (the ``action`` of a row and the keys of ``CleanupReport.counts``).
ABORTED = "aborted"
ALREADY_GONE = "already_gone"
FAILED = "failed"
SKIPPED_ACTIVE = "skipped_active"
SKIPPED_MAX_ABORTS = "skipped_max_aborts"
WOULD_ABORT = "would_abort"
SKIPPED_NO_INITIATED = "skipped_no_initiated"
STALE_OUTCOMES = (ABORTED, ALREADY_GONE, FAILED, SKIPPED_ACTIVE, SKIPPED_MAX_ABORTS, WOULD_ABORT)


def format_age(seconds: float | None) -> str:
    """``93784`` -> ``"1d 2h 3m"``: ages people can read in a log table."""
    if seconds is None:
        return "-"
    total = int(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h {minutes}m"
    elif hours:
        text = f"{hours}h {minutes}m"
    elif minutes:
        text = f"{minutes}m {secs}s"
    else:
        text = f"{secs}s"
    return sign + text


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CleanupReport:
    """What a sweep saw and did. Counts are always complete; ``rows`` is capped at ``max_rows``.

    ``counts``: ``seen`` (listed), ``filtered_out`` (include/exclude globs), ``skipped_no_initiated``
    (missing or unparsable ``Initiated``), ``fresh`` (younger than the threshold), ``stale``, and for
    the stale ones exactly one of ``aborted``, ``already_gone``, ``failed``, ``skipped_active``,
    ``skipped_max_aborts`` or ``would_abort`` (dry run).
    """

    bucket: str
    options: CleanupOptions
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("seen", "filtered_out", SKIPPED_NO_INITIATED, "fresh", "stale", *STALE_OUTCOMES), 0
        )
    )
    bytes_freed: int = 0
    parts_freed: int = 0
    bytes_would_free: int = 0
    pages: int = 0
    server_time: datetime | None = None
    clock_source: str = "server"
    listing_complete: bool = False
    listing_error: str | None = None
    started_at: datetime | None = None
    duration_seconds: float = 0.0
    _failed_rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _other_rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _rows_total: int = 0

    # -- recording (called under the sweep's lock)
    def _keeps_row(self, action: str) -> bool:
        """Count one per-upload row; True when the capped lists still have room for it (so the
        sweep builds only the rows it keeps: at most ``2 * max_rows``, whatever the count)."""
        self._rows_total += 1
        kept = self._failed_rows if action == FAILED else self._other_rows
        return len(kept) < self.options.max_rows

    def _store_row(self, row: dict[str, Any]) -> None:
        (self._failed_rows if row["action"] == FAILED else self._other_rows).append(row)

    def _add_row(self, row: dict[str, Any]) -> None:
        if self._keeps_row(row["action"]):
            self._store_row(row)

    # -- reading
    @property
    def rows(self) -> list[dict[str, Any]]:
        """Failed rows first (they matter most), then the others, at most ``max_rows``."""
        rows = self._failed_rows + self._other_rows
        return rows[: self.options.max_rows]

    @property
    def rows_omitted(self) -> int:
        return self._rows_total - len(self.rows)

    @property
    def failed_rows(self) -> list[dict[str, Any]]:
        return list(self._failed_rows[: self.options.max_rows])

    @property
    def ok(self) -> bool:
        """True when the listing finished and no selected upload failed."""
        return self.listing_complete and self.listing_error is None and not self.counts[FAILED]

    @property
    def parts_listed(self) -> bool:
        return self.options.needs_parts

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for XCom (plain str/int/bool/None/list/dict only)."""
        opts = self.options
        return {
            "bucket": self.bucket,
            "prefixes": list(opts.prefixes),
            "include": list(opts.include),
            "exclude": list(opts.exclude),
            "older_than_seconds": int(opts.older_than.total_seconds()),
            "dry_run": opts.dry_run,
            "max_aborts": opts.max_aborts,
            "concurrency": opts.concurrency,
            "skip_active": opts.skip_active,
            "active_within_seconds": int(opts.active_threshold.total_seconds())
            if opts.skip_active
            else None,
            "ok": self.ok,
            "counts": dict(self.counts),
            "parts_listed": self.parts_listed,
            "bytes_freed": self.bytes_freed if self.parts_listed else None,
            "parts_freed": self.parts_freed if self.parts_listed else None,
            "bytes_would_free": self.bytes_would_free
            if (self.parts_listed and opts.dry_run)
            else None,
            "pages": self.pages,
            "server_time": _iso(self.server_time),
            "clock_source": self.clock_source,
            "listing_complete": self.listing_complete,
            "listing_error": self.listing_error,
            "started_at": _iso(self.started_at),
            "duration_seconds": round(self.duration_seconds, 3),
            "rows": [dict(r) for r in self.rows],
            "rows_omitted": self.rows_omitted,
        }

    def summary(self) -> str:
        """One line with every count."""
        c = self.counts
        text = (
            f"seen {c['seen']}, stale {c['stale']}, aborted {c[ABORTED]}, "
            f"already gone {c[ALREADY_GONE]}, failed {c[FAILED]}, "
            f"skipped active {c[SKIPPED_ACTIVE]}, skipped by max_aborts {c[SKIPPED_MAX_ABORTS]}, "
            f"would abort (dry run) {c[WOULD_ABORT]}, fresh {c['fresh']}, "
            f"filtered out {c['filtered_out']}, no Initiated {c[SKIPPED_NO_INITIATED]}"
        )
        if self.parts_listed:
            if self.options.dry_run:
                text += f"; would free {format_bytes(self.bytes_would_free)}"
            else:
                text += f"; freed {format_bytes(self.bytes_freed)} in {self.parts_freed} parts"
        return text

    def format_table(self) -> str:
        """A readable multi-line table for the task log."""
        opts = self.options
        head = (
            f"Stale multipart uploads in bucket {self.bucket!r}: prefixes "
            f"{', '.join(repr(p) for p in opts.prefixes)}, older than "
            f"{format_age(opts.older_than.total_seconds())} by the "
            f"{'server' if self.clock_source == 'server' else 'LOCAL'} clock"
            f"{' (server time ' + _iso(self.server_time) + ')' if self.server_time else ''}"
            f"{', DRY RUN' if opts.dry_run else ''}"
        )
        lines = [head, self.summary()]
        if self.listing_error:
            lines.append(f"LISTING FAILED: {self.listing_error}")
        rows = sorted(self.rows, key=lambda r: (r["action"] != FAILED, r["action"], r["key"]))
        if rows:
            width = min(max(len(r["key"]) for r in rows), 60)
            lines.append(
                f"{'ACTION':<19} {'AGE':>12} {'INITIATED (UTC)':<20} {'KEY':<{width}} "
                f"{'UPLOAD ID':<32} {'BYTES':>10} ERROR"
            )
            for r in rows:
                key = r["key"] if len(r["key"]) <= width else r["key"][: width - 1] + "…"
                lines.append(
                    f"{r['action']:<19} {format_age(r['age_seconds']):>12} "
                    f"{r['initiated'] or '-':<20} {key:<{width}} {r['upload_id']:<32} "
                    f"{format_bytes(r['bytes']) if r['bytes'] is not None else '-':>10} "
                    f"{r['error'] or ''}".rstrip()
                )
        if self.rows_omitted:
            lines.append(
                f"... {self.rows_omitted} more rows not shown (max_rows={opts.max_rows}); "
                "the counts above are complete"
            )
        return "\n".join(lines)
