"""Many objects: a directory, a glob or a remote prefix uploaded under one destination prefix.

One shared bound, ``concurrency``, covers every file and every part: a slot of one semaphore is
taken before a small file or a part is read and given back when its request is answered, so at
most ``concurrency`` bodies are in memory and in flight together (memory <= concurrency x part
size, because a single-PUT file is smaller than the multipart threshold, itself at most a part).
Small files go up in one verified PUT (one request each); files at or above the threshold go
through :func:`oss_provider.client.transfer.upload` (parallel parts, resumable by owner), whose
parts take slots of the same semaphore.

``skip_unchanged`` lists the destination prefix once (one request per 1,000 objects) and skips a
file whose object is unchanged, by one of two rules (``compare``):

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
sent again (either rule).

Failures are per file: the others go on, and the run raises :class:`FilesUploadError` at the end
naming every failed file. Nothing is left half-uploaded: a PUT is atomic, and a multipart upload
that fails is aborted (``abort_on_failure``); only a worker killed mid-file leaves an upload,
which the retry of the same owner resumes (parts with matching size and CRC-64 are kept).

No Airflow import here; :class:`~oss_provider.hooks.oss_multipart.OSSMultipartHook` wraps it.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import heapq
import logging
import math
import mimetypes
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from oss_provider.client.checksums import crc64
from oss_provider.client.errors import (
    FileAlreadyExists,
    NoSuchKey,
    OSSClientError,
    is_retryable,
)
from oss_provider.client.memory import release_large_buffers
from oss_provider.client.plan import DEFAULT_PART_SIZE, MAX_BATCHES, validate_concurrency
from oss_provider.client.progress import (
    DEFAULT_LOG_INTERVAL,
    TransferProgress,
    format_bytes,
    format_duration,
)
from oss_provider.client.sources import FsspecSource, LocalFileSource, Source, safe_url
from oss_provider.client.validation import validate_bucket_name, validate_key

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_REPORT_ROWS = 100
_GLOB_CHARS = "*?["
_READ_BLOCK = 1 * MiB  # hashing reads: as fast as 4 MiB blocks, and one buffer per thread
_MAX_BIG_AT_ONCE = 16  # big files in progress together (threads: this x part threads per file)
_CHECK_THREADS = 4  # hash small files to compare with stored ETags: enough to keep the cores busy
_BATCH_BYTES = 256 * MiB  # default plan: one mapped task per ~256 MiB ...
_BATCH_FILES = 2000  # ... or per 2,000 files, whichever asks for more tasks


class FilesUploadError(OSSClientError):
    """Some files of a set could not be uploaded; ``report`` says which and why."""

    def __init__(self, message: str, report: FilesReport) -> None:
        super().__init__(message)
        self.report = report
        # a later try may succeed when any failure was transient (5xx, timeouts, a reset)
        self.retryable = any(r.get("retryable") for r in report.failed)


# --------------------------------------------------------------------------- listing


COMPARE_MODES = ("checksum", "size_mtime")
MTIME_KEY = "source-mtime"  # user metadata: the file's mtime when it was written (size_mtime)


@dataclass(frozen=True)
class FileEntry:
    """One file of the set: ``rel`` (POSIX path under the source root, the key's suffix)."""

    rel: str
    size: int
    path: str  # local path, or the path inside ``FileSet.fs``
    etag: str | None = None  # a remote source's ETag, when its filesystem says
    mtime: float | None = None  # a local file's modification time (``compare="size_mtime"``)


@dataclass
class FileSet:
    description: str
    entries: list[FileEntry]
    fs: Any = None  # None: local files
    protocol: str = "file"

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def open(self, entry: FileEntry, client: OSSClient | None = None) -> Source:
        if self.fs is None:
            return LocalFileSource(entry.path)
        return FsspecSource(f"{self.protocol}://{entry.path}", fs=self.fs, path=entry.path)


def _as_patterns(name: str, value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{name} must be glob patterns (strings), got {value!r}")
    return [i.strip() for i in items]


def _match(rel: str, pattern: str) -> bool:
    """A pattern with a ``/`` matches the relative path, one without it the file name
    (``*.csv`` anywhere, ``2026/*.csv`` under 2026/); ``*`` crosses ``/`` as in fnmatch."""
    return fnmatch.fnmatchcase(rel if "/" in pattern else posixpath.basename(rel), pattern)


def select(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """True when ``rel`` matches an include pattern (or there are none) and no exclude one."""
    if include and not any(_match(rel, p) for p in include):
        return False
    return not any(_match(rel, p) for p in exclude)


def _glob_root(pattern: str, sep: str = "/") -> str:
    """The directory part of a glob before its first wildcard."""
    head = pattern[: min(pattern.find(c) for c in _GLOB_CHARS if c in pattern)]
    return head[: head.rfind(sep) + 1] if sep in head else ""


def _local_entries(source: str) -> tuple[str, list[FileEntry]]:
    source = os.path.expanduser(source)
    if any(c in source for c in _GLOB_CHARS):
        root = _glob_root(source, os.sep) or "." + os.sep
        paths = sorted(glob.glob(source, recursive=True))
    elif os.path.isdir(source):
        root = source.rstrip(os.sep) + os.sep
        paths = []
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            paths.extend(os.path.join(dirpath, f) for f in sorted(filenames))
    elif os.path.isfile(source):
        root, paths = os.path.dirname(source) + os.sep, [source]
    else:
        raise FileNotFoundError(
            f"source {source!r} is no directory, file or glob that exists on this worker"
        )
    entries = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:  # a dangling symlink or a file removed meanwhile
            continue
        if not os.path.isfile(path):
            continue
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        entries.append(FileEntry(rel, st.st_size, path, mtime=st.st_mtime))
    return root, entries


def _remote_entries(fs: Any, path: str) -> tuple[str, list[FileEntry]]:
    if any(c in path for c in _GLOB_CHARS):
        root = _glob_root(path)
        found = fs.glob(path, detail=True)
    else:
        info = fs.info(path)
        if info.get("type") != "directory":
            root, found = posixpath.dirname(path.rstrip("/")) + "/", {info["name"]: info}
        else:
            root = path.rstrip("/") + "/"
            found = fs.find(path, detail=True)
    entries = []
    for name, info in sorted(found.items()):
        if info.get("type") == "directory" or info.get("size") is None:
            continue
        rel = name[len(root) :] if name.startswith(root) else posixpath.basename(name)
        etag = info.get("ETag") or info.get("etag")
        etag = str(etag).strip('"') if etag else None
        entries.append(FileEntry(rel.lstrip("/"), int(info["size"]), name, etag))
    return root, entries


def list_files(
    source: Any,
    *,
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    files: Iterable[str] | None = None,
) -> FileSet:
    """The files of ``source`` (a directory, a file, a glob such as ``data/**/*.parquet``, an
    fsspec URL or prefix, or an ``ObjectStoragePath``), filtered by ``include`` / ``exclude``
    globs and, when given, restricted to the relative paths ``files`` (a plan batch)."""
    inc, exc = _as_patterns("include", include), _as_patterns("exclude", exclude)
    fs = None
    protocol = "file"
    if hasattr(source, "fs") and hasattr(source, "path"):  # ObjectStoragePath / UPath
        protocol = getattr(source, "protocol", "") or "file"
        if protocol in ("file", "local"):
            source, protocol = str(source.path), "file"
        else:
            fs, path = source.fs, str(source.path)
    elif isinstance(source, os.PathLike):
        source = os.fspath(source)
    if fs is None and isinstance(source, str) and "://" in source:
        if source.startswith("file://"):
            source = unquote(urlsplit(source).path)  # file:///data/my%20dir -> /data/my dir
        else:
            from fsspec.core import url_to_fs

            fs, path = url_to_fs(source)
            proto = fs.protocol
            protocol = proto[0] if isinstance(proto, tuple) else proto
    if fs is None and not isinstance(source, str):
        raise TypeError(
            f"source must be a directory, glob, fsspec URL or ObjectStoragePath, got "
            f"{type(source).__name__}"
        )
    if fs is None:
        root, entries = _local_entries(source)
        description = source
    else:
        root, entries = _remote_entries(fs, path)
        description = safe_url(f"{protocol}://{path}")
    entries = [e for e in entries if select(e.rel, inc, exc)]
    if files is not None:
        wanted = set(files)
        entries = [e for e in entries if e.rel in wanted]
        missing = wanted - {e.rel for e in entries}
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} planned file(s) no longer exist under {description}: "
                + ", ".join(sorted(missing)[:10])
            )
    log.debug("Listed %d files under %s (root %s)", len(entries), description, root)
    return FileSet(description, entries, fs, protocol)


# --------------------------------------------------------------------------- planning


def plan_file_batches(
    entries: Sequence[FileEntry], *, batches: int | None = None, max_batches: int = MAX_BATCHES
) -> list[dict[str, Any]]:
    """Split files into at most ``max_batches`` batches balanced by bytes (largest file first
    into the lightest batch); each ``{"batch", "files", "count", "bytes"}``."""
    if not 1 <= max_batches:
        raise ValueError(f"max_batches must be >= 1, got {max_batches!r}")
    if not entries:
        return []
    total = sum(e.size for e in entries)
    if batches is None:
        batches = max(math.ceil(total / _BATCH_BYTES), math.ceil(len(entries) / _BATCH_FILES))
    if batches < 1:
        raise ValueError(f"batches must be >= 1, got {batches!r}")
    n = max(1, min(batches, max_batches, len(entries)))
    heap = [(0, 0, i) for i in range(n)]  # (bytes, files, batch)
    chosen: list[list[FileEntry]] = [[] for _ in range(n)]
    for entry in sorted(entries, key=lambda e: (-e.size, e.rel)):
        size, count, i = heapq.heappop(heap)
        chosen[i].append(entry)
        heapq.heappush(heap, (size + entry.size, count + 1, i))
    out = []
    for i, group in enumerate(g for g in chosen if g):
        out.append(
            {
                "batch": i,
                "files": sorted(e.rel for e in group),
                "count": len(group),
                "bytes": sum(e.size for e in group),
            }
        )
    return out


# --------------------------------------------------------------------------- progress


class SetProgress:
    """Files and bytes across the set, one log line at most every ``interval`` seconds:
    ``files 120/2000 (3 skipped, 1 failed), 312.0 MiB of 2.0 GiB (15.2%), 48.1 MiB/s, ETA ..``.
    Bytes count when the server acknowledged them (a part of a big file, a whole small file),
    never twice; skipped files count as done but not in the rate."""

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
        left = self.total - self.sent - self.skipped_bytes
        eta = 0.0 if left <= 0 else (left / rate if rate > 0 else None)
        pct = 100.0 * (self.sent + self.skipped_bytes) / self.total if self.total else 100.0
        extra = (
            f" ({self.skipped} skipped, {self.failed} failed)"
            if self.skipped or self.failed
            else ""
        )
        return (
            f"files {self.done}/{self.files}{extra}, {format_bytes(self.sent + self.skipped_bytes)}"
            f" of {format_bytes(self.total)} ({min(pct, 100.0):.1f}%), "
            f"{rate / MiB:.1f} MiB/s, ETA {format_duration(eta)}"
        )

    def finish(self) -> str:
        with self._lock:
            line = self._line(self._clock())
        self.logger.info("%s", line)
        return line


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


@dataclass
class FilesReport:
    """What happened to every file; :meth:`to_dict` is the compact, capped XCom shape."""

    bucket: str
    prefix: str
    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    max_rows: int = MAX_REPORT_ROWS

    def _of(self, action: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["action"] == action]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return self._of("failed")

    def to_dict(self) -> dict[str, Any]:
        counts = {a: 0 for a in ("uploaded", "skipped", "exists", "failed")}
        sizes = dict.fromkeys(counts, 0)
        for r in self.rows:
            counts[r["action"]] += 1
            sizes[r["action"]] += r["size"]
        # failures first, then what was sent, then the rest; at most max_rows rows
        order = {"failed": 0, "uploaded": 1, "exists": 2, "skipped": 3}
        rows = sorted(self.rows, key=lambda r: (order[r["action"]], r["key"]))
        sent = sizes["uploaded"]
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "source": self.source,
            "files": len(self.rows),
            **{k: v for k, v in counts.items()},
            "bytes": sum(sizes.values()),
            "bytes_uploaded": sent,
            "bytes_skipped": sizes["skipped"],
            "seconds": round(self.seconds, 3),
            "mib_per_s": round(sent / MiB / self.seconds, 2) if self.seconds else 0.0,
            "rows": rows[: self.max_rows],
            "rows_omitted": max(0, len(rows) - self.max_rows),
        }


