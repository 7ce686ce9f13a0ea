"""Find stale incomplete multipart uploads and abort them, safely (no Airflow import here).

Why a module of its own: incomplete uploads are invisible in object listings and billed until
aborted, and the tools people use for this either stop listing at 1,000, loop forever on a marker
that does not advance, measure age with the worker's clock, abort uploads still being written, or
report success when aborts failed (field-notes.md, section 2, items 17-20). This sweep:

- streams the listing page by page (memory does not grow with the number of uploads) and checks
  that the pagination markers advance;
- measures age with the server's clock (the listing's ``Date`` header vs ``Initiated``);
- optionally skips uploads whose newest part is younger than the threshold (ListParts);
- aborts with a bounded thread pool, retries 5xx, counts ``NoSuchUpload`` as "already gone",
  tries every selected upload and returns a :class:`CleanupReport` whose counts are always
  complete, with per-upload rows capped so the report stays small enough for XCom.
"""

from __future__ import annotations

import fnmatch
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from .errors import NoSuchUpload, OSSError, OSSResponseError, OSSTransportError
from .limits import MAX_LIST_PAGE
from .models import PartsPage, UploadInfo, UploadsPage

log = logging.getLogger(__name__)

DEFAULT_OLDER_THAN = timedelta(hours=24)
DEFAULT_CONCURRENCY = 16
DEFAULT_MAX_ROWS = 500
DEFAULT_RETRIES = 2
MAX_ERROR_CHARS = 300
_MAX_WARNINGS = 20  # per kind, so a bucket full of odd entries does not flood the log

# Per-upload actions (the ``action`` of a row and the keys of ``CleanupReport.counts``).
ABORTED = "aborted"
ALREADY_GONE = "already_gone"
FAILED = "failed"
SKIPPED_ACTIVE = "skipped_active"
SKIPPED_MAX_ABORTS = "skipped_max_aborts"
WOULD_ABORT = "would_abort"
SKIPPED_NO_INITIATED = "skipped_no_initiated"
STALE_OUTCOMES = (ABORTED, ALREADY_GONE, FAILED, SKIPPED_ACTIVE, SKIPPED_MAX_ABORTS, WOULD_ABORT)


class CleanupClient(Protocol):
    """The three ``OSSClient`` methods the sweep uses."""

    def iter_multipart_upload_pages(
        self, bucket: str, *, prefix: str | None = None, page_size: int = 1000
    ) -> Iterator[UploadsPage]: ...

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> bool: ...

    def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        max_parts: int = 1000,
        part_number_marker: int = 0,
    ) -> PartsPage: ...


class ListingError(RuntimeError):
    """The upload listing cannot be trusted (markers that do not advance)."""


# --------------------------------------------------------------------------- argument parsing

_UNITS = {
    "w": 604_800,
    "week": 604_800,
    "weeks": 604_800,
    "d": 86_400,
    "day": 86_400,
    "days": 86_400,
    "h": 3_600,
    "hr": 3_600,
    "hrs": 3_600,
    "hour": 3_600,
    "hours": 3_600,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
}
_TERM = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?")


def _duration_error(value: object, why: str = "") -> ValueError:
    return ValueError(
        f"older_than={value!r} is not a usable age{': ' + why if why else ''}. Use a timedelta, a "
        "pendulum Duration, a number of seconds, an ISO-8601 duration such as 'P7D', or a string "
        "such as '24h', '7d', '90m' or '1d12h' (units w, d, h, m, s)."
    )


def parse_older_than(value: object) -> timedelta:
    """Turn ``older_than`` into a positive ``timedelta``; ``None`` means the 24-hour default.

    Accepts a ``timedelta`` (a pendulum ``Duration`` is one), a number of seconds, a numeric string,
    an ISO-8601 duration (``"P7D"``, ``"PT36H"``) or unit strings like ``"24h"``, ``"7d"``,
    ``"1d12h"``, ``"2 days 3 hours"``.
    """
    if value is None:
        return DEFAULT_OLDER_THAN
    if isinstance(value, bool):
        raise _duration_error(value)
    if isinstance(value, timedelta):
        result = timedelta(seconds=value.total_seconds())
    elif isinstance(value, int | float):
        result = timedelta(seconds=float(value))
    elif isinstance(value, str):
        result = _parse_duration_text(value)
    else:
        raise _duration_error(value, f"unsupported type {type(value).__name__}")
    if result <= timedelta(0):
        raise _duration_error(
            value, "it must be positive (a zero age would abort uploads being written right now)"
        )
    return result


