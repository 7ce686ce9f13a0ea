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
- aborts with ``concurrency`` worker threads fed a page at a time from a bounded backlog (at
  most about two pages of candidates in memory), retries 5xx, counts ``NoSuchUpload`` as
  "already gone", tries every selected upload and returns a :class:`CleanupReport` whose counts
  are always complete, with per-upload rows capped (and only the kept ones built) so the report
  stays small enough for XCom, whatever the number of uploads.

Per stale upload the sweep sends one ListParts (``skip_active``/``list_parts``; more only for an
upload of over 1,000 parts) and one AbortMultipartUpload, and nothing else; failures are logged
for the first 20 only (the report has them all).

Arguments are parsed in :mod:`.options`, the report lives in :mod:`.report`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from oss_provider.cleanup.options import (
    CleanupOptions,
    key_selected,
)
from oss_provider.cleanup.report import (
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
from oss_provider.client.errors import ListingError, NoSuchUpload, OSSError, is_retryable
from oss_provider.client.models import PartInfo, UploadInfo, UploadsPage

# One logger for the whole sweep, named after the package users know (and configure).
log = logging.getLogger("oss_provider.cleanup")

MAX_ERROR_CHARS = 300
_MAX_WARNINGS = 20  # per kind, so a bucket full of odd entries does not flood the log


class CleanupClient(Protocol):
    """The three ``OSSClient`` methods the sweep uses."""

    def iter_multipart_upload_pages(
        self, bucket: str, *, prefix: str | None = None, page_size: int = 1000
    ) -> Iterator[UploadsPage]: ...

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> bool: ...

    def iter_parts(self, bucket: str, key: str, upload_id: str) -> Iterator[PartInfo]: ...


@dataclass(slots=True)
class _Candidate:
    info: UploadInfo
    age: timedelta
    # server time when the listing page arrived, and the monotonic time of that moment
    server_now: datetime
    seen_at: float


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSSError) else str(exc)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class _Backlog:
    """Stale uploads waiting for a worker thread.

    The listing adds a whole page's candidates at once and then waits only while more than
    ``limit`` are waiting, so it wakes about once per page, not once per upload (a hand-off per
    upload costs two thread wake-ups, a large share of a sweep's CPU); workers take the next
    candidate without waking anyone. At most ``limit`` plus one page of candidates are held.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[_Candidate] = deque()
        self.cond = threading.Condition(threading.Lock())
        self.closed = False
        self.producer_waiting = False

    def put_many(self, candidates: list[_Candidate]) -> None:
        with self.cond:
            self.items.extend(candidates)
            self.cond.notify_all()  # idle workers (the producer is this thread)
            while len(self.items) > self.limit:
                self.producer_waiting = True
                self.cond.wait()
            self.producer_waiting = False

    def get(self) -> _Candidate | None:
        """The next candidate, or None once the listing is over and nothing is left."""
        with self.cond:
            while not self.items:
                if self.closed:
                    return None
                self.cond.wait()
            item = self.items.popleft()
            if self.producer_waiting and len(self.items) <= self.limit:
                self.producer_waiting = False
                self.cond.notify_all()  # the listing (no worker waits: items are left)
            return item

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


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
        with self.lock:
            n = self.warned[kind] = self.warned.get(kind, 0) + 1
        if n <= _MAX_WARNINGS:
            log.warning(msg, *args)
        elif n == _MAX_WARNINGS + 1:
            log.warning("... more %s warnings are not logged; the report counts them all", kind)

    def _record(
        self,
        cand: _Candidate | None,
        info: UploadInfo,
        action: str,
        error: str | None = None,
        parts: int | None = None,
        nbytes: int | None = None,
    ) -> None:
        with self.lock:
            report = self.report
            report.counts[action] += 1
            if action == ABORTED and nbytes is not None:
                report.bytes_freed += nbytes
                report.parts_freed += parts or 0
            if action == WOULD_ABORT and nbytes is not None:
                report.bytes_would_free += nbytes
            if report._keeps_row(action):  # the row is built only when the report keeps it
                initiated = info.initiated
                report._store_row(
                    {
                        "key": info.key,
                        "upload_id": info.upload_id,
                        "initiated": _iso(initiated) if isinstance(initiated, datetime) else None,
                        "age_seconds": int(cand.age.total_seconds()) if cand else None,
                        "action": action,
                        "error": error,
                        "parts": parts,
                        "bytes": nbytes,
                    }
                )
        if action == FAILED:
            self._warn(
                "failed abort",
                "abort of %r (upload %s) failed: %s",
                info.key,
                info.upload_id,
                error,
            )

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
        """Decide and act on one stale upload; never raises (every outcome is recorded).

        Requests: at most one ListParts per page of parts (one for an upload of up to 1,000
        parts) when parts are needed, then at most one AbortMultipartUpload; retries aside."""
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

    def _work(self, backlog: _Backlog) -> None:
        """One worker thread: process candidates until the listing is over and none is left."""
        while (cand := backlog.get()) is not None:
            try:
                self.process(cand)
            except BaseException:  # noqa: BLE001, S110 - already recorded as failed; keep going
                pass

    # -- listing
    def classify_page(self, page: UploadsPage) -> list[_Candidate]:
        """Count one page's uploads; return the stale, selected ones (the counts of the page are
        added under the lock once, not per upload)."""
        now = self._page_time(page)
        seen_at = time.monotonic()
        include, exclude = self.opts.include, self.opts.exclude
        select = bool(include or exclude)
        older_than = self.opts.older_than
        seen = filtered = fresh = stale = 0
        out: list[_Candidate] = []
        for info in page.uploads:
            seen += 1
            if select and not key_selected(info.key, include, exclude):
                filtered += 1
                continue
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
                continue
            if initiated.tzinfo is None:
                initiated = initiated.replace(tzinfo=UTC)
            age = now - initiated
            if age <= older_than:
                fresh += 1
                continue
            stale += 1
            cand = _Candidate(info, age, now, seen_at)
            if self._cap_reached():
                self._record(cand, info, SKIPPED_MAX_ABORTS)
            else:
                out.append(cand)
        with self.lock:
            counts = self.report.counts
            counts["seen"] += seen
            counts["filtered_out"] += filtered
            counts["fresh"] += fresh
            counts["stale"] += stale
            self.report.pages += 1
        return out

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
        # one page may be listed while the workers still hold up to one page (or 2x concurrency)
        backlog = _Backlog(max(self.opts.page_size, 2 * self.opts.concurrency))
        workers: list[threading.Thread] = []
        stale = 0
        try:
            try:
                for prefix in self.opts.prefixes:
                    for page in self.pages(prefix):
                        batch = self.classify_page(page)
                        if inline:
                            for cand in batch:
                                self.process(cand)
                        elif batch:
                            stale += len(batch)
                            while len(workers) < min(self.opts.concurrency, stale):
                                worker = threading.Thread(
                                    target=self._work,
                                    args=(backlog,),
                                    name=f"oss-cleanup-{len(workers)}",
                                    daemon=True,
                                )
                                worker.start()
                                workers.append(worker)
                            backlog.put_many(batch)
                        if self.stop.is_set():
                            raise ListingError("the sweep was cancelled")
                report.listing_complete = True
            except Exception as exc:  # noqa: BLE001 - reported; the operator fails on it
                report.listing_error = _short(exc)
                log.error("listing stopped: %s", report.listing_error)
            except BaseException:  # interrupted: what is still queued is reported, not tried
                self.stop.set()
                raise
            finally:
                backlog.close()  # the workers finish what was listed, then stop
                for worker in workers:
                    worker.join()
        finally:
            report.duration_seconds = time.monotonic() - started
        return report


def abort_stale_uploads(
    client: CleanupClient,
    bucket: str,
    options: CleanupOptions | None = None,
    *,
    stop_event: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    **settings: Any,
) -> CleanupReport:
    """Abort incomplete multipart uploads older than ``older_than`` (by the server's clock).

    :param options: the sweep's :class:`CleanupOptions` (each setting is documented on
        :meth:`CleanupOptions.build`); default the safe ones (24 hours, ``skip_active=True``).
    :param settings: the same settings as keywords (``older_than="7d"``, ``prefixes=[...]``,
        ``dry_run=True`` ...), checked before the first request: bad input raises
        ``ValueError`` or ``TypeError`` naming the argument and the accepted forms.
    :param stop_event: set it to stop early (``on_kill``); unstarted aborts are reported failed.
    """
    if options is None:
        options = CleanupOptions.build(**settings)
    elif not isinstance(options, CleanupOptions):
        raise TypeError(
            f"options must be a CleanupOptions (build it with CleanupOptions.build(...)), "
            f"got {type(options).__name__}"
        )
    elif settings:
        raise TypeError(
            f"give the sweep's settings as options or as keywords, not both: {sorted(settings)}"
        )
    if not bucket or not isinstance(bucket, str):
        raise ValueError(
            f"bucket={bucket!r} is not a bucket name: pass bucket_name or set it on the connection"
        )
    return _Sweep(client, bucket, options, stop_event, sleep).run()


def run_cleanup(
    client: CleanupClient,
    bucket: str,
    options: CleanupOptions | None = None,
    *,
    stop_event: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CleanupReport:
    """Deprecated alias: ``abort_stale_uploads(client, bucket, options, ...)``."""
    warnings.warn(
        "run_cleanup is deprecated; use abort_stale_uploads(client, bucket, options)",
        DeprecationWarning,
        stacklevel=2,
    )
    return abort_stale_uploads(client, bucket, options, stop_event=stop_event, sleep=sleep)
