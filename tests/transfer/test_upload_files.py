"""Many objects over real HTTP against the emulator: a tree uploaded byte for byte, filters,
skip_unchanged counted by the server, per-file failures, the shared bound, the batch plan."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import pytest
from _writers import child_env, data_parts

from oss_provider.client.checksums import crc64
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.transfer import files as many
from oss_provider.transfer.ownership import RECORD_PART_NUMBERS

pytestmark = pytest.mark.timeout(180)

UNICODE = "données/日本語 ファイル.txt"
ODD = "odd names/a b+c%20d?x#y&z=1;é.csv"


def _tree(root, rng, *, big_parts=3):
    """Nested folders, an empty file, unicode and URL-hostile names, and a multi-part file."""
    layout = {
        "top.txt": rng.randbytes(1000),
        "empty.bin": b"",
        "a/b/c/deep.json": rng.randbytes(5000),
        "a/b/sibling.csv": rng.randbytes(P - 1),  # just below the threshold: one PUT
        UNICODE: rng.randbytes(777),
        ODD: rng.randbytes(333),
        "logs/x.log": rng.randbytes(50),
        "logs/tmp/y.tmp": rng.randbytes(60),
        "big/multi.bin": rng.randbytes(big_parts * P + 17),
    }
    for rel, data in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "a" / "empty-dir").mkdir()
    return layout


def _requests(emulator) -> dict[str, int]:
    return emulator.stats()["requests"]


def _bodies(stats, expected: int) -> bool:
    """The server received the files' bytes plus at most a few KiB of multipart bookkeeping
    (owner records, the Complete XML) and nothing else."""
    return expected <= stats["bytes_received"] <= expected + 4096


def test_tree_uploads_byte_identical_to_the_right_keys(
    tmp_path, oss_emulator, oss_conn_env, oss_client, oss_bucket
):
    from oss_provider.operators.files import OSSUploadFilesOperator

    layout = _tree(tmp_path / "src", random.Random(1))
    oss_emulator.reset_stats()
    op = OSSUploadFilesOperator(
        task_id="up",
        source=str(tmp_path / "src"),
        prefix="exports/day",  # a "/" is added
        bucket_name=oss_bucket,
        part_size=P,
        concurrency=3,
    )
    report = op.execute({})
    seen = _requests(oss_emulator)
    assert (report["files"], report["uploaded"], report["failed"]) == (len(layout), len(layout), 0)
    assert report["bytes_uploaded"] == sum(len(d) for d in layout.values())
    keys = {o["key"] for o in oss_client.list_objects(oss_bucket)}
    assert keys == {f"exports/day/{rel}" for rel in layout}
    for rel, data in layout.items():
        key = f"exports/day/{rel}"
        assert oss_client.get_object(oss_bucket, key) == data, rel
        assert oss_client.head_object(oss_bucket, key).crc64 == crc64(data), rel
    assert oss_client.head_object(oss_bucket, "exports/day/top.txt").content_type == "text/plain"
    # one PUT per small file (and one listing for skip_unchanged); the big one is multipart
    assert seen["PutObject"] == len(layout) - 1
    assert seen["ListObjectsV2"] == 1 and seen["CompleteMultipartUpload"] == 1
    assert seen["UploadPart"] == 4 + 2  # 4 parts and the owner records (resume by owner)
    assert list(oss_client.iter_multipart_uploads(oss_bucket)) == []


def test_include_and_exclude(tmp_path):
    layout = _tree(tmp_path, random.Random(2))
    everything = many.list_files(str(tmp_path))
    assert sorted(e.rel for e in everything.entries) == sorted(layout)
    logs = many.list_files(str(tmp_path), include="*.log")  # no "/": the file name
    assert [e.rel for e in logs.entries] == ["logs/x.log"]
    under_a = many.list_files(str(tmp_path), include=["a/*"], exclude=["*.csv"])
    assert [e.rel for e in under_a.entries] == ["a/b/c/deep.json"]
    no_tmp = many.list_files(str(tmp_path), exclude=["logs/tmp/*", "empty.*"])
    assert {e.rel for e in no_tmp.entries} == set(layout) - {"logs/tmp/y.tmp", "empty.bin"}
    globbed = many.list_files(str(tmp_path / "a" / "**" / "*.json"))
    assert [e.rel for e in globbed.entries] == ["b/c/deep.json"]  # relative to the glob's root


def test_skip_unchanged_sends_no_body_for_unchanged_files(
    tmp_path, oss_emulator, oss_client, oss_bucket
):
    rng = random.Random(3)
    root = tmp_path / "src"
    layout = _tree(root, rng)
    (root / "big" / "other.bin").write_bytes(rng.randbytes(2 * P + 1))
    many.upload_files(oss_client, oss_bucket, str(root), prefix="p", part_size=P)
    # same sizes, new bytes: a small file and a multipart one; plus a new file
    changed_small, changed_big = rng.randbytes(5000), rng.randbytes(3 * P + 17)
    (root / "a/b/c/deep.json").write_bytes(changed_small)
    (root / "big/multi.bin").write_bytes(changed_big)
    (root / "new.txt").write_bytes(b"new")
    oss_emulator.reset_stats()
    report = many.upload_files(oss_client, oss_bucket, str(root), prefix="p", part_size=P)
    stats = oss_emulator.stats()
    summary = report.to_dict()
    assert (summary["uploaded"], summary["skipped"], summary["failed"]) == (3, len(layout) - 1, 0)
    assert {r["file"] for r in summary["rows"] if r["action"] == "uploaded"} == {
        "a/b/c/deep.json",
        "big/multi.bin",
        "new.txt",
    }
    # bodies only for what changed; a single-PUT object is checked by its ETag (MD5, no
    # request), a multipart one by one HEAD (CRC-64)
    assert _bodies(stats, len(changed_small) + len(changed_big) + 3)
    assert stats["requests"]["PutObject"] == 2
    assert stats["requests"]["HeadObject"] == 2  # big/multi.bin and big/other.bin
    assert oss_client.get_object(oss_bucket, "p/big/multi.bin") == changed_big
    assert oss_client.get_object(oss_bucket, "p/a/b/c/deep.json") == changed_small


def test_forbid_overwrite_leaves_existing_objects(tmp_path, oss_client, oss_bucket):
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.txt").write_bytes(b"mine")
    (root / "b.txt").write_bytes(b"fresh")
    oss_client.put_object(oss_bucket, "p/a.txt", b"theirs")
    report = many.upload_files(
        oss_client, oss_bucket, str(root), prefix="p", forbid_overwrite=True
    ).to_dict()
    assert (report["exists"], report["uploaded"]) == (1, 1)
    assert oss_client.get_object(oss_bucket, "p/a.txt") == b"theirs"
    assert oss_client.get_object(oss_bucket, "p/b.txt") == b"fresh"


def test_a_failed_file_fails_at_the_end_and_a_retry_sends_only_what_is_missing(
    tmp_path, oss_emulator, oss_conn_env, oss_client, oss_bucket
):
    from oss_provider.hooks.oss_multipart import OSSHookError
    from oss_provider.operators.files import OSSUploadFilesOperator

    root = tmp_path / "src"
    layout = _tree(root, random.Random(4))
    op = OSSUploadFilesOperator(
        task_id="up", source=str(root), prefix="r", bucket_name=oss_bucket, part_size=P,
        concurrency=1,  # one at a time: the first PUT (sorted order) is the one that fails
    )  # fmt: skip
    pushed = {}

    class TI:
        dag_id, run_id, task_id, map_index = "d", "run", "up", -1

        def xcom_push(self, key, value):
            pushed[key] = value

    oss_emulator.fail_next(1, "InvalidArgument", "PutObject")
    oss_emulator.fail_next(1, "InvalidArgument", "UploadPart")
    with pytest.raises(OSSHookError) as failed:
        op.execute({"ti": TI()})
    message = str(failed.value)
    assert "2 of 9 files failed" in message
    assert "big/multi.bin" in message
    report = pushed["report"]
    failed_files = {r["file"] for r in report["rows"] if r["action"] == "failed"}
    assert "big/multi.bin" in failed_files and len(failed_files) == 2
    assert report["uploaded"] == len(layout) - 2
    # nothing half-uploaded: the failed multipart upload was aborted, no object for either
    assert list(oss_client.iter_multipart_uploads(oss_bucket)) == []
    stored = {o["key"] for o in oss_client.list_objects(oss_bucket)}
    assert not {f"r/{f}" for f in failed_files} & stored
    # the retry sends exactly the two missing files
    oss_emulator.reset_stats()
    again = op.execute({"ti": TI()})
    assert (again["uploaded"], again["skipped"]) == (2, len(layout) - 2)
    stats = oss_emulator.stats()
    assert _bodies(stats, sum(len(layout[f]) for f in failed_files))
    assert stats["requests"]["PutObject"] == 1 and stats["requests"]["UploadPart"] == 4 + 2
    for rel, data in layout.items():
        assert oss_client.get_object(oss_bucket, f"r/{rel}") == data


KILLED_WORKER = textwrap.dedent(
    """
    import os, sys
    from oss_provider.client.api import OSSClient
    from oss_provider.transfer.files import upload_files
    from oss_provider.client.models import Credentials

    client = OSSClient(os.environ["EP"], Credentials(os.environ["AK"], os.environ["SK"]),
                       region=os.environ["REGION"])
    upload_files(client, os.environ["BUCKET"], sys.argv[1], prefix="k", part_size=int(sys.argv[2]),
                 concurrency=1, owner="job-7")
    """
)


def test_a_killed_worker_s_big_file_is_resumed_by_its_retry_and_no_other_upload_is_touched(
    tmp_path, oss_emulator, oss_client, oss_bucket
):
    """SIGKILL mid-file, then a retry with the same owner: one listing of in-progress uploads
    for the whole set (a big file without one looks no further), the killed upload continued
    (only its missing parts), and another writer's upload of the same key left alone."""
    root = tmp_path / "src"
    parts = 6
    big = random.Random(9).randbytes(parts * P)
    (root / "d").mkdir(parents=True)
    (root / "d" / "big.bin").write_bytes(big)
    (root / "small.txt").write_bytes(b"small")
    others = {f"e/more{i}.bin": random.Random(i).randbytes(2 * P) for i in (1, 2)}
    for rel, data in others.items():  # big files the killed worker had not started
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_bytes(data)
    key = "k/d/big.bin"
    env = child_env(oss_emulator, oss_bucket)
    oss_emulator.fail_next(20, "slow", "UploadPart", delay_seconds=0.4)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(root), str(P)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(n >= 2 for n in data_parts(
            oss_client, oss_bucket, key).values()):  # fmt: skip
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
        child.stderr.close()
    time.sleep(0.5)  # a part whose body had fully arrived may still land
    oss_emulator.clear_faults()
    (killed,) = data_parts(oss_client, oss_bucket, key)
    kept = data_parts(oss_client, oss_bucket, key)[killed]
    assert 2 <= kept < parts
    other = oss_client.start_multipart_upload(oss_bucket, key).upload_id  # another writer's
    oss_emulator.reset_stats()

    report = many.upload_files(
        oss_client, oss_bucket, str(root), prefix="k", part_size=P, owner="job-7"
    ).to_dict()

    assert report["failed"] == 0 and report["uploaded"] + report["skipped"] == 4
    requests = _requests(oss_emulator)
    # one listing for the whole set, one more for the one key with an upload in progress
    assert requests["ListMultipartUploads"] == 2
    # the killed upload continued: Initiate and owner records only for the two new files
    assert requests["InitiateMultipartUpload"] == 2
    assert requests["UploadPart"] == (parts - kept) + 2 * (2 + 2)
    assert oss_client.get_object(oss_bucket, key) == big
    for rel, data in others.items():
        assert oss_client.get_object(oss_bucket, f"k/{rel}") == data
    assert [u.upload_id for u in oss_client.iter_multipart_uploads(oss_bucket)] == [other]
    oss_client.abort_multipart_upload(oss_bucket, key, other)


