"""Where the bytes of an upload come from: one small class per kind of source.

Every source hands the transfer engine one part at a time, so memory stays bounded by
concurrency x part size whatever the source is:

- :class:`LocalFileSource`: a path (or ``file://`` URL); read at an offset with ``os.pread``, so
  the file is never read whole and threads never share a file position. The engine reads a part's
  range in 1 MiB chunks (:class:`~oss_provider.client.bodies.RangeBody`) when it hashes it and
  again when it sends it, so no part is held in memory.
- :class:`FsspecSource`: any fsspec URL or Airflow ``ObjectStoragePath`` whose filesystem serves
  byte ranges (``s3://``, ``gs://``, ``http(s)://``, ``sftp://``, ``memory://`` ...). It is
  re-opened by URL in each task, so parts can run on different workers.
- :class:`OSSObjectSource`: ``oss://bucket/key``; parts are copied server-side with UploadPartCopy,
  no bytes pass through the worker.
- :class:`StreamSource`: a non-seekable binary stream (pipe, socket, HTTP body); parts are read
  in order, one buffer per part slot (the engine bounds the slots).

Each source can :meth:`~Source.check_unchanged`: size and mtime for files, ETag (or mtime) for
remote objects. A source that changed during an upload raises :class:`SourceChangedError` instead
of stitching two versions into one object.
"""

from __future__ import annotations

import io
import os
import stat
from abc import ABC
from typing import TYPE_CHECKING, Any, BinaryIO, Self
from urllib.parse import unquote, urlsplit, urlunsplit

from oss_provider.client.errors import NoSuchKey, SourceChangedError, SourceIsADirectoryError
from oss_provider.client.urls import oss_path_target, parse_oss_url

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient

# fsspec info() keys that change when a remote object is replaced, most specific first.
_VERSION_KEYS = (
    "ETag",
    "etag",
    "generation",
    "md5Hash",
    "VersionId",
    "LastModified",
    "last_modified",
    "mtime",
    "updated",
    "modified",
    "created",
)


