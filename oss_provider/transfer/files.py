"""Many objects: a directory, a glob or a remote prefix uploaded under one destination prefix.

One shared bound, ``concurrency``, covers every file and every part: a slot of one semaphore is
taken before a small file or a part is read and given back when its request is answered, so at
most ``concurrency`` bodies are in flight together. A local file's body is never held whole: a
part, or a single-PUT file above 1 MiB, is hashed by reading its range and streamed from the file
while it is sent (:class:`~oss_provider.client.bodies.RangeBody`), so memory stays flat whatever
the concurrency and the file sizes (a smaller file, or a remote one, is read into one buffer of at
most the threshold). Small files go up in one verified PUT (one request each); files at or above
the threshold go through :func:`oss_provider.transfer.upload.upload` (parallel parts, resumable by
owner), whose parts take slots of the same semaphore.

Memory does not grow with the number of files either. The files are walked in key order
(:func:`~oss_provider.transfer.fileset.stream_files`: no list of the tree), once to count them (a
``stat`` per file, for the progress totals) and once to upload them; a file is handed to the
threads through a bounded window (a few per thread), never queued for the whole set; the report
keeps counts and at most ``max_rows`` rows.

``skip_unchanged`` compares each file with the destination listing, read page by page (1,000
objects per request) alongside the walk: both are in key order (OSS lists keys in byte order), so
the two are merged like sorted lists and one page is held at a time; a page is fetched only when
the walk gets past the previous one. A file is skipped when its object is unchanged, by one of two
rules (``compare``):

- ``"checksum"`` (default): the same size and content. For an object stored by one PUT its ETag
  is the MD5 of its bytes, compared with the local file's MD5 (no request); for a multipart
  object, one HEAD gives its CRC-64, compared with the local file's CRC-64. It reads every local
  byte of a file whose size matches. It misses nothing.
- ``"size_mtime"``: the same size and an object written after the file was last modified (the
  listing's Last-Modified, by the server's clock, at or after the file's mtime), as ossutil's
  update mode and rclone's ``--use-server-modtime`` decide. One ``stat`` per file, no request
  and no read for an unchanged file. It misses a file rewritten with the same size whose mtime
  is older than the object (restored from a backup with its old mtime, ``touch -d``, a worker
  clock behind the server's). Objects it writes carry the file's mtime as the user metadata
  ``source-mtime`` (seconds since the epoch), for anyone who wants to compare exactly.

A remote source is skipped when its own ETag is a plain MD5 equal to the object's; otherwise it is
sent again (either rule). Big files with an upload in progress (a killed worker's, to resume) are
found the same way, merging the listing of in-progress uploads page by page.

Progress: a line at least every ``progress_interval`` seconds (5 by default), from a heartbeat
while nothing finishes too: files and bytes done of the totals, the rate and an ETA.

Failures are per file: the others go on, and the run raises :class:`FilesUploadError` at the end
naming the failed files. Nothing is left half-uploaded: a PUT is atomic, and a multipart upload
that fails is aborted (``abort_on_failure``); only a worker killed mid-file leaves an upload,
which the retry of the same owner resumes (parts with matching size and CRC-64 are kept).

No Airflow import here; :class:`~oss_provider.hooks.oss_multipart.OSSMultipartHook` wraps it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import mimetypes
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from oss_provider.client.checksums import crc64
from oss_provider.client.errors import (
    FileAlreadyExists,
    FilesUploadError,
    NoSuchKey,
    OSSClientError,
    is_retryable,
)
from oss_provider.client.options import ObjectOptions
from oss_provider.client.validation import validate_bucket_name, validate_key
from oss_provider.transfer.config import DEFAULT_PART_SIZE, TransferConfig, split_settings
from oss_provider.transfer.fileset import (
    FileEntry,
    FileSet,
    FileStream,
    list_files,
    plan_file_batches,
    select,
    stream_files,
)
from oss_provider.transfer.memory import release_large_buffers
from oss_provider.transfer.plan import single_put_threshold
from oss_provider.transfer.progress import (
    DEFAULT_LOG_INTERVAL,
    TransferProgress,
    format_bytes,
    format_duration,
)
from oss_provider.transfer.single_put import put_source

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_REPORT_ROWS = 100
_READ_BLOCK = 1 * MiB  # hashing reads: as fast as 4 MiB blocks, and one buffer per thread
_MAX_BIG_AT_ONCE = 16  # big files in progress together (threads: this x part threads per file)
_CHECK_THREADS = 4  # hash small files to compare with stored ETags: enough to keep the cores busy
_FAILED_KEPT = 20  # failed rows kept for the error message even when max_rows is smaller


COMPARE_MODES = ("checksum", "size_mtime")
MTIME_KEY = "source-mtime"  # user metadata: the file's mtime when it was written (size_mtime)


# --------------------------------------------------------------------------- progress


class SetProgress:
    """Files and bytes across the set, one log line at most every ``interval`` seconds:
    ``files 120/2000 (3 skipped, 1 failed), 312.0 MiB of 2.0 GiB (15.2%), 48.1 MiB/s,
    20.5 files/s, ETA ..``. Bytes count when the server acknowledged them (a part of a big file,
    a whole small file), never twice; skipped files count as done but not in the byte rate. The
    ETA is the longer of what is left at the byte rate and at the file rate. :meth:`tick` (a
    heartbeat) logs a due line while nothing finishes."""

    def __init__(
        self,
        files: int,
        total: int,
        *,
        interval: float = DEFAULT_LOG_INTERVAL,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.files, self.total, self.interval = files, total, interval
        self.logger = logger or log
        self._clock = clock
        self._lock = threading.Lock()
        self._start = self._last = clock()
        self.sent = self.skipped_bytes = 0
        self.done = self.skipped = self.failed = 0

    def add_bytes(self, n: int) -> None:
        self._update(lambda: setattr(self, "sent", self.sent + n))

    def file_done(self, action: str, size: int, counted: int) -> None:
        """A file finished: ``counted`` of its bytes were already reported by its parts."""

        def change() -> None:
            self.done += 1
            if action == "skipped":
                self.skipped += 1
                self.skipped_bytes += size
            elif action == "failed":
                self.failed += 1
            else:
                self.sent += size - counted

        self._update(change)

    def tick(self) -> None:
        """Log a line if one is due (the heartbeat: progress shows while nothing finishes)."""
        self._update(lambda: None)

    def _update(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()
            now = self._clock()
            due = now - self._last >= self.interval
            if due:
                self._last = now
            line = self._line(now) if due else None
        if line:
            self.logger.info("%s", line)

    def _line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        rate = self.sent / elapsed
        file_rate = self.done / elapsed
        left = self.total - self.sent - self.skipped_bytes
        files_left = self.files - self.done
        etas = []
        if left > 0 and rate > 0:
            etas.append(left / rate)
        if files_left > 0 and file_rate > 0:
            etas.append(files_left / file_rate)
        eta = max(etas) if etas else (0.0 if left <= 0 and files_left <= 0 else None)
        pct = 100.0 * (self.sent + self.skipped_bytes) / self.total if self.total else 100.0
        extra = (
            f" ({self.skipped} skipped, {self.failed} failed)"
            if self.skipped or self.failed
            else ""
        )
        return (
            f"files {self.done}/{self.files}{extra}, {format_bytes(self.sent + self.skipped_bytes)}"
            f" of {format_bytes(self.total)} ({min(pct, 100.0):.1f}%), "
            f"{rate / MiB:.1f} MiB/s, {file_rate:.1f} files/s, ETA {format_duration(eta)}"
        )

    def finish(self) -> str:
        with self._lock:
            line = self._line(self._clock())
        self.logger.info("%s", line)
        return line


class _Heartbeat:
    """Calls ``progress.tick`` every ``interval`` seconds until stopped (a daemon thread)."""

    def __init__(self, progress: SetProgress, interval: float) -> None:
        self._progress = progress
        self._interval = max(float(interval), 0.5)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if 0 < interval < math.inf:
            self._thread = threading.Thread(
                target=self._run, name="oss-files-progress", daemon=True
            )

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._progress.tick()

    def __enter__(self) -> Self:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class _FileTracker(TransferProgress):
    """A big file's part progress, forwarded to the set's counters (its own lines stay quiet
    but for the last one)."""

    def __init__(self, total: int, label: str, parent: SetProgress) -> None:
        super().__init__(total, label=label, interval=math.inf)
        self.parent = parent
        self.counted = 0

    def part_sent(self, size: int) -> None:
        super().part_sent(size)
        self.counted += size
        self.parent.add_bytes(size)


# --------------------------------------------------------------------------- report


_ACTIONS = ("uploaded", "skipped", "exists", "failed")
_RANK = {"failed": 0, "uploaded": 1, "exists": 2, "skipped": 3}


def _ranked(row: dict[str, Any]) -> tuple[int, str]:
    return _RANK[row["action"]], row["key"]


@dataclass
class FilesReport:
    """What happened to the files: complete counts and byte sums per action, and at most
    ``max_rows`` rows (failures first, then what was sent, then the rest, each by key; at least
    20 failures are kept for the error message). Memory stays flat however many files there are.
    :meth:`to_dict` is the compact XCom shape."""

    bucket: str
    prefix: str
    source: str
    seconds: float = 0.0
    max_rows: int = MAX_REPORT_ROWS
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_ACTIONS, 0))
    sizes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_ACTIONS, 0))
    retryable: bool = False  # some failure was transient: a later try may succeed
    _kept: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:  # picklable (an exception carries it)
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def _cap(self) -> int:
        return max(self.max_rows, _FAILED_KEPT)

    def add(self, row: dict[str, Any]) -> None:
        """Count one file's row (thread-safe); keep it if it ranks among the first rows."""
        with self._lock:
            action = row["action"]
            self.counts[action] += 1
            self.sizes[action] += row["size"]
            if action == "failed" and row.get("retryable"):
                self.retryable = True
            self._kept.append(row)
            if len(self._kept) > 2 * self._cap:  # amortised: sort and cut once per cap rows
                self._kept = self._first()

    def _first(self) -> list[dict[str, Any]]:
        return sorted(self._kept, key=_ranked)[: self._cap]

    @property
    def files(self) -> int:
        return sum(self.counts.values())

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows kept, by key: every file's when there are at most ``max_rows``."""
        with self._lock:
            return sorted(self._first()[: self.max_rows], key=lambda r: r["key"])

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The failed rows kept (at least the first 20 by key), by key."""
        with self._lock:
            return [r for r in self._first() if _is_failed(r)]

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            rows = self._first()[: self.max_rows]
            counts, sizes = dict(self.counts), dict(self.sizes)
        files = sum(counts.values())
        sent = sizes["uploaded"]
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "source": self.source,
            "files": files,
            **counts,
            "bytes": sum(sizes.values()),
            "bytes_uploaded": sent,
            "bytes_skipped": sizes["skipped"],
            "seconds": round(self.seconds, 3),
            "mib_per_s": round(sent / MiB / self.seconds, 2) if self.seconds else 0.0,
            "rows": rows,
            "rows_omitted": files - len(rows),
        }


def _is_failed(row: dict[str, Any]) -> bool:
    return row["action"] == "failed"


# --------------------------------------------------------------------------- checks


_digest_buffers = threading.local()


def _local_digest(path: str, want_md5: bool) -> tuple[str | None, int | None]:
    """The MD5 (upper-case hex) of a file when ``want_md5`` (a single-PUT object's ETag is its
    MD5), else its CRC-64; read into one reused 1 MiB buffer (no allocation per block)."""
    md5 = hashlib.md5() if want_md5 else None
    crc = 0
    buffer = getattr(_digest_buffers, "buffer", None)
    if buffer is None:  # one per thread, reused for every file it checks
        buffer = _digest_buffers.buffer = bytearray(_READ_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            block = view[:n]
            if md5 is not None:
                md5.update(block)
            else:
                crc = crc64(block, crc)
    return (md5.hexdigest().upper(), None) if md5 is not None else (None, crc)


def _plain_md5(etag: str | None) -> str | None:
    """An ETag that is the MD5 of the bytes (an object stored by one PUT), upper-case."""
    if not etag:
        return None
    etag = etag.strip('"').upper()
    return etag if len(etag) == 32 and all(c in "0123456789ABCDEF" for c in etag) else None


_MORE = object()  # _SortedLookup: the key is past the page held


class _SortedLookup:
    """Answers "is ``key`` listed?" for keys asked in ascending order, from a listing in key
    order read one page at a time: a page is fetched only when a key goes past the previous
    one, and the previous page is dropped before the next is fetched (a merge of two sorted
    lists, one page held)."""

    def __init__(self, pages: Iterator[list[Any]], key_of: Callable[[Any], str], what: str) -> None:
        self._pages = pages
        self._key_of = key_of
        self._what = what
        self._page: list[Any] = []
        self._i = 0
        self._last = ""
        self._ended = False
        self.pages = 0

    def find(self, key: str) -> Any | None:
        while True:
            found = self._scan(key)
            if found is not _MORE or self._ended:
                return None if found is _MORE else found
            self._next_page()

    def _scan(self, key: str) -> Any:
        page, key_of, i = self._page, self._key_of, self._i
        while i < len(page):
            listed = key_of(page[i])
            if listed >= key:
                self._i = i
                return page[i] if listed == key else None
            i += 1
        self._i = i
        return _MORE

    def _next_page(self) -> None:
        self._page, self._i = [], 0  # the previous page goes before the next one arrives
        page = next(self._pages, None)
        if page is None:
            self._ended = True
            return
        self.pages += 1
        if page and self._key_of(page[0]) < self._last:
            log.warning(
                "The %s listing is not in key order (%r after %r); unchanged files may be sent "
                "again", self._what, self._key_of(page[0]), self._last,
            )  # fmt: skip
        if page:
            self._last = self._key_of(page[-1])
        self._page = page


def _object_pages(client: OSSClient, bucket: str, prefix: str) -> Iterator[list[dict[str, Any]]]:
    """The objects under ``prefix``, one ListObjectsV2 page (1,000) at a time; a page is let go
    before the next request (``iter_objects_pages`` would hold it while fetching the next)."""
    token: str | None = None
    while True:
        page = client.list_objects_page(bucket, prefix=prefix, continuation_token=token)
        previous, token, objects = token, page.next_token, page.objects
        del page
        yield objects
        del objects
        if not token:
            return
        if token == previous:
            raise OSSClientError(
                f"ListObjectsV2 of bucket {bucket!r} repeated continuation token; stopping"
            )


# --------------------------------------------------------------------------- upload


@dataclass
class _Totals:
    files: int = 0
    bytes: int = 0
    big: int = 0


def _count(fileset: FileSet, prefix: str, threshold: int, interval: float) -> _Totals:
    """The counting pass: files, bytes and big files (a ``stat`` each, nothing kept); every key
    is validated before any request. Logs a line every ``interval`` seconds on a long walk."""
    totals = _Totals()
    started = last = time.monotonic()
    for entry in fileset.entries:
        validate_key(prefix + entry.rel)
        totals.files += 1
        totals.bytes += entry.size
        totals.big += entry.size >= threshold
        if not totals.files % 1024:
            now = time.monotonic()
            if now - last >= interval:
                last = now
                log.info(
                    "Counting the files of %s: %d so far (%s), %.0f s",
                    fileset.description, totals.files, format_bytes(totals.bytes), now - started,
                )  # fmt: skip
    return totals


def upload_files(
    client: OSSClient,
    bucket: str,
    source: Any,
    config: TransferConfig | None = None,
    options: ObjectOptions | None = None,
    *,
    prefix: str = "",
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    files: Iterable[str] | None = None,
    skip_unchanged: bool = True,
    compare: str = "checksum",
    owner: str | None = None,
    progress_interval: float = DEFAULT_LOG_INTERVAL,
    max_rows: int = MAX_REPORT_ROWS,
    file_set: FileSet | None = None,
    **settings: Any,
) -> FilesReport:
    """Upload every file of ``source`` to ``oss://bucket/<prefix><relative path>``.

    :param prefix: destination prefix; a ``/`` is added when missing (``exports/2026-01-01``
        -> ``exports/2026-01-01/part-0.parquet``); empty: the bucket's root.
    :param include: glob(s) a file must match (a pattern without ``/`` matches the file name).
    :param exclude: glob(s) that leave a file out.
    :param files: only these relative paths (one batch of :func:`plan_file_batches`); each is
        looked at directly (no walk of the tree); a missing one raises ``FileNotFoundError``.
    :param skip_unchanged: leave out files whose object is unchanged (see ``compare``).
    :param compare: how "unchanged" is decided: ``"checksum"`` (default: size and MD5 / CRC-64,
        reads the file) or ``"size_mtime"`` (size and the listing's Last-Modified against the
        file's mtime: no read, no request; misses a same-size rewrite with an older mtime).
    :param config: the :class:`~oss_provider.transfer.config.TransferConfig`: ``concurrency``
        bounds requests (and bodies in memory) in flight across all files and parts (default
        8); files below ``multipart_threshold`` (default: the part size, and at most it, so one
        slot never holds more than a part) go up in one PUT.
    :param options: the :class:`~oss_provider.client.options.ObjectOptions` of every object;
        with ``forbid_overwrite`` a file whose key exists is reported as ``exists`` and not
        sent (OSS refuses the write too). A file without a ``content_type`` gets the one its
        name suggests.
    :param settings: the same settings and options as keywords (``part_size=``,
        ``forbid_overwrite=``, ``content_type=`` ...), merged over ``config`` and ``options``.
    :param owner: writer identity for big files (each file's owner is ``owner:relative path``);
        a retry with the same owner resumes a big file a killed worker left behind.
    :param progress_interval: seconds between progress lines (a line at least this often).
    :param max_rows: per-file rows kept in the report (failures first); counts stay complete.
    :param file_set: the files, already listed (:func:`list_files` or :func:`stream_files`).
    :returns: the report; raises :class:`FilesUploadError` (carrying it) if any file failed.
    """
    validate_bucket_name(bucket)
    config, options = split_settings(settings, config, options)
    concurrency, part = config.concurrency, config.part_size or DEFAULT_PART_SIZE
    threshold = single_put_threshold(config)
    if config.part_size is not None and threshold > config.part_size:
        raise ValueError(
            f"multipart_threshold ({threshold}) must not exceed part_size ({config.part_size}): "
            "a single-PUT file occupies one slot, and a slot holds at most one part"
        )
    if compare not in COMPARE_MODES:
        raise ValueError(
            f"compare must be one of {', '.join(COMPARE_MODES)}, got {compare!r}: 'checksum' "
            "reads each same-size file to compare MD5 / CRC-64, 'size_mtime' compares size and "
            "modification time only"
        )
    prefix = prefix or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    fileset = file_set or stream_files(source, include=include, exclude=exclude, files=files)
    totals = _count(fileset, prefix, threshold, progress_interval)
    report = FilesReport(bucket, prefix, fileset.description, max_rows=max_rows)
    started = time.monotonic()
    progress = SetProgress(totals.files, totals.bytes, interval=progress_interval)
    log.info(
        "Uploading %d files (%s) from %s to oss://%s/%s: %d requests at a time, one PUT below "
        "%s, parts of %s above",
        totals.files, format_bytes(totals.bytes), fileset.description, bucket, prefix,
        concurrency, format_bytes(threshold), format_bytes(part),
    )  # fmt: skip
    objects = uploads = None
    forbid_overwrite = bool(options.forbid_overwrite)
    if skip_unchanged or forbid_overwrite:
        objects = _SortedLookup(
            _object_pages(client, bucket, prefix),
            lambda o: o["key"], "object",
        )  # fmt: skip
    if config.resume and totals.big:
        # a big file whose key has no upload in progress has nothing to resume and skips its
        # own lookup (a round trip per file); an upload this writer left behind was started
        # before this run, so the listing holds it
        uploads = _SortedLookup(
            (p.uploads for p in client.iter_multipart_upload_pages(bucket, prefix=prefix or None)),
            lambda u: u.key, "multipart upload",
        )  # fmt: skip
    release_large_buffers()  # small files' bodies too (see transfer.memory)
    # Files go up in key order (the order of the listings they are merged with). Up to one big
    # file per slot runs at once: each spends round trips (Initiate, records, Complete) holding
    # no slot, and the shared limiter, not the thread count, bounds requests and memory. Part
    # threads per big file: one per slot for a lone file, a quarter of the slots when 4+ run.
    big_at_once = max(1, min(concurrency, totals.big, _MAX_BIG_AT_ONCE))
    check_threads = min(concurrency, _CHECK_THREADS)
    # files handed to the threads and not finished: enough to keep every thread busy, few
    # enough that nothing grows with the set
    window = threading.BoundedSemaphore(2 * concurrency + check_threads + big_at_once)
    stopped: BaseException | None = None
    with (
        _Heartbeat(progress, progress_interval),
        ThreadPoolExecutor(big_at_once, thread_name_prefix="oss-file") as bp,
        ThreadPoolExecutor(concurrency, thread_name_prefix="oss-put") as sp,
        ThreadPoolExecutor(check_threads, thread_name_prefix="oss-check") as cp,
    ):
        job = _Job(
            client, bucket, prefix, fileset, progress, report, window, sp,
            skip_unchanged=skip_unchanged, compare=compare, forbid_overwrite=forbid_overwrite,
            limiter=threading.BoundedSemaphore(concurrency),
            threshold=threshold, owner=owner, options=options,
            # each big file's upload: its part threads, no abort left to chance, and no second
            # single-PUT-or-multipart decision (this set made it with the same threshold)
            config=config.merged(
                concurrency=max(2, concurrency // max(1, min(totals.big, 4))),
                abort_on_failure=True,
                multipart_threshold=0,
            ),
        )  # fmt: skip
        try:
            for entry in fileset.in_key_order():
                key = prefix + entry.rel
                try:
                    validate_key(key)  # counted and checked already, unless new since then
                except ValueError as error:
                    window.acquire()
                    job.run(job.refuse, entry, error)
                    continue
                obj = objects.find(key) if objects is not None else None
                big = entry.size >= threshold
                resumable = big and uploads is not None and uploads.find(key) is not None
                window.acquire()  # blocks while the window is full: nothing queues up
                if big:
                    bp.submit(job.run, job.one, entry, obj, resumable)
                elif obj is not None:  # hashing needs CPU, not a request slot: its own threads
                    cp.submit(job.run, job.check_first, entry, obj)
                else:
                    sp.submit(job.run, job.send, entry, False)
        except BaseException as error:  # noqa: BLE001 - a failed listing, an interrupt: finish
            # what runs, then raise it
            stopped = error
            log.error(
                "Stopped handing out files (%s: %s); waiting for those in progress",
                type(error).__name__, error,
            )  # fmt: skip
    report.seconds = time.monotonic() - started
    progress.finish()
    summary = report.to_dict()
    log.info(
        "Done: %d uploaded (%s), %d skipped unchanged, %d already existing, %d failed, in %.1f s",
        summary["uploaded"], format_bytes(summary["bytes_uploaded"]), summary["skipped"],
        summary["exists"], summary["failed"], report.seconds,
    )  # fmt: skip
    if stopped is not None:
        raise stopped
    failed = report.failed
    if failed:
        count = report.counts["failed"]
        for r in failed:
            log.error("Failed: %s -> oss://%s/%s: %s", r["file"], bucket, r["key"], r["error"])
        names = ", ".join(r["file"] for r in failed[:20])
        more = f" and {count - 20} more (see the log)" if count > 20 else ""
        raise FilesUploadError(
            f"{count} of {report.files} files failed: {names}{more}. The other files were "
            "uploaded; no partial object or open multipart upload was left for the failed ones. "
            "A retry with skip_unchanged sends only what is missing. First error: "
            f"{failed[0]['error']}",
            report,
        )
    return report


class _Job:
    """The shared state of one :func:`upload_files` run. Each file runs as :meth:`run` of one
    step on a thread; the step that settles the file records its row and frees its place in the
    window."""

    def __init__(
        self, client, bucket, prefix, fileset, progress, report, window, senders, **opts: Any
    ) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.fileset, self.progress, self.report = fileset, progress, report
        self.window, self.senders = window, senders
        self.__dict__.update(opts)

    def run(self, step: Callable[..., tuple[dict[str, Any], int] | None], entry, *args) -> None:
        """Run ``step``; record the row it returns (None: handed on to another thread)."""
        try:
            done = step(entry, *args)
        except BaseException as error:  # noqa: BLE001 - never lose a file's row or its place
            row = self._row(entry, self.prefix + entry.rel)
            self._failed(row, error)
            done = (row, 0)
        if done is not None:
            self._finish(*done)

    def _finish(self, row: dict[str, Any], counted: int) -> None:
        try:
            self.report.add(row)
            self.progress.file_done(row["action"], row["size"], counted)
        finally:
            self.window.release()

    def refuse(self, entry: FileEntry, error: Exception) -> tuple[dict[str, Any], int]:
        row = self._row(entry, self.prefix + entry.rel)
        self._failed(row, error)
        return row, 0

    def one(self, entry: FileEntry, obj: dict | None, resume: bool) -> tuple[dict, int]:
        """Check ``entry`` against what is stored, then send it if it must go up."""
        row = self.settle(entry, obj)
        return (row, 0) if row is not None else self.send(entry, resume)

    def check_first(self, entry: FileEntry, obj: dict) -> tuple[dict, int] | None:
        """Check away from the sending threads, hand a file that must go up to the senders.
        Hashing needs CPU, not a request slot: meanwhile every sender keeps a request going."""
        row = self.settle(entry, obj)
        if row is not None:
            return row, 0
        self.senders.submit(self.run, self.send, entry, False)
        return None

    def settle(self, entry: FileEntry, obj: dict | None) -> dict[str, Any] | None:
        """The row of a file that is not sent (unchanged, or it exists and must not be
        replaced, or its check failed); None for a file to send."""
        if obj is None:
            return None
        key = self.prefix + entry.rel
        row = self._row(entry, key)
        try:
            if self.skip_unchanged and self._unchanged(entry, key, obj):
                row["action"] = "skipped"
            elif self.forbid_overwrite:
                row["action"] = "exists"
            else:
                return None
        except Exception as error:  # noqa: BLE001 - per-file policy: record, go on, fail at end
            self._failed(row, error)
        return row

    def send(self, entry: FileEntry, resume: bool) -> tuple[dict[str, Any], int]:
        key = self.prefix + entry.rel
        row = self._row(entry, key)
        counted = 0
        try:
            if entry.size < self.threshold:
                row.update(action="uploaded", **self._put(entry, key))
            else:
                tracker = _FileTracker(entry.size, entry.rel, self.progress)
                try:
                    row.update(action="uploaded", **self._multipart(entry, key, tracker, resume))
                finally:
                    counted = tracker.counted
        except FileAlreadyExists:
            row["action"] = "exists"  # created by someone else since the listing
        except Exception as error:  # noqa: BLE001 - per-file policy: record, go on, fail at end
            self._failed(row, error)
        return row, counted

    @staticmethod
    def _row(entry: FileEntry, key: str) -> dict[str, Any]:
        return {"file": entry.rel, "key": key, "size": entry.size}

    @staticmethod
    def _failed(row: dict[str, Any], error: BaseException) -> None:
        row.update(
            action="failed",
            error=f"{type(error).__name__}: {error}"[:500],
            retryable=is_retryable(error) if isinstance(error, Exception) else False,
        )
        log.warning("Could not upload %s to %s: %s", row["file"], row["key"], row["error"])

    def _options(self, entry: FileEntry) -> ObjectOptions:
        options: ObjectOptions = self.options
        if options.content_type is None:
            options = options.merged(content_type=mimetypes.guess_type(entry.rel)[0])
        if self.compare == "size_mtime" and entry.mtime is not None:
            metadata = {**(options.metadata or {}), MTIME_KEY: f"{entry.mtime:.6f}"}
            options = options.merged(metadata=metadata)
        return options

    def _unchanged(self, entry: FileEntry, key: str, obj: dict[str, Any]) -> bool:
        if obj.get("size") != entry.size:
            return False
        if self.compare == "size_mtime" and entry.mtime is not None:
            written = obj.get("last_modified")  # whole seconds: the file's mtime is floored too
            return written is not None and written.timestamp() >= int(entry.mtime)
        stored_md5 = _plain_md5(obj.get("etag"))
        if self.fileset.fs is not None:  # remote: only a checksum both sides agree on
            return stored_md5 is not None and _plain_md5(entry.etag) == stored_md5
        local_md5, local_crc = _local_digest(entry.path, want_md5=stored_md5 is not None)
        if stored_md5 is not None:
            return local_md5 == stored_md5
        try:
            head = self.client.head_object(self.bucket, key)
        except NoSuchKey:
            return False
        return head.crc64 is not None and head.crc64 == local_crc and head.size == entry.size

    def _put(self, entry: FileEntry, key: str) -> dict[str, Any]:
        options = self._options(entry)
        # one slot: the file's request in flight (its body streamed from the file, or, for a
        # file under 1 MiB or a remote one, read into one buffer)
        with self.limiter, self.fileset.open(entry, self.client) as src:
            if src.size != entry.size:
                src.check_unchanged({"size": entry.size})
            info = put_source(self.client, self.bucket, key, src, options)
        return {"etag": info.etag, "crc64": info.crc64}

    def _multipart(
        self, entry: FileEntry, key: str, tracker: TransferProgress, resume: bool
    ) -> dict[str, Any]:
        from oss_provider.transfer.upload import upload

        options = self._options(entry)
        with self.fileset.open(entry, self.client) as src:
            done = upload(
                self.client, self.bucket, key, src,
                # resume only an upload in progress at the key (listed when resume is on)
                self.config.merged(resume=resume), options,
                owner=f"{self.owner}:{entry.rel}" if self.owner else None,
                progress=tracker, limiter=self.limiter,
            )  # fmt: skip
        return {"etag": done.etag, "crc64": done.crc64}


__all__ = [
    "COMPARE_MODES",
    "MAX_REPORT_ROWS",
    "MTIME_KEY",
    "FileEntry",
    "FileSet",
    "FileStream",
    "FilesReport",
    "FilesUploadError",
    "SetProgress",
    "list_files",
    "plan_file_batches",
    "select",
    "stream_files",
    "upload_files",
]