class _InFlight:
    """Counts the bodies a client has in flight (PUTs and data parts; owner records are
    bookkeeping) and keeps the peak."""

    def __init__(self, client) -> None:
        self.now, self.peak, self._lock = 0, 0, threading.Lock()
        client.put_object = self._counting(client.put_object)
        client.upload_part = self._counting(client.upload_part)

    def _counting(self, method):
        def wrapper(*args, **kwargs):
            if len(args) > 3 and args[3] in RECORD_PART_NUMBERS:
                return method(*args, **kwargs)
            with self._lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                return method(*args, **kwargs)
            finally:
                with self._lock:
                    self.now -= 1

        return wrapper


def test_one_shared_bound_on_requests_and_memory(tmp_path, oss_client, oss_bucket):
    """Many small files and one big one: at most ``concurrency`` bodies in flight together,
    and memory within concurrency x part size (plus a small constant)."""
    rng = random.Random(5)
    root = tmp_path / "src"
    root.mkdir()
    for i in range(120):
        (root / f"s{i:03d}.bin").write_bytes(rng.randbytes(rng.randint(1, P - 1)))
    part, concurrency = 4 * P, 4
    (root / "zz-big.bin").write_bytes(rng.randbytes(12 * part))
    in_flight = _InFlight(oss_client)
    tracemalloc.start()
    try:
        report = many.upload_files(
            oss_client, oss_bucket, str(root), part_size=part, concurrency=concurrency
        )
        mem_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.to_dict()["uploaded"] == 121
    assert in_flight.peak == concurrency  # the bound was reached, never passed
    assert mem_peak < concurrency * part + 3 * 1024 * 1024, mem_peak
    assert oss_client.head_object(oss_bucket, "zz-big.bin").size == 12 * part