def safe_url(url: str) -> str:
    """A URL fit for logs and errors: no user:password, no query (presigned signatures, tokens)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class Source(ABC):
    """A readable range of bytes with a known size (or a stream, ``size=None``)."""

    kind: str = "source"
    #: True when parts are copied server-side (:meth:`read` is not used).
    server_side_copy: bool = False
    #: True when parts can only be read once, in order.
    is_stream: bool = False

    size: int | None
    description: str

    def fingerprint(self) -> dict[str, Any]:
        """JSON-able identity of the source's current version (size plus mtime or ETag)."""
        return {"size": self.size}

    def check_unchanged(self, expected: dict[str, Any] | None = None) -> None:
        """Raise :class:`SourceChangedError` when the source differs from ``expected`` (default:
        its fingerprint when it was opened)."""
        before = self._opened_fingerprint if expected is None else expected
        now = self.fingerprint()
        changed = {k: (v, now.get(k)) for k, v in before.items() if now.get(k) != v}
        if changed:
            what = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
            raise SourceChangedError(
                f"{self.description} changed while it was being uploaded ({what}). The upload "
                "was stopped so that two versions are not stitched into one object; upload "
                "again once the source is stable."
            )

    _opened_fingerprint: dict[str, Any]

    def read(self, offset: int, length: int) -> bytes:
        """The ``length`` bytes at ``offset``."""
        raise NotImplementedError(f"{self.kind} sources do not support ranged reads")

    def close(self) -> None:
        """Release file descriptors or connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r}, size={self.size!r})"


def _short_read(source: Source, offset: int, wanted: int, got: int) -> SourceChangedError:
    return SourceChangedError(
        f"{source.description}: expected {wanted} bytes at offset {offset} but only {got} "
        f"could be read; the source shrank (it is {source.size} bytes long when the upload "
        "started). Upload again once the source is stable."
    )


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
)


def _require_regular_file(path: str, mode: int) -> None:
    """Refuse a ``source`` path that is not a regular file, saying what to pass instead."""
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise SourceIsADirectoryError(
            f"source {path!r} is a directory; only regular files can be uploaded by path. Give "
            "the path of one file as source (upload each file of a directory separately)"
        )
    what = next((name for test, name in _SPECIAL_FILES if test(mode)), "not a regular file")
    raise ValueError(
        f"source {path!r} is {what}; only regular files can be uploaded by path. To upload "
        "from a pipe, socket or device, open it yourself and pass the open binary stream as "
        f"source instead, e.g. source=open({path!r}, 'rb')"
    )


class LocalFileSource(Source):
    """A local (or shared-filesystem) file read part by part at its offset."""

    kind = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.description = self.path
        # Check the type by path before opening: opening a FIFO with no writer blocks forever.
        try:
            _require_regular_file(self.path, os.stat(self.path).st_mode)
            # O_NONBLOCK: should the path be swapped for a FIFO after the check, the open still
            # returns at once (and fstat below refuses it); it changes nothing for regular files.
            self._fd = os.open(self.path, _OPEN_FLAGS)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"source file {self.path!r} does not exist; check the path (on Celery or "
                "Kubernetes workers the file must be on a filesystem every worker can see)"
            ) from None
        st = os.fstat(self._fd)
        try:
            _require_regular_file(self.path, st.st_mode)
        except ValueError:
            self.close()
            raise
        self.size = st.st_size
        self._opened_fingerprint = self.fingerprint()

    def fingerprint(self) -> dict[str, Any]:
        """Size, mtime (ns) and inode, read by path so a file replaced by rename counts as
        changed; all None once the file is gone."""
        try:
            st = os.stat(self.path)  # by path: catches a file replaced by rename as well
        except FileNotFoundError:
            return {"size": None, "mtime_ns": None, "inode": None}
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` by ``pread`` (no shared position between threads);
        SourceChangedError when the file shrank."""
        # One ``bytes`` object per part, read at its offset (threads never share a position);
        # the client sends it as is, so no second copy of the part exists.
        data = os.pread(self._fd, length, offset)
        if len(data) < length:  # rare short read: keep reading
            chunks = [data]
            done = len(data)
            while done < length:
                more = os.pread(self._fd, length - done, offset + done)
                if not more:
                    raise _short_read(self, offset, length, done)
                chunks.append(more)
                done += len(more)
            data = b"".join(chunks)
        return data

    def close(self) -> None:
        """Close the file descriptor; safe to call twice."""
        fd, self._fd = getattr(self, "_fd", -1), -1
        if fd >= 0:
            os.close(fd)


class FsspecSource(Source):
    """A file on any fsspec filesystem with ranged reads; also accepts an ``ObjectStoragePath``."""

    kind = "fsspec"

    def __init__(self, url: str | None = None, *, fs: Any = None, path: str | None = None) -> None:
        if fs is None:
            if url is None:
                raise ValueError("FsspecSource needs a URL, or a filesystem and a path")
            try:
                from fsspec.core import url_to_fs
            except ImportError:  # pragma: no cover - fsspec ships with Airflow
                raise ImportError(
                    f"reading {safe_url(url)} needs fsspec: pip install fsspec (plus the "
                    "filesystem's package, e.g. s3fs, gcsfs, sshfs)"
                ) from None
            fs, path = url_to_fs(url)
        self.fs = fs
        self.path = path or ""
        self.url = url or self._unstrip()
        self.description = safe_url(self.url)
        try:
            info = fs.info(self.path)
        except FileNotFoundError:
            raise FileNotFoundError(f"source {self.description} does not exist") from None
        if info.get("type") == "directory":
            raise IsADirectoryError(f"source {self.description} is a directory; name one file")
        if info.get("size") is None:
            raise ValueError(
                f"source {self.description} does not report its size, so it cannot be split "
                "into ranges; open it and pass the file object to upload it as a stream"
            )
        self.size = int(info["size"])
        self._opened_fingerprint = self._fingerprint_from(info)

    def _unstrip(self) -> str:
        proto = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        return f"{proto}://{self.path}" if "://" not in self.path else self.path

    @staticmethod
    def _fingerprint_from(info: dict[str, Any]) -> dict[str, Any]:
        print_ = {"size": info.get("size")}
        for name in _VERSION_KEYS:
            if info.get(name) is not None:
                print_[name] = str(info[name])
                break
        return print_

    def fingerprint(self) -> dict[str, Any]:
        """Size plus the first version field the filesystem reports (ETag, generation, mtime
        ...), asked afresh: cached listings are invalidated first."""
        invalidate = getattr(self.fs, "invalidate_cache", None)
        if invalidate is not None:  # s3fs, gcsfs ... cache listings; ask the server again
            invalidate(self.path)
        try:
            info = self.fs.info(self.path)
        except FileNotFoundError:
            return {"size": None}
        return self._fingerprint_from(info)

    def read(self, offset: int, length: int) -> bytes:
        """A ranged ``cat_file``; ValueError when the server ignores ranges (more bytes than
        asked), SourceChangedError when fewer came."""
        if length == 0:
            return b""
        data = self.fs.cat_file(self.path, start=offset, end=offset + length)
        if len(data) != length:
            if len(data) > length:  # a server that ignored the Range header
                raise ValueError(
                    f"{self.description} answered a ranged read with {len(data)} bytes instead "
                    f"of {length}: the server does not support byte ranges. Download the file "
                    "first or pass it as a stream"
                )
            raise _short_read(self, offset, length, len(data))
        return bytes(data)