def _parse_duration_text(value: str) -> timedelta:
    text = value.strip().lower()
    if not text:
        raise _duration_error(value, "it is empty")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    if text.startswith("p"):
        import pendulum

        try:
            parsed = pendulum.parse(text.upper())
        except Exception as exc:  # noqa: BLE001 - pendulum raises its own ParserError
            raise _duration_error(value, str(exc)) from None
        if not isinstance(parsed, timedelta):
            raise _duration_error(value, "it is a date, not a duration")
        return timedelta(seconds=parsed.total_seconds())
    seconds = 0.0
    pos = 0
    while pos < len(text):
        match = _TERM.match(text, pos)
        if not match or match.group(2) not in _UNITS:
            raise _duration_error(value)
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return timedelta(seconds=seconds)


def _as_patterns(value: str | Iterable[str] | None, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    out = tuple(value)
    for item in out:
        if not isinstance(item, str):
            raise TypeError(f"{name} must be strings (glob patterns), got {item!r}")
    return tuple(p for p in out if p)


def normalize_prefixes(prefixes: str | Iterable[str] | None) -> tuple[str, ...]:
    """Sorted prefixes with the ones covered by a shorter prefix dropped (no upload counted twice).

    ``None``, ``""`` or an empty list mean the whole bucket (``("",)``).
    """
    if prefixes is None or isinstance(prefixes, str):
        items: tuple[str, ...] = (prefixes or "",)
    else:
        items = tuple(prefixes)
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"prefixes must be strings, got {item!r}")
    if not items or "" in items:
        return ("",)
    kept: list[str] = []
    for prefix in sorted(set(items)):
        if not any(prefix.startswith(k) for k in kept):
            kept.append(prefix)
    return tuple(kept)