def test_a_lone_big_file_uses_every_slot(tmp_path, oss_emulator, oss_client, oss_bucket):
    """One big file in a set (say 10,000 small files and one 50 GiB one, once the small ones
    are done) sends as many parts at once as there are slots, not a fraction of them."""
    root = tmp_path / "src"
    root.mkdir()
    data = random.Random(6).randbytes(12 * P)
    (root / "big.bin").write_bytes(data)
    in_flight = _InFlight(oss_client)
    oss_emulator.fail_next(12, "slow", "UploadPart", delay_seconds=0.3)  # parts overlap
    try:
        many.upload_files(oss_client, oss_bucket, str(root), part_size=P, concurrency=6)
    finally:
        oss_emulator.clear_faults()
    assert in_flight.peak == 6
    assert oss_client.get_object(oss_bucket, "big.bin") == data


def test_remote_prefix_source(oss_client, oss_bucket):
    import fsspec

    fs = fsspec.filesystem("memory")
    rng = random.Random(6)
    data = {"exp/a.bin": rng.randbytes(10), "exp/sub/b.bin": rng.randbytes(3 * P)}
    for rel, body in data.items():
        fs.pipe_file(f"/many-test/{rel}", body)
    try:
        report = many.upload_files(
            oss_client, oss_bucket, "memory://many-test/exp/", prefix="m", part_size=P
        ).to_dict()
        assert report["uploaded"] == 2
        for rel, body in data.items():
            assert oss_client.get_object(oss_bucket, "m/" + rel[len("exp/") :]) == body
    finally:
        fs.rm("/many-test", recursive=True)


def test_plan_is_balanced_and_capped():
    rng = random.Random(7)
    entries = [many.FileEntry(f"f{i}", rng.randint(0, 10**6), f"/x/f{i}") for i in range(3000)]
    plan = many.plan_file_batches(entries, batches=7)
    assert len(plan) == 7
    assert sorted(f for b in plan for f in b["files"]) == sorted(e.rel for e in entries)
    sizes = [b["bytes"] for b in plan]
    assert max(sizes) - min(sizes) <= 10**6  # within one file of each other
    assert len(many.plan_file_batches(entries, batches=5000)) == 1024  # Airflow's map limit
    assert len(many.plan_file_batches(entries[:3], batches=10)) == 3
    assert many.plan_file_batches([]) == []
