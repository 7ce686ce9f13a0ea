"""Many files at scale: the tree is walked in key order, the destination listing is read page by
page alongside it (one page held, none fetched past the last local file), and what a run holds
does not grow with the number of files. Real emulator over HTTP; its bucket of 100,000 objects
is written straight into a data directory before it starts (PUTs would take minutes)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import tracemalloc
import weakref
from dataclasses import asdict, replace

import pytest

from oss_provider.transfer import files as many
from oss_provider.transfer.fileset import stream_files

pytestmark = pytest.mark.timeout(120)

BUCKET = "scale-bucket"
PREFIX = "scale/"
OBJECTS = 100_000
PAGE = 1000  # OSS (and the emulator) list 1,000 keys per page
EMPTY_MD5 = "D41D8CD98F00B204E9800998ECF8427E"  # the ETag of an empty object (MD5 of no bytes)


def _rel(i: int) -> str:
    return f"{i // PAGE:03d}/{i:06d}.bin"  # 1,000 files per directory: one directory per page


@pytest.fixture(scope="module")
def big_bucket(tmp_path_factory):
    """An emulator whose bucket holds 100,000 empty objects ``scale/<ddd>/<nnnnnn>.bin``."""

    shm = "/dev/shm"  # 100,000 small files: a memory filesystem writes them 5-10x faster
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        parent = tempfile.mkdtemp(prefix="oss-scale-", dir=shm)
    else:
        parent = str(tmp_path_factory.mktemp("scale-emulator"))
    try:  # the emulator writes its log beside its data directory: both go
        yield from _serve(os.path.join(parent, "data"))
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _serve(data_dir: str):
    from oss_provider.emulator.process import EmulatorServer
    from oss_provider.emulator.store import ObjectRecord, Store

    store = Store(data_dir)
    now = time.time()
    store.create_bucket(BUCKET, now)
    record = ObjectRecord(BUCKET, "@KEY@", 0, EMPTY_MD5, 0, "Normal", now, [])
    template = json.dumps(asdict(record), separators=(",", ":"))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for i in range(OBJECTS):  # the store's own record format, one file per object
        key = PREFIX + _rel(i)
        fd = os.open(store._object_path(BUCKET, key), flags, 0o644)
        try:
            os.write(fd, template.replace("@KEY@", key).encode())
        finally:
            os.close(fd)
    with EmulatorServer(data_dir=data_dir, buckets=()) as srv:
        yield srv


@pytest.fixture
def client(big_bucket):
    from oss_provider.client.api import OSSClient
    from oss_provider.client.models import Credentials

    c = OSSClient(
        big_bucket.endpoint,
        Credentials(big_bucket.access_key_id, big_bucket.access_key_secret),
        region=big_bucket.region,
    )
    yield c
    c.close()


def _local_tree(root, count: int, new: tuple[str, ...] = ()) -> None:
    """The first ``count`` files of the bucket, empty (so unchanged), plus ``new`` files."""
    for i in range(count):
        path = root / _rel(i)
        if not i % PAGE:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    for rel in new:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"new " + rel.encode())


class _Tracked(dict):
    """A listed object that can be watched (a plain dict cannot be weak-referenced)."""

    __hash__ = object.__hash__  # by identity, for the WeakSet


class _Watch:
    """Wraps the client's ListObjectsV2 page call: counts pages, and at each fetch how many
    objects of earlier pages are still alive; records the page count when the first PUT starts."""

    def __init__(self, client) -> None:
        self.pages = 0
        self.alive_at_fetch: list[int] = []
        self.pages_at_first_put: int | None = None
        self._live: weakref.WeakSet = weakref.WeakSet()
        list_page, put = client.list_objects_page, client._send

        def list_objects_page(*args, **kwargs):
            self.alive_at_fetch.append(len(self._live))
            page = list_page(*args, **kwargs)
            self.pages += 1
            objects = [_Tracked(o) for o in page.objects]
            self._live.update(objects)
            return replace(page, objects=objects)

        def send(operation, *args, **kwargs):
            if operation == "PutObject" and self.pages_at_first_put is None:
                self.pages_at_first_put = self.pages
            return put(operation, *args, **kwargs)

        client.list_objects_page = list_objects_page
        client._send = send


def test_the_walk_comes_out_in_key_order(tmp_path):
    """A directory ``a`` sorts as ``a/``: ``a.txt`` < ``a/x`` < ``a0``, as their keys do in
    OSS's byte order (``-`` 0x2D, ``.`` 0x2E, ``/`` 0x2F, ``0`` 0x30), with non-ASCII last."""
    rels = [
        "a",
        "a-b",
        "a.txt",
        "a/x",
        "a/y/z",
        "a0",
        "ab/c",
        "B",
        "日本/語.txt",
        "é.csv",
        "z/.hidden",
    ]
    for rel in rels[1:]:
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(b"x")
    (tmp_path / "src" / "a-dir-link").symlink_to(tmp_path / "src" / "ab")  # not followed
    walked = [e.rel for e in stream_files(str(tmp_path / "src")).entries]
    expected = sorted(rels[1:], key=lambda r: r.encode("utf-8"))
    assert walked == expected == sorted(rels[1:])
    # the stream is walked again on each iteration, and list_files holds the same, in order
    assert [e.rel for e in stream_files(str(tmp_path / "src")).entries] == walked
    assert [e.rel for e in many.list_files(str(tmp_path / "src")).entries] == walked


