"""The files of a set: a directory, a file, a glob or a remote prefix, filtered by globs, in the
order OSS lists keys; and the batch plan of a mapped upload.

:func:`stream_files` walks a local directory in key order without listing it first: each
directory's entries are sorted (a directory ``a`` as ``a/``, so ``a.txt`` comes before
``a/x`` as the keys ``p/a.txt`` < ``p/a/x`` do) and the walk goes down as it meets them, so the
relative paths come out in code-point order, which is the byte order of their UTF-8 keys, the
order of ListObjectsV2. Nothing is held but the sorted names of the directories on the current
path (memory grows with the tree's depth and its widest directory, not with its file count), and
every iteration walks the tree again (a counting pass, then the upload pass).

Held whole, because the underlying call returns everything at once: the matches of a glob
(``glob.glob``, paths only), a remote prefix (``fs.find``), the relative paths of a batch
(``files=``: stat'ed one by one in key order, no walk), and :func:`list_files`'s list, which
:func:`plan_file_batches` needs whole to balance batches by bytes.
"""

from __future__ import annotations

import glob
import heapq
import itertools
import logging
import math
import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from oss_provider.globs import selected as select
from oss_provider.transfer.plan import MAX_BATCHES
from oss_provider.transfer.sources import FsspecSource, LocalFileSource, Source, safe_url

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

log = logging.getLogger(__name__)

MiB = 1024 * 1024
_GLOB_CHARS = "*?["
_BATCH_BYTES = 256 * MiB  # default plan: one mapped task per ~256 MiB ...
_BATCH_FILES = 2000  # ... or per 2,000 files, whichever asks for more tasks


@dataclass(frozen=True)
class FileEntry:
    """One file of the set: ``rel`` (POSIX path under the source root, the key's suffix)."""

    rel: str
    size: int
    path: str  # local path, or the path inside ``FileSet.fs``
    etag: str | None = None  # a remote source's ETag, when its filesystem says
    mtime: float | None = None  # a local file's modification time (``compare="size_mtime"``)


class FileStream:
    """The entries of a source in key order, walked again on every iteration (never a list)."""

    def __init__(self, walk: Callable[[], Iterator[FileEntry]], description: str) -> None:
        self._walk = walk
        self.description = description

    def __iter__(self) -> Iterator[FileEntry]:
        return self._walk()

    def __repr__(self) -> str:
        return f"FileStream({self.description!r})"


@dataclass
class FileSet:
    """The files to upload. ``entries``: a list (:func:`list_files`, or built by the caller, in
    any order) or a :class:`FileStream` (:func:`stream_files`, in key order, walked per use)."""

    description: str
    entries: Iterable[FileEntry]
    fs: Any = None  # None: local files
    protocol: str = "file"

    @property
    def streamed(self) -> bool:
        return isinstance(self.entries, FileStream)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def in_key_order(self) -> Iterator[FileEntry]:
        """The entries sorted by relative path (so by key): a stream is walked in that order;
        a list, already held, is sorted here."""
        if isinstance(self.entries, FileStream):
            return iter(self.entries)
        entries = self.entries if isinstance(self.entries, Sequence) else list(self.entries)
        if all(a.rel < b.rel for a, b in itertools.pairwise(entries)):
            return iter(entries)
        return iter(sorted(entries, key=lambda e: e.rel))

    def open(self, entry: FileEntry, client: OSSClient | None = None) -> Source:
        if self.fs is None:
            return LocalFileSource(entry.path)
        return FsspecSource(f"{self.protocol}://{entry.path}", fs=self.fs, path=entry.path)


# --------------------------------------------------------------------------- filters


