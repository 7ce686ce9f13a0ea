"""Memory stays bounded by concurrency x part size for file and stream sources (tracemalloc)."""

from __future__ import annotations

import io
import random
import tracemalloc

import pytest

from oss_provider.client.checksums import crc64
from oss_provider.transfer import upload as transfer

pytestmark = pytest.mark.timeout(120)

MiB = 1024 * 1024
PART = 1 * MiB
CONCURRENCY = 3
SIZE = 24 * MiB  # 8x the bound: a source read whole (or a queue that reads ahead) would show
BOUND = CONCURRENCY * PART + 2 * MiB  # parts in flight + a small constant (one part being read)


class GeneratedStream(io.RawIOBase):
    """A non-seekable stream that makes its bytes on the fly (never held whole anywhere)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.rng = random.Random(7)
        self.crc = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left, 256 * 1024)
        if n <= 0:
            return 0
        chunk = self.rng.randbytes(n)
        buffer[:n] = chunk
        self.crc = crc64(chunk, self.crc)
        self.left -= n
        return n


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_file_source_memory_is_bounded(tmp_path, oss_client, oss_bucket):
    path = tmp_path / "big.bin"
    rng = random.Random(3)
    crc = 0
    with open(path, "wb") as f:
        for _ in range(SIZE // MiB):
            chunk = rng.randbytes(MiB)
            crc = crc64(chunk, crc)
            f.write(chunk)
    result = {}

    def run():
        result["done"] = transfer.upload(
            oss_client, oss_bucket, "big", str(path), part_size=PART, concurrency=CONCURRENCY
        )

    peak = _peak(run)
    assert result["done"].crc64 == crc
    assert peak < BOUND, f"peak {peak / MiB:.1f} MiB > bound {BOUND / MiB:.1f} MiB"


def test_stream_source_memory_is_bounded(oss_client, oss_bucket):
    stream = GeneratedStream(SIZE)
    result = {}

    def run():
        reader = io.BufferedReader(stream, buffer_size=64 * 1024)
        result["done"] = transfer.upload(
            oss_client, oss_bucket, "big-stream", reader, part_size=PART, concurrency=CONCURRENCY
        )

    peak = _peak(run)
    assert result["done"].size == SIZE and result["done"].crc64 == stream.crc
    assert peak < BOUND, f"peak {peak / MiB:.1f} MiB > bound {BOUND / MiB:.1f} MiB"


def test_a_file_source_never_holds_a_part_sized_buffer(tmp_path, oss_client, oss_bucket):
    """A file's parts are hashed and sent by reading their range in chunks: no read asks for a
    whole 8 MiB part, and peak traced memory stays below one part, whatever the concurrency."""
    from oss_provider.client.bodies import CHUNK
    from oss_provider.transfer.sources import LocalFileSource

    part = 8 * MiB
    path = tmp_path / "parts.bin"
    data = random.Random(5).randbytes(3 * part + 123)
    path.write_bytes(data)
    reads: list[int] = []

    class Recorded(LocalFileSource):
        def read(self, offset, length):
            reads.append(length)
            return super().read(offset, length)

    result = {}

    def run():
        result["done"] = transfer.upload(
            oss_client, oss_bucket, "ranged", Recorded(str(path)), part_size=part, concurrency=4
        )

    peak = _peak(run)
    assert result["done"].crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "ranged") == data
    assert reads and max(reads) <= CHUNK, max(reads)
    assert peak < part, f"peak {peak / MiB:.1f} MiB: a part-sized buffer was held"


def test_a_range_of_a_source_that_comes_up_short_fails_instead_of_looping():
    """A source returning fewer bytes than asked (a remote file that shrank) ends the hashing
    with SourceChangedError; a read that returns nothing used to be retried forever."""
    from oss_provider.client.bodies import RangeBody
    from oss_provider.client.errors import SourceChangedError

    class Shrunk:
        def read(self, offset, length):
            return b"x" * min(length, max(0, 100 - offset))  # 100 bytes left of 3 MiB

    with pytest.raises(SourceChangedError, match="the source changed"):
        RangeBody(Shrunk(), 0, 3 * MiB).digests(True)