def test_a_100k_listing_is_read_page_by_page_and_no_further_than_the_walk(
    big_bucket, client, tmp_path
):
    """5,000 local files against a prefix of 100,000 objects: 5 pages fetched (not 100), the
    first file sent after at most 2 pages, and no earlier page alive when the next is fetched."""
    root = tmp_path / "src"
    new = ("000/000000.new", "002/002500.new", "004/004998.new")
    _local_tree(root, 5 * PAGE, new)
    watch = _Watch(client)
    big_bucket.reset_stats()
    report = many.upload_files(client, BUCKET, str(root), prefix=PREFIX, concurrency=4)
    summary = report.to_dict()
    assert (summary["skipped"], summary["uploaded"], summary["failed"]) == (5 * PAGE, 3, 0)
    requests = big_bucket.stats()["requests"]
    assert requests["ListObjectsV2"] == watch.pages == 5  # of the 100 pages the prefix has
    assert requests["PutObject"] == 3 and "HeadObject" not in requests
    assert watch.pages_at_first_put is not None and watch.pages_at_first_put <= 2
    # a page is let go before the next is fetched: alive then are at most the objects of files
    # handed to threads (the window) and the one being looked at, never a page, let alone all
    window = 2 * 4 + 4 + 1
    assert watch.alive_at_fetch[0] == 0
    assert max(watch.alive_at_fetch) <= window + 1, watch.alive_at_fetch
    assert len(summary["rows"]) == 100 and summary["rows_omitted"] == 5 * PAGE + 3 - 100


def test_memory_held_does_not_grow_with_the_number_of_files(big_bucket, client, tmp_path):
    """Unchanged reruns of 2,000 and of 8,000 files (2 and 8 listing pages): the peak of
    Python allocations is the same within 512 KiB (a page being parsed while the hashing
    threads' buffers are in use, whatever the count; the old code held every entry and every
    listed object, ~1.5 KiB a file: 9 MiB more at 8,000)."""
    peaks = {}
    for count in (2 * PAGE, 8 * PAGE):
        root = tmp_path / f"src{count}"
        _local_tree(root, count)
        many.upload_files(client, BUCKET, str(root), prefix=PREFIX, concurrency=4)  # warm up
        tracemalloc.start()
        try:
            report = many.upload_files(client, BUCKET, str(root), prefix=PREFIX, concurrency=4)
            peaks[count] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert report.to_dict()["skipped"] == count
    assert peaks[8 * PAGE] < peaks[2 * PAGE] + 512 * 1024, peaks