def _as_patterns(name: str, value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{name} must be glob patterns (strings), got {value!r}")
    return [i.strip() for i in items]


def _glob_root(pattern: str, sep: str = "/") -> str:
    """The directory part of a glob before its first wildcard."""
    head = pattern[: min(pattern.find(c) for c in _GLOB_CHARS if c in pattern)]
    return head[: head.rfind(sep) + 1] if sep in head else ""


# --------------------------------------------------------------------------- local walks


def _sorted_dir(path: str) -> list[tuple[str, bool]]:
    """``(name, is_dir)`` of a directory, sorted as keys sort: a directory ``a`` as ``a/``.
    Symlinks to directories are not followed (as ``os.walk``); an unreadable directory is
    skipped (as ``os.walk``), with a warning."""
    items: list[tuple[str, str, bool]] = []
    try:
        with os.scandir(path) as it:
            for de in it:
                try:
                    if de.is_dir(follow_symlinks=False):
                        items.append((de.name + "/", de.name, True))
                        continue
                    if de.is_symlink() and de.is_dir():
                        continue  # a symlink to a directory: not followed
                except OSError:
                    pass
                items.append((de.name, de.name, False))
    except OSError as error:
        log.warning("Skipping directory %s: %s", path, error)
        return []
    items.sort()
    return [(name, is_dir) for _, name, is_dir in items]


def _file_entry(path: str, rel: str) -> FileEntry | None:
    """The entry of a regular file (a symlink to one included), None for anything else or a
    file removed meanwhile."""
    try:
        st = os.stat(path)
    except OSError:  # a dangling symlink or a file removed meanwhile
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return FileEntry(rel, st.st_size, path, mtime=st.st_mtime)


def _walk_dir(root: str) -> Iterator[FileEntry]:
    """Every regular file under ``root`` in key order; holds one sorted listing per level."""
    stack: list[tuple[str, str, Iterator[tuple[str, bool]]]] = [(root, "", iter(_sorted_dir(root)))]
    while stack:
        path, rel, names = stack[-1]
        item = next(names, None)
        if item is None:
            stack.pop()
            continue
        name, is_dir = item
        child = os.path.join(path, name)
        if is_dir:
            stack.append((child, f"{rel}{name}/", iter(_sorted_dir(child))))
            continue
        entry = _file_entry(child, rel + name)
        if entry is not None:
            yield entry


def _safe_rel(rel: str) -> bool:
    """A relative path that stays under the root (no ``..``, no absolute path, no ``//``)."""
    return (
        bool(rel)
        and not rel.startswith("/")
        and ".." not in rel.split("/")
        and (posixpath.normpath(rel) == rel)
    )


def _planned(root: str, rels: Iterable[str]) -> Iterator[FileEntry]:
    """The planned files of a batch, stat'ed one by one in key order (no walk of the tree);
    a path that leaves the root counts as missing."""
    for rel in sorted(set(rels)):
        entry = _file_entry(os.path.join(root, *rel.split("/")), rel) if _safe_rel(rel) else None
        if entry is None:
            entry = FileEntry(rel, -1, "")  # missing: reported by _restricted
        yield entry


def _local_walker(source: str) -> tuple[str, Callable[[], Iterator[FileEntry]], bool]:
    """``(root, walk, is_dir)`` of a local directory, file or glob."""
    source = os.path.expanduser(source)
    if any(c in source for c in _GLOB_CHARS):
        root = _glob_root(source, os.sep) or "." + os.sep

        def walk_glob() -> Iterator[FileEntry]:
            found = glob.glob(source, recursive=True)  # glob's own list: paths, held
            pairs = sorted((os.path.relpath(p, root).replace(os.sep, "/"), p) for p in found)
            del found
            for rel, path in pairs:
                entry = _file_entry(path, rel)
                if entry is not None:
                    yield entry

        return root, walk_glob, False
    if os.path.isdir(source):
        root = source.rstrip(os.sep) + os.sep
        return root, lambda: _walk_dir(root), True
    if os.path.isfile(source):
        root = os.path.dirname(source) + os.sep
        rel = os.path.basename(source)

        def one() -> Iterator[FileEntry]:
            entry = _file_entry(source, rel)
            if entry is not None:
                yield entry

        return root, one, False
    raise FileNotFoundError(
        f"source {source!r} is no directory, file or glob that exists on this worker"
    )


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
    for name, info in found.items():
        if info.get("type") == "directory" or info.get("size") is None:
            continue
        rel = name[len(root) :] if name.startswith(root) else posixpath.basename(name)
        etag = info.get("ETag") or info.get("etag")
        etag = str(etag).strip('"') if etag else None
        entries.append(FileEntry(rel.lstrip("/"), int(info["size"]), name, etag))
    entries.sort(key=lambda e: e.rel)
    return root, entries


def _filtered(entries: Iterable[FileEntry], inc: list[str], exc: list[str]) -> Iterator[FileEntry]:
    for entry in entries:
        if (not inc and not exc) or select(entry.rel, inc, exc):
            yield entry


def _restricted(
    entries: Iterable[FileEntry], wanted: set[str], description: str
) -> Iterator[FileEntry]:
    """Only the relative paths ``wanted`` (a batch); raises at the end when any is missing."""
    seen: set[str] = set()
    for entry in entries:
        if entry.rel in wanted and entry.size >= 0:
            seen.add(entry.rel)
            yield entry
    missing = wanted - seen
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} planned file(s) no longer exist under {description}: "
            + ", ".join(sorted(missing)[:10])
        )


