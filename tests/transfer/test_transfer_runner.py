"""The part runner with an injected executor: parts run where the caller says, the run still
waits for all of them, the bound on parts in flight holds, and the executor is left running."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import pytest

from oss_provider.client.checksums import crc64
from oss_provider.client.limits import MIN_PART_SIZE
from oss_provider.transfer.plan import plan_parts
from oss_provider.transfer.progress import TransferProgress
from oss_provider.transfer.runner import PartRunner
from oss_provider.transfer.sources import LocalFileSource

pytestmark = pytest.mark.timeout(120)


class CountingExecutor(Executor):
    """A shared pool that counts what it runs and the most tasks it ran at once."""

    def __init__(self, workers: int) -> None:
        self.pool = ThreadPoolExecutor(workers)
        self.submitted = 0
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        def counted():
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1

        with self.lock:
            self.submitted += 1
        return self.pool.submit(counted)

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        self.pool.shutdown(wait=wait)


def _run(oss_client, oss_bucket, path, executor, concurrency):
    key = "runner/injected.bin"
    upload_id = oss_client.start_multipart_upload(oss_bucket, key).upload_id
    src = LocalFileSource(str(path))
    try:
        specs = plan_parts(src.size, MIN_PART_SIZE)
        runner = PartRunner(
            oss_client, oss_bucket, key, upload_id, src, concurrency=concurrency, existing={},
            progress=TransferProgress(src.size), executor=executor,
        )  # fmt: skip
        parts = runner.run(specs)
        done = oss_client.complete_multipart_upload(oss_bucket, key, upload_id, parts)
    finally:
        src.close()
    return specs, parts, done


def test_parts_run_on_the_injected_executor_which_stays_usable(oss_client, oss_bucket, tmp_path):
    data = os.urandom(6 * MIN_PART_SIZE + 123)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    shared = CountingExecutor(workers=8)
    try:
        specs, parts, done = _run(oss_client, oss_bucket, path, shared, concurrency=2)
        assert shared.submitted == len(specs) == len(parts) == 7
        assert shared.most <= 2  # the runner's own bound, though the pool has 8 threads
        assert done.crc64 == crc64(data)
        assert shared.submit(lambda: 42).result() == 42  # not shut down by the runner
    finally:
        shared.shutdown()


def test_an_inline_executor_runs_every_part_in_the_calling_thread(oss_client, oss_bucket, tmp_path):
    class Inline(Executor):
        def __init__(self) -> None:
            self.threads: set[int] = set()

        def submit(self, fn, /, *args, **kwargs) -> Future:
            future: Future = Future()
            self.threads.add(threading.get_ident())
            future.set_result(fn(*args, **kwargs))
            return future

    data = os.urandom(3 * MIN_PART_SIZE)
    path = tmp_path / "inline.bin"
    path.write_bytes(data)
    inline = Inline()
    _, parts, done = _run(oss_client, oss_bucket, path, inline, concurrency=4)
    assert [p.part_number for p in parts] == [1, 2, 3]
    assert inline.threads == {threading.get_ident()}
    assert done.crc64 == crc64(data)