# --------------------------------------------------------------------------- checks


_digest_buffers = threading.local()


def _local_digest(path: str, want_md5: bool) -> tuple[str | None, int | None]:
    """The MD5 (upper-case hex) of a file when ``want_md5`` (a single-PUT object's ETag is its
    MD5), else its CRC-64; read into one reused 4 MiB buffer (no allocation per block)."""
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


def _keys_in_progress(client: OSSClient, bucket: str, prefix: str) -> set[str]:
    """Keys under ``prefix`` with an in-progress multipart upload, from one listing: a big file
    whose key has none has nothing to resume and skips its own lookup (a round trip per file).
    An upload this writer left behind was started before this run, so the listing holds it."""
    return {u.key for u in client.iter_multipart_uploads(bucket, prefix=prefix or None)}


def _plain_md5(etag: str | None) -> str | None:
    """An ETag that is the MD5 of the bytes (an object stored by one PUT), upper-case."""
    if not etag:
        return None
    etag = etag.strip('"').upper()
    return etag if len(etag) == 32 and all(c in "0123456789ABCDEF" for c in etag) else None


# --------------------------------------------------------------------------- upload


def upload_files(
    client: OSSClient,
    bucket: str,
    source: Any,
    *,
    prefix: str = "",
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    files: Iterable[str] | None = None,
    skip_unchanged: bool = True,
    compare: str = "checksum",
    forbid_overwrite: bool = False,
    concurrency: int | None = None,
    part_size: int | None = None,
    multipart_threshold: int | None = None,
    resume: bool = True,
    owner: str | None = None,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
    initiate_kwargs: dict[str, Any] | None = None,
    content_md5: bool = True,
    progress_interval: float = DEFAULT_LOG_INTERVAL,
    max_rows: int = MAX_REPORT_ROWS,
    file_set: FileSet | None = None,
) -> FilesReport:
    """Upload every file of ``source`` to ``oss://bucket/<prefix><relative path>``.

    :param prefix: destination prefix; a ``/`` is added when missing (``exports/2026-01-01``
        -> ``exports/2026-01-01/part-0.parquet``); empty: the bucket's root.
    :param include: glob(s) a file must match (a pattern without ``/`` matches the file name).
    :param exclude: glob(s) that leave a file out.
    :param files: only these relative paths (one batch of :func:`plan_file_batches`).
    :param skip_unchanged: leave out files whose object is unchanged (see ``compare``).
    :param compare: how "unchanged" is decided: ``"checksum"`` (default: size and MD5 / CRC-64,
        reads the file) or ``"size_mtime"`` (size and the listing's Last-Modified against the
        file's mtime: no read, no request; misses a same-size rewrite with an older mtime).
    :param forbid_overwrite: never replace an object: a file whose key exists is reported as
        ``exists`` and not sent (OSS refuses the write too, ``x-oss-forbid-overwrite``).
    :param concurrency: requests (and bodies in memory) in flight across all files and parts;
        default 8. Memory <= concurrency x part size.
    :param multipart_threshold: files below it go up in one PUT; default the part size (8 MiB);
        at most the part size, so one slot never holds more than a part.
    :param owner: writer identity for big files (each file's owner is ``owner:relative path``);
        a retry with the same owner resumes a big file a killed worker left behind.
    :returns: the report; raises :class:`FilesUploadError` (carrying it) if any file failed.
    """
    validate_bucket_name(bucket)
    concurrency = validate_concurrency(concurrency)
    part = part_size or DEFAULT_PART_SIZE
    threshold = part if multipart_threshold is None else multipart_threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError(f"multipart_threshold must be a whole number >= 1, got {threshold!r}")
    if part_size is not None and threshold > part_size:
        raise ValueError(
            f"multipart_threshold ({threshold}) must not exceed part_size ({part_size}): a "
            "single-PUT file occupies one slot, and a slot holds at most one part"
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
    fileset = file_set or list_files(source, include=include, exclude=exclude, files=files)
    report = FilesReport(bucket, prefix, fileset.description, max_rows=max_rows)
    for entry in fileset.entries:
        validate_key(prefix + entry.rel)
    started = time.monotonic()
    existing: dict[str, dict[str, Any]] = {}
    if (skip_unchanged or forbid_overwrite) and fileset.entries:
        existing = {o["key"]: o for o in client.list_objects(bucket, prefix=prefix or None)}
    progress = SetProgress(len(fileset.entries), fileset.total_bytes, interval=progress_interval)
    log.info(
        "Uploading %d files (%s) from %s to oss://%s/%s: %d requests at a time, one PUT below "
        "%s, parts of %s above%s",
        len(fileset.entries), format_bytes(fileset.total_bytes), fileset.description, bucket,
        prefix, concurrency, format_bytes(threshold), format_bytes(part),
        f"; {len(existing)} objects already under the prefix" if existing else "",
    )  # fmt: skip
    big = [e for e in fileset.entries if e.size >= threshold]
    small = [e for e in fileset.entries if e.size < threshold]
    in_progress = _keys_in_progress(client, bucket, prefix) if resume and big else set()
    release_large_buffers()  # small files' bodies too (see client.memory)
    job = _Job(
        client, bucket, prefix, fileset, existing, progress,
        skip_unchanged=skip_unchanged, compare=compare, forbid_overwrite=forbid_overwrite,
        limiter=threading.BoundedSemaphore(concurrency),
        part_size=part_size, threshold=threshold, in_progress=in_progress,
        part_threads=max(2, concurrency // max(1, min(len(big), 4))),
        owner=owner,
        options={"content_type": content_type, "metadata": metadata, **(initiate_kwargs or {})},
        content_md5=content_md5,
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    # Big files start first (their parts fill the slots), small files fill the gaps. Up to one
    # big file per slot runs at once: each spends round trips (Initiate, records, Complete)
    # holding no slot, and the shared limiter, not the thread count, bounds requests and memory.
    # Part threads per big file: one per slot for a lone file, a quarter of the slots when 4+ run.
    big_at_once = max(1, min(concurrency, len(big), _MAX_BIG_AT_ONCE))
    with (
        ThreadPoolExecutor(big_at_once, thread_name_prefix="oss-file") as bp,
        ThreadPoolExecutor(concurrency, thread_name_prefix="oss-put") as sp,
        ThreadPoolExecutor(min(concurrency, _CHECK_THREADS), thread_name_prefix="oss-check") as cp,
    ):
        futures = [bp.submit(job.one, e) for e in big]
        for e in small:  # small files with an object at their key are checked on their own threads
            checking = prefix + e.rel in existing
            futures.append(cp.submit(job.check_first, e, sp) if checking else sp.submit(job.one, e))
        for f in futures:
            row = f.result()
            rows.append(row.result() if isinstance(row, Future) else row)
    report.rows = sorted(rows, key=lambda r: r["key"])
    report.seconds = time.monotonic() - started
    progress.finish()
    summary = report.to_dict()
    log.info(
        "Done: %d uploaded (%s), %d skipped unchanged, %d already existing, %d failed, in %.1f s",
        summary["uploaded"], format_bytes(summary["bytes_uploaded"]), summary["skipped"],
        summary["exists"], summary["failed"], report.seconds,
    )  # fmt: skip
    failed = report.failed
    if failed:
        for r in failed:
            log.error("Failed: %s -> oss://%s/%s: %s", r["file"], bucket, r["key"], r["error"])
        names = ", ".join(r["file"] for r in failed[:20])
        more = f" and {len(failed) - 20} more (see the log)" if len(failed) > 20 else ""
        raise FilesUploadError(
            f"{len(failed)} of {len(rows)} files failed: {names}{more}. The other files were "
            "uploaded; no partial object or open multipart upload was left for the failed ones. "
            "A retry with skip_unchanged sends only what is missing. First error: "
            f"{failed[0]['error']}",
            report,
        )
    return report


class _Job:
    """The shared state of one :func:`upload_files` run; :meth:`one` handles one file."""

    def __init__(self, client, bucket, prefix, fileset, existing, progress, **opts: Any) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.fileset, self.existing, self.progress = fileset, existing, progress
        self.__dict__.update(opts)

    def one(self, entry: FileEntry) -> dict[str, Any]:
        """Check ``entry`` against what is stored, then send it if it must go up."""
        row = self.settle(entry)
        return row if row is not None else self.send(entry)

    def check_first(self, entry: FileEntry, senders: ThreadPoolExecutor) -> dict[str, Any] | Future:
        """Check away from the sending threads, hand a file that must go up to ``senders``.
        Hashing needs CPU, not a request slot: meanwhile every sender keeps a request going."""
        row = self.settle(entry)
        return row if row is not None else senders.submit(self.send, entry)

    def settle(self, entry: FileEntry) -> dict[str, Any] | None:
        """The row of a file that is not sent (unchanged, or it exists and must not be
        replaced, or its check failed); None for a file to send."""
        key = self.prefix + entry.rel
        obj = self.existing.get(key)
        if obj is None:
            return None
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
        return self._done(row, 0)

    def send(self, entry: FileEntry) -> dict[str, Any]:
        key = self.prefix + entry.rel
        row = self._row(entry, key)
        counted = 0
        try:
            if entry.size < self.threshold:
                row.update(action="uploaded", **self._put(entry, key))
            else:
                tracker = _FileTracker(entry.size, entry.rel, self.progress)
                try:
                    row.update(action="uploaded", **self._multipart(entry, key, tracker))
                finally:
                    counted = tracker.counted
        except FileAlreadyExists:
            row["action"] = "exists"  # created by someone else since the listing
        except Exception as error:  # noqa: BLE001 - per-file policy: record, go on, fail at end
            self._failed(row, error)
        return self._done(row, counted)

    @staticmethod
    def _row(entry: FileEntry, key: str) -> dict[str, Any]:
        return {"file": entry.rel, "key": key, "size": entry.size}

    @staticmethod
    def _failed(row: dict[str, Any], error: Exception) -> None:
        row.update(
            action="failed",
            error=f"{type(error).__name__}: {error}"[:500],
            retryable=is_retryable(error),
        )
        log.warning("Could not upload %s to %s: %s", row["file"], row["key"], row["error"])

    def _done(self, row: dict[str, Any], counted: int) -> dict[str, Any]:
        self.progress.file_done(row["action"], row["size"], counted)
        return row

    def _options(self, entry: FileEntry) -> dict[str, Any]:
        options = dict(self.options)
        if options.get("content_type") is None:
            options["content_type"] = mimetypes.guess_type(entry.rel)[0]
        if self.compare == "size_mtime" and entry.mtime is not None:
            options["metadata"] = {
                **(options.get("metadata") or {}),
                MTIME_KEY: f"{entry.mtime:.6f}",
            }
        if self.forbid_overwrite:
            options["forbid_overwrite"] = True
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
        # one slot: the file's bytes in memory and its request in flight
        with self.limiter, self.fileset.open(entry, self.client) as src:
            data = src.read(0, src.size) if src.size else b""
            if len(data) != entry.size:
                src.check_unchanged({"size": entry.size})
            src.check_unchanged()
            info = self.client.put_object(self.bucket, key, data, **options)
        return {"etag": info.etag, "crc64": info.crc64}

    def _multipart(self, entry: FileEntry, key: str, tracker: TransferProgress) -> dict[str, Any]:
        from oss_provider.client.transfer import upload

        options = self._options(entry)
        with self.fileset.open(entry, self.client) as src:
            done = upload(
                self.client, self.bucket, key, src,
                part_size=self.part_size, concurrency=self.part_threads,
                resume=key in self.in_progress,  # listed only when resume is on
                owner=f"{self.owner}:{entry.rel}" if self.owner else None,
                content_type=options.pop("content_type"), metadata=options.pop("metadata"),
                initiate_kwargs=options or None, progress=tracker, abort_on_failure=True,
                content_md5=self.content_md5, multipart_threshold=0, limiter=self.limiter,
            )  # fmt: skip
        return {"etag": done.etag, "crc64": done.crc64}


__all__ = [
    "MAX_REPORT_ROWS",
    "FileEntry",
    "FileSet",
    "FilesReport",
    "FilesUploadError",
    "SetProgress",
    "list_files",
    "plan_file_batches",
    "select",
    "upload_files",
]