# --------------------------------------------------------------------------- listing


def _resolve(source: Any) -> tuple[Any, Any, str]:
    """``(fs or None, path or local source string, protocol)``."""
    fs = None
    protocol = "file"
    path: Any = None
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
    return fs, (path if fs is not None else source), protocol


def stream_files(
    source: Any,
    *,
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    files: Iterable[str] | None = None,
) -> FileSet:
    """The files of ``source`` as :func:`list_files` finds them, as a :class:`FileStream` in key
    order: walked when iterated, again on each iteration, never held as a list. A bad source
    raises here; a planned file (``files``) that is missing raises when the walk ends."""
    inc, exc = _as_patterns("include", include), _as_patterns("exclude", exclude)
    fs, where, protocol = _resolve(source)
    wanted = None if files is None else {str(f) for f in files}
    if fs is None:
        description = where
        root, walk, is_dir = _local_walker(where)
        if wanted is not None and is_dir:  # a batch: stat its files, do not walk the tree

            def walk() -> Iterator[FileEntry]:
                return _planned(root, wanted)

    else:
        description = safe_url(f"{protocol}://{where}")
        root, remote = _remote_entries(fs, where)

        def walk() -> Iterator[FileEntry]:
            return iter(remote)

    def entries() -> Iterator[FileEntry]:
        found = _filtered(walk(), inc, exc)
        return found if wanted is None else _restricted(found, wanted, description)

    log.debug("Streaming the files under %s (root %s)", description, root)
    return FileSet(description, FileStream(entries, description), fs, protocol)


def list_files(
    source: Any,
    *,
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    files: Iterable[str] | None = None,
) -> FileSet:
    """The files of ``source`` (a directory, a file, a glob such as ``data/**/*.parquet``, an
    fsspec URL or prefix, or an ``ObjectStoragePath``), filtered by ``include`` / ``exclude``
    globs and, when given, restricted to the relative paths ``files`` (a plan batch), as a
    list in key order (held whole: :func:`stream_files` walks instead)."""
    streamed = stream_files(source, include=include, exclude=exclude, files=files)
    entries = list(streamed.entries)
    log.debug("Listed %d files under %s", len(entries), streamed.description)
    return FileSet(streamed.description, entries, streamed.fs, streamed.protocol)


# --------------------------------------------------------------------------- planning


def plan_file_batches(
    entries: Iterable[FileEntry], *, batches: int | None = None, max_batches: int = MAX_BATCHES
) -> list[dict[str, Any]]:
    """Split files into at most ``max_batches`` batches balanced by bytes (largest file first
    into the lightest batch); each ``{"batch", "files", "count", "bytes"}``.

    It holds a ``(size, relative path)`` pair per file: balancing by bytes needs every size, and
    the plan itself names every file. ``entries`` may be a stream (no ``FileEntry`` is kept)."""
    if not 1 <= max_batches:
        raise ValueError(f"max_batches must be >= 1, got {max_batches!r}")
    sized = [(e.size, e.rel) for e in entries]
    if not sized:
        return []
    total = sum(size for size, _ in sized)
    if batches is None:
        batches = max(math.ceil(total / _BATCH_BYTES), math.ceil(len(sized) / _BATCH_FILES))
    if batches < 1:
        raise ValueError(f"batches must be >= 1, got {batches!r}")
    n = max(1, min(batches, max_batches, len(sized)))
    heap = [(0, 0, i) for i in range(n)]  # (bytes, files, batch)
    chosen: list[list[tuple[int, str]]] = [[] for _ in range(n)]
    sized.sort(key=lambda s: (-s[0], s[1]))
    for item in sized:
        size, count, i = heapq.heappop(heap)
        chosen[i].append(item)
        heapq.heappush(heap, (size + item[0], count + 1, i))
    out = []
    for i, group in enumerate(g for g in chosen if g):
        out.append(
            {
                "batch": i,
                "files": sorted(rel for _, rel in group),
                "count": len(group),
                "bytes": sum(size for size, _ in group),
            }
        )
    return out


__all__ = [
    "FileEntry",
    "FileSet",
    "FileStream",
    "list_files",
    "plan_file_batches",
    "select",
    "stream_files",
]