def key_selected(key: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Glob filter on the whole key (case-sensitive; ``*`` also matches ``/``)."""
    if include and not any(fnmatch.fnmatchcase(key, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(key, p) for p in exclude)


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


def format_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


# --------------------------------------------------------------------------- options and report


@dataclass(frozen=True)
class CleanupOptions:
    """Validated settings of one sweep (see :func:`abort_stale_uploads` for their meaning)."""

    prefixes: tuple[str, ...] = ("",)
    older_than: timedelta = DEFAULT_OLDER_THAN
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    dry_run: bool = False
    max_aborts: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    skip_active: bool = False
    active_within: timedelta | None = None
    list_parts: bool = False
    page_size: int = MAX_LIST_PAGE
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = 0.2
    max_rows: int = DEFAULT_MAX_ROWS

    @classmethod
    def build(
        cls,
        *,
        prefixes: str | Iterable[str] | None = None,
        older_than: object = None,
        include: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        dry_run: bool = False,
        max_aborts: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        skip_active: bool = False,
        active_within: object = None,
        list_parts: bool = False,
        page_size: int = MAX_LIST_PAGE,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = 0.2,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> CleanupOptions:
        """Parse and check every argument; bad input raises ``ValueError`` saying how to fix it."""
        if not isinstance(dry_run, bool):
            raise TypeError(f"dry_run must be True or False, got {dry_run!r}")
        if max_aborts is not None and (isinstance(max_aborts, bool) or int(max_aborts) < 0):
            raise ValueError(f"max_aborts must be None (no cap) or >= 0, got {max_aborts!r}")
        if isinstance(concurrency, bool) or not 1 <= int(concurrency) <= 256:
            raise ValueError(f"concurrency must be between 1 and 256, got {concurrency!r}")
        if not 1 <= int(page_size) <= MAX_LIST_PAGE:
            raise ValueError(f"page_size must be between 1 and {MAX_LIST_PAGE}, got {page_size!r}")
        if int(retries) < 0:
            raise ValueError(f"retries must be >= 0, got {retries!r}")
        if int(max_rows) < 0:
            raise ValueError(f"max_rows must be >= 0, got {max_rows!r}")
        window = None
        if active_within is not None:
            try:
                window = parse_older_than(active_within)
            except ValueError as exc:
                raise ValueError(str(exc).replace("older_than=", "active_within=", 1)) from None
        return cls(
            prefixes=normalize_prefixes(prefixes),
            older_than=parse_older_than(older_than),
            include=_as_patterns(include, "include"),
            exclude=_as_patterns(exclude, "exclude"),
            dry_run=dry_run,
            max_aborts=None if max_aborts is None else int(max_aborts),
            concurrency=int(concurrency),
            skip_active=bool(skip_active),
            active_within=window,
            list_parts=bool(list_parts),
            page_size=int(page_size),
            retries=int(retries),
            retry_backoff=float(retry_backoff),
            max_rows=int(max_rows),
        )

    @property
    def needs_parts(self) -> bool:
        return self.skip_active or self.list_parts

    @property
    def active_threshold(self) -> timedelta:
        return self.active_within or self.older_than


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
    def _add_row(self, row: dict[str, Any]) -> None:
        self._rows_total += 1
        cap = self.options.max_rows
        if row["action"] == FAILED:
            if len(self._failed_rows) < cap:
                self._failed_rows.append(row)
        elif len(self._other_rows) < cap:
            self._other_rows.append(row)

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


# --------------------------------------------------------------------------- the sweep


@dataclass
class _Candidate:
    info: UploadInfo
    age: timedelta
    # server time when the listing page arrived, and the monotonic time of that moment
    server_now: datetime
    seen_at: float


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, NoSuchUpload):
        return False
    if isinstance(exc, OSSError | OSSTransportError):
        return bool(exc.retryable)
    if isinstance(exc, OSSResponseError):
        return exc.status >= 500
    return False


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSSError) else str(exc)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class _Sweep:
    def __init__(
        self,
        client: CleanupClient,
        bucket: str,
        options: CleanupOptions,
        stop_event: threading.Event | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.opts = options
        self.stop = stop_event or threading.Event()
        self.sleep = sleep
        self.report = CleanupReport(bucket, options)
        self.lock = threading.Lock()
        self.reserved = 0
        self.warned: dict[str, int] = {}
        self.local_clock_warned = False
        self.server_now: datetime | None = None

    # -- helpers
    def _warn(self, kind: str, msg: str, *args: object) -> None:
        n = self.warned.get(kind, 0) + 1
        self.warned[kind] = n
        if n <= _MAX_WARNINGS:
            log.warning(msg, *args)
        elif n == _MAX_WARNINGS + 1:
            log.warning("... more %s warnings are not logged; the report counts them all", kind)

    def _count(self, name: str) -> None:
        with self.lock:
            self.report.counts[name] += 1

    def _record(
        self,
        cand: _Candidate | None,
        info: UploadInfo,
        action: str,
        error: str | None = None,
        parts: int | None = None,
        nbytes: int | None = None,
    ) -> None:
        row = {
            "key": info.key,
            "upload_id": info.upload_id,
            "initiated": _iso(info.initiated) if isinstance(info.initiated, datetime) else None,
            "age_seconds": int(cand.age.total_seconds()) if cand else None,
            "action": action,
            "error": error,
            "parts": parts,
            "bytes": nbytes,
        }
        with self.lock:
            self.report.counts[action] += 1
            if action == ABORTED and nbytes is not None:
                self.report.bytes_freed += nbytes
                self.report.parts_freed += parts or 0
            if action == WOULD_ABORT and nbytes is not None:
                self.report.bytes_would_free += nbytes
            self.report._add_row(row)
        if action == FAILED:
            log.warning("abort of %r (upload %s) failed: %s", info.key, info.upload_id, error)

    def _page_time(self, page: UploadsPage) -> datetime:
        date = page.server_date
        if isinstance(date, datetime):
            date = date.replace(tzinfo=UTC) if date.tzinfo is None else date.astimezone(UTC)
            self.server_now = date
            if self.report.server_time is None:
                self.report.server_time = date
            return date
        if self.server_now is not None:
            return self.server_now
        if not self.local_clock_warned:
            self.local_clock_warned = True
            log.warning(
                "the ListMultipartUploads answer has no usable Date header; ages are measured with "
                "this machine's clock, which may be off"
            )
        self.report.clock_source = "local"
        return datetime.now(UTC)

    def _reserve(self) -> bool:
        with self.lock:
            cap = self.opts.max_aborts
            if cap is not None and self.reserved >= cap:
                return False
            self.reserved += 1
            return True

    def _cap_reached(self) -> bool:
        cap = self.opts.max_aborts
        return cap is not None and self.reserved >= cap

    def _with_retries(self, what: str, fn: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                if not _retryable(exc) or attempt >= self.opts.retries or self.stop.is_set():
                    raise
                attempt += 1
                delay = self.opts.retry_backoff * (2 ** (attempt - 1))
                delay *= 0.5 + random.random()
                log.info("%s: %s; retry %d of %d", what, _short(exc), attempt, self.opts.retries)
                self.sleep(delay)

    # -- per upload
    def _scan_parts(self, info: UploadInfo) -> tuple[datetime | None, int, int]:
        """(newest LastModified, total bytes, part count) of one upload, all ListParts pages."""
        newest: datetime | None = None
        total = count = 0
        marker = 0
        while True:
            page = self._with_retries(
                "ListParts",
                lambda m=marker: self.client.list_parts(
                    self.bucket, info.key, info.upload_id, max_parts=1000, part_number_marker=m
                ),
            )
            for part in page.parts:
                total += int(part.size or 0)
                count += 1
                lm = part.last_modified
                if isinstance(lm, datetime):
                    lm = lm.replace(tzinfo=UTC) if lm.tzinfo is None else lm
                    if newest is None or lm > newest:
                        newest = lm
            if not page.is_truncated:
                return newest, total, count
            if page.next_part_number_marker <= marker:
                raise ListingError(
                    f"ListParts of {info.key!r} ({info.upload_id}) did not advance its "
                    f"part-number marker ({marker} -> {page.next_part_number_marker})"
                )
            marker = page.next_part_number_marker

    def process(self, cand: _Candidate) -> None:
        """Decide and act on one stale upload; never raises (every outcome is recorded)."""
        info = cand.info
        try:
            if self.stop.is_set():
                self._record(cand, info, FAILED, "not tried: the sweep was cancelled")
                return
            parts = nbytes = None
            if self.opts.needs_parts:
                try:
                    newest, nbytes, parts = self._scan_parts(info)
                except NoSuchUpload:
                    self._record(cand, info, ALREADY_GONE)
                    return
                except Exception as exc:  # noqa: BLE001 - recorded as this upload's failure
                    self._record(
                        cand, info, FAILED, f"ListParts failed, not aborted: {_short(exc)}"
                    )
                    return
                if self.opts.skip_active and newest is not None:
                    now = cand.server_now + timedelta(seconds=time.monotonic() - cand.seen_at)
                    idle = now - newest
                    if idle < self.opts.active_threshold:
                        self._record(
                            cand,
                            info,
                            SKIPPED_ACTIVE,
                            f"newest part written {format_age(idle.total_seconds())} ago",
                            parts,
                            nbytes,
                        )
                        return
            if not self._reserve():
                self._record(cand, info, SKIPPED_MAX_ABORTS, None, parts, nbytes)
                return
            if self.opts.dry_run:
                self._record(cand, info, WOULD_ABORT, None, parts, nbytes)
                return
            try:
                removed = self._with_retries(
                    "AbortMultipartUpload",
                    lambda: self.client.abort_multipart_upload(
                        self.bucket, info.key, info.upload_id
                    ),
                )
            except NoSuchUpload:
                removed = False
            except Exception as exc:  # noqa: BLE001 - recorded as this upload's failure
                self._record(cand, info, FAILED, _short(exc), parts, nbytes)
                return
            if removed is False:
                self._record(cand, info, ALREADY_GONE, None, parts, None)
            else:
                self._record(cand, info, ABORTED, None, parts, nbytes)
        except BaseException as exc:  # a bug must still show up as a failure, never as success
            self._record(cand, info, FAILED, f"unexpected error: {_short(exc)}")
            if not isinstance(exc, Exception):
                raise

    # -- listing
    def classify(self, info: UploadInfo, now: datetime) -> _Candidate | None:
        """Count one listed upload; return it when it is stale and selected."""
        self._count("seen")
        if not key_selected(info.key, self.opts.include, self.opts.exclude):
            self._count("filtered_out")
            return None
        initiated = info.initiated
        if not isinstance(initiated, datetime):
            self._warn(
                "Initiated",
                "skipping upload %s of %r: its Initiated time is missing or unparsable (%r)",
                info.upload_id,
                info.key,
                initiated,
            )
            self._record(None, info, SKIPPED_NO_INITIATED, "Initiated missing or unparsable")
            return None
        if initiated.tzinfo is None:
            initiated = initiated.replace(tzinfo=UTC)
        age = now - initiated
        if age <= self.opts.older_than:
            self._count("fresh")
            return None
        self._count("stale")
        return _Candidate(info, age, now, time.monotonic())

    def pages(self, prefix: str) -> Iterator[UploadsPage]:
        """Pages of one prefix, with a guard against markers that do not advance."""
        previous: tuple[str, str] | None = None
        for page in self.client.iter_multipart_upload_pages(
            self.bucket, prefix=prefix or None, page_size=self.opts.page_size
        ):
            yield page
            if not page.is_truncated:
                return
            marker = (page.next_key_marker or "", page.next_upload_id_marker or "")
            if marker == ("", "") or marker == (page.key_marker or "", page.upload_id_marker or ""):
                raise ListingError(
                    f"ListMultipartUploads of {self.bucket!r} (prefix {prefix!r}) is truncated but "
                    f"its markers did not advance (key-marker {marker[0]!r}, upload-id-marker "
                    f"{marker[1]!r}); stopping instead of looping"
                )
            if previous is not None and (marker == previous or marker[0] < previous[0]):
                raise ListingError(
                    f"ListMultipartUploads of {self.bucket!r} (prefix {prefix!r}) went back or "
                    f"repeated a page (markers {previous!r} -> {marker!r}); stopping instead of "
                    "looping"
                )
            previous = marker

    def run(self) -> CleanupReport:
        report = self.report
        report.started_at = datetime.now(UTC)
        started = time.monotonic()
        inline = not self.opts.needs_parts and self.opts.dry_run  # no request per upload
        in_flight = threading.BoundedSemaphore(self.opts.concurrency * 2)
        try:
            with ThreadPoolExecutor(
                max_workers=self.opts.concurrency, thread_name_prefix="oss-cleanup"
            ) as pool:
                try:
                    for prefix in self.opts.prefixes:
                        for page in self.pages(prefix):
                            with self.lock:
                                report.pages += 1
                            now = self._page_time(page)
                            for info in page.uploads:
                                cand = self.classify(info, now)
                                if cand is None:
                                    continue
                                if self._cap_reached():
                                    self._record(cand, info, SKIPPED_MAX_ABORTS)
                                elif inline:
                                    self.process(cand)
                                else:
                                    in_flight.acquire()
                                    future = pool.submit(self.process, cand)
                                    future.add_done_callback(lambda _f: in_flight.release())
                            if self.stop.is_set():
                                raise ListingError("the sweep was cancelled")
                    report.listing_complete = True
                except Exception as exc:  # noqa: BLE001 - reported; the operator fails on it
                    report.listing_error = _short(exc)
                    log.error("listing stopped: %s", report.listing_error)
        finally:
            report.duration_seconds = time.monotonic() - started
        return report


def abort_stale_uploads(
    client: CleanupClient,
    bucket: str,
    *,
    prefixes: str | Iterable[str] | None = None,
    older_than: object = DEFAULT_OLDER_THAN,
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    dry_run: bool = False,
    max_aborts: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    skip_active: bool = False,
    active_within: object = None,
    list_parts: bool = False,
    page_size: int = MAX_LIST_PAGE,
    retries: int = DEFAULT_RETRIES,
    max_rows: int = DEFAULT_MAX_ROWS,
    stop_event: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CleanupReport:
    """Abort incomplete multipart uploads older than ``older_than`` (by the server's clock).

    :param prefixes: key prefixes to sweep (``None``/``""``: the whole bucket); overlapping ones
        are merged so no upload is counted twice.
    :param older_than: minimum age since ``Initiated`` (strictly older is stale); default 24 h.
    :param include: glob patterns; when given, the key must match one of them.
    :param exclude: glob patterns; a key matching any of them is left alone.
    :param dry_run: list and decide, but abort nothing (``would_abort`` counts what would go).
    :param max_aborts: at most this many abort requests (the rest count as ``skipped_max_aborts``).
    :param concurrency: parallel requests (thread pool; at most twice this many queued).
    :param skip_active: list the parts of each stale upload and skip it when its newest part is
        younger than ``active_within`` (default: ``older_than``): an upload still being written.
    :param list_parts: list parts to report the bytes freed even without ``skip_active``.
    :param retries: extra attempts on 5xx/transport errors, on top of the client's own retries.
    :param max_rows: per-upload rows kept in the report (failed ones first); counts stay complete.
    :param stop_event: set it to stop early (``on_kill``); unstarted aborts are reported failed.
    """
    options = CleanupOptions.build(
        prefixes=prefixes,
        older_than=older_than,
        include=include,
        exclude=exclude,
        dry_run=dry_run,
        max_aborts=max_aborts,
        concurrency=concurrency,
        skip_active=skip_active,
        active_within=active_within,
        list_parts=list_parts,
        page_size=page_size,
        retries=retries,
        max_rows=max_rows,
    )
    return run_cleanup(client, bucket, options, stop_event=stop_event, sleep=sleep)


def run_cleanup(
    client: CleanupClient,
    bucket: str,
    options: CleanupOptions,
    *,
    stop_event: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CleanupReport:
    """Run one sweep with already validated options (the operator builds them before it runs)."""
    if not bucket:
        raise ValueError("bucket is empty: pass bucket_name or set it on the connection")
    return _Sweep(client, bucket, options, stop_event, sleep).run()
