"""Part sources on the local filesystem and fsspec: ranged reads, change detection, streams."""

from __future__ import annotations

import io
import os

import fsspec
import pytest

from oss_provider.client.errors import SourceChangedError
from oss_provider.transfer.sources import (
    FsspecSource,
    LocalFileSource,
    StreamSource,
    open_source,
    safe_url,
)

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def local_file(tmp_path):
    path = tmp_path / "src.bin"
    path.write_bytes(DATA)
    return path


def test_local_file_reads_each_range_at_its_offset(local_file):
    with LocalFileSource(local_file) as src:
        assert src.size == len(DATA)
        assert src.read(8192, 2048) == DATA[8192:]
        first = src.read(0, 4096)
        assert type(first) is bytes and first == DATA[:4096]  # sent as is: no second copy
        src.check_unchanged()


def test_local_file_that_shrinks_or_changes_is_detected(local_file):
    with LocalFileSource(local_file) as src:
        local_file.write_bytes(DATA[:100])
        with pytest.raises(SourceChangedError, match="shrank"):
            src.read(0, 4096)
        with pytest.raises(SourceChangedError, match=r"changed while it was being uploaded.*size"):
            src.check_unchanged()


def test_local_file_replaced_with_same_size_is_detected(local_file):
    with LocalFileSource(local_file) as src:
        other = local_file.with_name("other.bin")
        other.write_bytes(bytes(reversed(DATA)))
        os.utime(other, ns=(1, 1))
        os.replace(other, local_file)
        with pytest.raises(SourceChangedError, match="mtime_ns"):
            src.check_unchanged()


def test_missing_file_and_directory_errors_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="every worker can see"):
        LocalFileSource(tmp_path / "nope.bin")
    with pytest.raises(IsADirectoryError, match="one file"):
        LocalFileSource(tmp_path)


def test_fsspec_memory_source_ranged_reads_and_etag_change():
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/bucket/data.bin", DATA)
    src = open_source("memory://bucket/data.bin")
    assert isinstance(src, FsspecSource)
    assert src.size == len(DATA)
    assert bytes(src.read(100, 50)) == DATA[100:150]
    src.check_unchanged()
    fs.pipe_file("/bucket/data.bin", DATA + b"x")
    with pytest.raises(SourceChangedError, match="size"):
        src.check_unchanged()
    fs.rm("/bucket/data.bin")


def test_file_url_and_object_storage_path_use_the_local_reader(local_file):
    src = open_source(f"file://{local_file}")
    assert isinstance(src, LocalFileSource) and src.size == len(DATA)
    src.close()
    from oss_provider._compat import ObjectStoragePath

    src = open_source(ObjectStoragePath(f"file://{local_file}"))
    assert isinstance(src, LocalFileSource) and bytes(src.read(0, 10)) == DATA[:10]
    src.close()


def test_filesystem_and_path_as_an_object_storage_path_hands_them_over():
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/osp/data.bin", DATA)
    src = FsspecSource(fs=fs, path="/osp/data.bin")
    assert src.description == "memory:///osp/data.bin"
    assert bytes(src.read(5000, 10)) == DATA[5000:5010]


def test_stream_reads_parts_in_order_and_checks_declared_size():
    src = StreamSource(io.BufferedReader(io.BytesIO(DATA)), len(DATA))
    chunks = [src.read_next(4096) for _ in range(3)]
    assert [len(c) for c in chunks] == [4096, 4096, 2048]
    assert b"".join(chunks) == DATA
    short = StreamSource(io.BytesIO(DATA[:10]), 20)
    with pytest.raises(SourceChangedError, match="declared as 20 bytes"):
        short.read_next(4096)


def test_stream_without_readinto_still_works():
    class Pipe:
        def __init__(self):
            self.buf = io.BytesIO(DATA)

        def read(self, n):
            return self.buf.read(min(n, 1000))  # short reads, like a pipe

    src = open_source(Pipe())
    assert isinstance(src, StreamSource) and src.size is None
    assert bytes(src.read_next(3000)) == DATA[:3000]


def test_open_source_rejects_what_it_cannot_read():
    with pytest.raises(TypeError, match="cannot upload from int"):
        open_source(42)
    with pytest.raises(ValueError, match="source is empty"):
        open_source("  ")
    with pytest.raises(ValueError, match="needs an OSS client"):
        open_source("oss://b/k")


def test_safe_url_drops_credentials_and_query():
    url = "https://user:pw@host:8443/b/k?OSSAccessKeyId=a&Signature=s&security-token=t"
    assert safe_url(url) == "https://host:8443/b/k"
    assert safe_url("/local/path") == "/local/path"