def test_progress_lines_show_totals_and_an_eta_while_nothing_finishes(
    big_bucket, client, tmp_path, caplog
):
    """The heartbeat logs a due line even while no file finishes (a slow PUT)."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "slow.bin").write_bytes(os.urandom(1000))
    big_bucket.fail_next(1, "slow", "PutObject", delay_seconds=2.5)
    caplog.set_level(logging.INFO, logger="oss_provider.transfer.files")
    try:
        many.upload_files(
            client, BUCKET, str(root), prefix="slow/", skip_unchanged=False, progress_interval=0.5
        )
    finally:
        big_bucket.clear_faults()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("files ")]
    assert len(lines) >= 3, lines  # about one per 0.5 s during the 2.5 s PUT, plus the last
    assert lines[0].startswith("files 0/1, 0 B of 1000 B (0.0%)") and "ETA unknown" in lines[0]
    assert lines[-1].startswith("files 1/1, 1000 B of 1000 B (100.0%)")


def test_a_batch_stats_its_own_files_and_never_walks_the_tree(tmp_path, monkeypatch):
    """``files=`` (a mapped task's batch): each planned file is looked at directly, in key
    order; a path that leaves the root counts as missing, as does a file gone since the plan."""
    root = tmp_path / "src"
    for rel in ("b/2.bin", "a/1.bin", "c/3.bin"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    (tmp_path / "outside.bin").write_bytes(b"secret")

    def no_walk(*args, **kwargs):
        raise AssertionError("a batch must not walk the tree")

    monkeypatch.setattr(os, "scandir", no_walk)
    batch = stream_files(str(root), files=["b/2.bin", "a/1.bin"])
    assert [(e.rel, e.size) for e in batch.entries] == [("a/1.bin", 7), ("b/2.bin", 7)]
    for planned in (["a/1.bin", "../outside.bin"], ["a/1.bin", "gone.bin"]):
        with pytest.raises(FileNotFoundError, match="1 planned file"):
            many.list_files(str(root), files=planned)


def test_the_report_keeps_counts_whole_and_rows_capped():
    """200,000 rows: counts and bytes complete, at most 2 x max_rows rows held at any time,
    the XCom rows failures first then uploads, by key, and at least 20 failures kept."""
    report = many.FilesReport("b", "p/", "src", max_rows=5)
    actions = ("skipped", "uploaded", "exists")
    held = 0
    for i in range(200_000):
        action = "failed" if i % 5000 == 7 else actions[i % 3]
        row = {"file": f"{i:06d}", "key": f"p/{i:06d}", "size": 10, "action": action}
        if action == "failed":
            row.update(error="boom", retryable=i == 5007)
        report.add(row)
        held = max(held, len(report._kept))
    summary = report.to_dict()
    assert held <= 2 * 20 + 1  # max(max_rows, 20 failures kept), cut when it doubles
    assert summary["files"] == 200_000 and summary["bytes"] == 2_000_000
    assert summary["failed"] == 40 and report.retryable
    assert [r["action"] for r in summary["rows"]] == ["failed"] * 5
    assert summary["rows"][0]["key"] == "p/000007" and summary["rows_omitted"] == 200_000 - 5
    assert len(report.failed) == 20 and len(report.rows) == 5
    assert json.dumps(summary)  # the XCom value


def test_single_put_files_are_streamed_from_disk_not_held(tmp_path, oss_client, oss_bucket):
    """Files below the threshold but above 1 MiB go up in one PUT whose body is read from the
    file while it is sent: 4 files of 6 MiB at 4 at a time hold a few MiB (a 1 MiB hashing
    block each), not 24 (the old code read each whole), and every object is its file."""
    import hashlib
    import mimetypes

    mimetypes.init()  # once per process, ~1 MiB: not the upload's

    root = tmp_path / "src"
    root.mkdir()
    data = {f"f{i}.bin": os.urandom(6 * 1024 * 1024) for i in range(4)}
    for rel, body in data.items():
        (root / rel).write_bytes(body)
    tracemalloc.start()
    try:
        report = many.upload_files(
            oss_client, oss_bucket, str(root), part_size=8 * 1024 * 1024, concurrency=4
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.to_dict()["uploaded"] == 4
    assert peak < 12 * 1024 * 1024, peak
    for row in report.rows:  # one PUT each: the ETag is the MD5 of the bytes
        assert row["etag"] == hashlib.md5(data[row["file"]]).hexdigest().upper()
        assert oss_client.get_object(oss_bucket, row["key"]) == data[row["file"]]