class OSSObjectSource(Source):
    """An OSS object copied server-side, range by range, with UploadPartCopy.

    The client must be able to read the source bucket (same account or a granted one, same
    region). The source's ETag is checked before Complete.
    """

    kind = "oss"
    server_side_copy = True

    def __init__(self, client: OSSClient, bucket: str, key: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.description = f"oss://{bucket}/{key}"
        try:
            info = client.head_object(bucket, key)
        except NoSuchKey:
            raise FileNotFoundError(f"source object {self.description} does not exist") from None
        self.size = int(info.size or 0)
        self.etag = info.etag
        self.crc64 = info.crc64
        self.content_type = info.content_type  # kept by the copy unless the caller overrides
        self.metadata = dict(info.metadata or {})
        self._opened_fingerprint = {"size": self.size, "etag": self.etag}

    def fingerprint(self) -> dict[str, Any]:
        """Size and ETag from a fresh HeadObject; both None once the object is gone."""
        try:
            info = self.client.head_object(self.bucket, self.key)
        except NoSuchKey:
            return {"size": None, "etag": None}
        return {"size": info.size, "etag": info.etag}

    def read(self, offset: int, length: int) -> bytes:
        """A ranged GET, for a caller that needs the bytes; the upload engine copies parts
        server-side instead and never reads them."""
        if length == 0:
            return b""
        data = self.client.get_object(
            self.bucket, self.key, byte_range=(offset, offset + length - 1)
        )
        if len(data) != length:
            raise _short_read(self, offset, length, len(data))
        return data


def _is_text_stream(stream: Any) -> bool:
    """True when ``stream`` reads ``str``: text files, ``io.StringIO``, ``sys.stdin`` ..."""
    if isinstance(stream, io.TextIOBase):
        return True
    if isinstance(stream, io.RawIOBase | io.BufferedIOBase):
        return False  # binary whatever its ``mode`` says (zipfile's members say "r")
    try:
        probe = stream.read(0)  # consumes nothing; tells str from bytes
    except Exception:  # noqa: BLE001 - no answer; fall back on the mode
        probe = None
    if isinstance(probe, str):
        return True
    if isinstance(probe, bytes | bytearray | memoryview):
        return False
    mode = getattr(stream, "mode", None)
    return isinstance(mode, str) and bool(mode) and "b" not in mode


def _text_stream_error(description: str) -> TypeError:
    return TypeError(
        f"source {description} is a text stream (it reads str, not bytes); uploads need bytes. "
        "Open the file in binary mode, open(path, 'rb') instead of open(path, 'r'), use "
        "io.BytesIO instead of io.StringIO, sys.stdin.buffer instead of sys.stdin, or pass the "
        "path itself"
    )


class StreamSource(Source):
    """A non-seekable binary stream, read once, in order, a part at a time.

    ``size`` is optional; when given, the stream must deliver exactly that many bytes.
    """

    kind = "stream"
    is_stream = True

    def __init__(self, stream: BinaryIO | Any, size: int | None = None, *, name: str | None = None):
        if not hasattr(stream, "read"):
            raise TypeError(
                f"source {type(stream).__name__} is not a stream (it has no .read() method); "
                "pass a path, a URL, bytes or a binary stream opened with open(path, 'rb')"
            )
        self.stream = stream
        self.size = size
        self.description = name or f"<stream {getattr(stream, 'name', type(stream).__name__)}>"
        if _is_text_stream(stream):
            raise _text_stream_error(self.description)
        self._opened_fingerprint = {}
        self._position = 0

    def fingerprint(self) -> dict[str, Any]:
        """Empty: a stream has no version to compare, so :meth:`check_unchanged` always passes."""
        return {}

    def read_next(self, length: int) -> bytes:
        """The next ``length`` bytes (fewer only at the end of the stream).

        A buffered binary stream (``sys.stdin.buffer``, a file, a socket file) returns the whole
        part from one ``read``; short reads (raw pipes) are joined once.
        """
        data = self.stream.read(length) or b""
        if len(data) < length and data:
            chunks = [data]
            done = len(data)
            while done < length:
                more = self.stream.read(length - done)
                if not more:
                    break
                chunks.append(more)
                done += len(more)
            data = b"".join(chunks)
        if isinstance(data, str):  # a text stream that _is_text_stream could not tell
            raise _text_stream_error(self.description)
        if not isinstance(data, bytes):
            data = bytes(data)
        done = len(data)
        self._position += done
        if self.size is not None and (
            self._position > self.size or (done < length and self._position != self.size)
        ):
            raise SourceChangedError(
                f"{self.description} was declared as {self.size} bytes but delivered "
                f"{'more' if self._position > self.size else self._position}; pass the right "
                "size (or none)"
            )
        return data


def open_source(source: Any, *, client: OSSClient | None = None, size: int | None = None) -> Source:
    """Pick the source class for ``source``: a :class:`Source`, a path, a ``file://`` /
    ``oss://`` / fsspec URL, an ``ObjectStoragePath``, bytes, or a binary stream."""
    if isinstance(source, Source):
        return source
    if isinstance(source, bytes | bytearray | memoryview):
        return StreamSource(io.BytesIO(source), len(source), name="<bytes>")
    if isinstance(source, os.PathLike) and not hasattr(source, "fs"):
        return LocalFileSource(source)
    if hasattr(source, "fs") and hasattr(source, "path"):  # ObjectStoragePath / UPath
        protocol = getattr(source, "protocol", "") or ""
        if protocol in ("", "file", "local"):
            return LocalFileSource(str(source.path))
        target = oss_path_target(source)
        if target is not None and target[0]:
            return open_source(f"oss://{target[0]}/{target[1]}", client=client)
        return FsspecSource(str(source), fs=source.fs, path=str(source.path))
    if isinstance(source, str):
        text = source.strip()
        if not text:
            raise ValueError("source is empty; give a path, a URL or oss://bucket/key")
        if text.startswith("oss://"):
            if client is None:
                raise ValueError(f"copying from {text} needs an OSS client")
            bucket, key = parse_oss_url(text)
            if not key:
                raise ValueError(f"{text} names a bucket, not an object; use oss://bucket/key")
            return OSSObjectSource(client, bucket, key)
        if text.startswith("file://"):
            parts = urlsplit(text)
            return LocalFileSource(unquote(parts.path))
        if "://" in text:
            return FsspecSource(text)
        return LocalFileSource(os.path.expanduser(text))
    if hasattr(source, "read"):
        return StreamSource(source, size)
    raise TypeError(
        f"cannot upload from {type(source).__name__}: give a path, a file:// / s3:// / gs:// / "
        "http(s):// / sftp:// / oss:// URL, an ObjectStoragePath, bytes or a binary stream"
    )
