"""The sweep engine: list stale incomplete multipart uploads and abort them, safely.

No Airflow import here. Incomplete uploads are invisible in object listings and billed until
aborted, and the tools people use for this either stop listing at 1,000, loop forever on a marker
that does not advance, measure age with the worker's clock, abort uploads still being written, or
report success when aborts failed (field-notes.md, section 2, items 17-20). This sweep:

- streams the listing page by page (memory does not grow with the number of uploads) and checks
  that the pagination markers advance;
- measures age with the server's clock (the listing's ``Date`` header vs ``Initiated``): an upload
  initiated within ``older_than`` by that clock is never touched;
- by default (``skip_active=True``) lists the parts of each stale upload and keeps it when its
  newest part is younger than ``active_within`` (default ``older_than``): it is being resumed;
- aborts with a bounded thread pool, retries 5xx, counts ``NoSuchUpload`` as "already gone",
  tries every selected upload and returns a :class:`CleanupReport` whose counts are always
  complete, with per-upload rows capped so the report stays small enough for XCom.

Arguments are parsed in :mod:`.options`, the report lives in :mod:`.report`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ..errors import NoSuchUpload, OSSError, is_retryable
from ..limits import MAX_LIST_PAGE
from ..models import PartInfo, UploadInfo, UploadsPage
from .options import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ROWS,
    DEFAULT_OLDER_THAN,
    DEFAULT_RETRIES,
    DEFAULT_SKIP_ACTIVE,
    CleanupOptions,
    key_selected,
)
from .report import (
    ABORTED,
    ALREADY_GONE,
    FAILED,
    SKIPPED_ACTIVE,
    SKIPPED_MAX_ABORTS,
    SKIPPED_NO_INITIATED,
    WOULD_ABORT,
    CleanupReport,
    _iso,
    format_age,
)

# One logger for the whole sweep, named after the package users know (and configure).
log = logging.getLogger("oss_provider.client.cleanup")

MAX_ERROR_CHARS = 300
_MAX_WARNINGS = 20  # per kind, so a bucket full of odd entries does not flood the log


class CleanupClient(Protocol):
    """The three ``OSSClient`` methods the sweep uses."""

    def iter_multipart_upload_pages(
        self, bucket: str, *, prefix: str | None = None, page_size: int = 1000
    ) -> Iterator[UploadsPage]: ...

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> bool: ...

    def iter_parts(self, bucket: str, key: str, upload_id: str) -> Iterator[PartInfo]: ...


class ListingError(RuntimeError):
    """The upload listing cannot be trusted (markers that do not advance)."""


@dataclass
class _Candidate:
    info: UploadInfo
    age: timedelta
    # server time when the listing page arrived, and the monotonic time of that moment
    server_now: datetime
    seen_at: float


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
                if not is_retryable(exc) or attempt >= self.opts.retries or self.stop.is_set():
                    raise
                attempt += 1
                delay = self.opts.retry_backoff * (2 ** (attempt - 1))
                delay *= 0.5 + random.random()
                log.info("%s: %s; retry %d of %d", what, _short(exc), attempt, self.opts.retries)
                self.sleep(delay)

    # -- per upload
    def _scan_parts(self, info: UploadInfo) -> tuple[datetime | None, int, int]:
        """(newest LastModified, total bytes, part count) of one upload, all ListParts pages
        (the client's paging)."""
        return self._with_retries("ListParts", lambda: self._sum_parts(info))

    def _sum_parts(self, info: UploadInfo) -> tuple[datetime | None, int, int]:
        newest: datetime | None = None
        total = count = 0
        for part in self.client.iter_parts(self.bucket, info.key, info.upload_id):
            total += int(part.size or 0)
            count += 1
            lm = part.last_modified
            if isinstance(lm, datetime):
                lm = lm.replace(tzinfo=UTC) if lm.tzinfo is None else lm
                if newest is None or lm > newest:
                    newest = lm
        return newest, total, count

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
    skip_active: bool = DEFAULT_SKIP_ACTIVE,
    active_within: object = None,
    list_parts: bool = False,
    page_size: int = MAX_LIST_PAGE,
    retries: int = DEFAULT_RETRIES,
    retry_backoff: float = 0.2,
    max_rows: int = DEFAULT_MAX_ROWS,
    stop_event: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CleanupReport:
    """Abort incomplete multipart uploads older than ``older_than`` (by the server's clock).

    Every argument is checked before the first request: bad input raises ``ValueError`` or
    ``TypeError`` naming the argument and the accepted forms.

    :param prefixes: a key prefix or a list/tuple of them (``None``/``""``: the whole bucket);
        overlapping ones are merged so no upload is counted twice.
    :param older_than: minimum age since ``Initiated`` by the server's clock (strictly older is
        stale; an upload initiated within it is never aborted); default 24 h. A ``timedelta``, a
        pendulum ``Duration``, seconds, ``"P7D"`` or ``"24h"``/``"7d"``/``"1d12h"``; positive,
        finite, at most 100 years.
    :param include: a glob pattern or a list/tuple of them; when given, the key must match one.
    :param exclude: a glob pattern or a list/tuple of them; a matching key is left alone.
    :param dry_run: list and decide, but abort nothing (``would_abort`` counts what would go).
    :param max_aborts: at most this many abort requests (the rest count as ``skipped_max_aborts``).
    :param concurrency: parallel requests (thread pool; at most twice this many queued).
    :param skip_active: (default True) list the parts of each stale upload and keep it when its
        newest part is younger than ``active_within`` (default: ``older_than``): an old upload
        being resumed right now is not cut off. Costs one ListParts per stale upload and also
        reports the bytes freed. ``False`` aborts by ``Initiated`` alone.
    :param active_within: how recent the newest part must be for the upload to count as active.
    :param list_parts: list parts to report the bytes freed even without ``skip_active``.
    :param retries: extra sweep-level attempts after the client's retry policy gave up (default
        0: one retry policy, in the transport; raise it only for a flaky proxy).
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
        retry_backoff=retry_backoff,
        max_rows=max_rows,
    )
    return run_cleanup(client, bucket, options, stop_event=stop_event, sleep=sleep)


def run_cleanup(
    client: CleanupClient,
    bucket: str,
    options: CleanupOptions | None = None,
    *,
    stop_event: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CleanupReport:
    """Run one sweep with already validated options (default: ``CleanupOptions()``, whose
    defaults are the safe ones: 24 hours, ``skip_active=True``)."""
    if options is None:
        options = CleanupOptions()
    elif not isinstance(options, CleanupOptions):
        raise TypeError(
            f"options must be a CleanupOptions (build it with CleanupOptions.build(...)), "
            f"got {type(options).__name__}"
        )
    if not bucket or not isinstance(bucket, str):
        raise ValueError(
            f"bucket={bucket!r} is not a bucket name: pass bucket_name or set it on the connection"
        )
    return _Sweep(client, bucket, options, stop_event, sleep).run()
