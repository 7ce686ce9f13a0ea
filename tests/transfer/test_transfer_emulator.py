"""The transfer engine against the emulator over real HTTP: every source, faults, resume."""

from __future__ import annotations

import io
import os
import pathlib
import random

import pytest

from oss_provider.client.checksums import crc64
from oss_provider.client.errors import OSSError, SourceChangedError
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.transfer import upload as transfer
from oss_provider.transfer.ownership import OWNER_PART_NUMBER, Writer, start_owned_upload
from oss_provider.transfer.progress import TransferProgress

pytestmark = pytest.mark.timeout(120)


def _data(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture
def source_file(make_source):
    path, data = make_source(5 * P + 1234, seed=1)
    return pathlib.Path(path), data


def _uploads(client, bucket, key):
    return [u for u in client.iter_multipart_uploads(bucket, prefix=key) if u.key == key]


def _sent_parts(emulator) -> int:
    return emulator.stats()["requests"].get("UploadPart", 0)


def _owned_upload(client, bucket, key, owner):
    """An upload started by ``owner`` (with the default options), as a killed run leaves it."""
    writer = Writer.of(owner, {"content_type": None, "metadata": None})
    return start_owned_upload(client, bucket, key, writer, {}).upload_id


def test_local_file_upload_is_parallel_verified_and_logged(
    oss_emulator, oss_client, oss_bucket, source_file, caplog
):
    path, data = source_file
    caplog.set_level("INFO", logger="oss_provider")
    done = transfer.upload(oss_client, oss_bucket, "a/b.bin", str(path), part_size=P, concurrency=3)
    assert done.size == len(data) and done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "a/b.bin") == data
    assert _uploads(oss_client, oss_bucket, "a/b.bin") == []
    text = caplog.text
    assert "6 parts, " in text and "MiB/s" in text and "(100.0%)" in text
    assert "CRC-64" in text


def test_transient_faults_are_healed(oss_emulator, oss_client, oss_bucket, source_file):
    path, data = source_file
    # at most max_retries (3) failures in a row per request: the policy heals them
    oss_emulator.fail_next(2, "503", "UploadPart")
    oss_emulator.fail_next(1, "reset", "UploadPart")
    oss_emulator.fail_next(1, "500", "CompleteMultipartUpload")
    done = transfer.upload(oss_client, oss_bucket, "k", path, part_size=P, concurrency=2)
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "k") == data


def test_a_part_that_keeps_failing_keeps_parts_for_resume_or_aborts(
    oss_emulator, oss_client, oss_bucket, source_file
):
    path, _ = source_file

    for key, resume in (("k", True), ("k2", False)):
        broken = []

        def break_after_first_part(snapshot, broken=broken):  # owner record and part 1 stored
            if snapshot.sent and not broken:
                broken.append(oss_emulator.fail_next(100, "InvalidArgument", "UploadPart"))

        progress = TransferProgress(None, interval=0, callback=break_after_first_part)
        oss_emulator.reset_stats()
        with pytest.raises(OSSError, match="InvalidArgument"):
            transfer.upload(
                oss_client, oss_bucket, key, path, part_size=P, concurrency=1,
                resume=resume, progress=progress,
            )  # fmt: skip
        oss_emulator.clear_faults()
    assert len(_uploads(oss_client, oss_bucket, "k")) == 1  # kept for a resume
    assert _uploads(oss_client, oss_bucket, "k2") == []  # aborted


def test_resume_keeps_matching_parts_and_sends_only_the_rest(
    oss_emulator, oss_client, oss_bucket, source_file
):
    path, data = source_file
    upload_id = _owned_upload(oss_client, oss_bucket, "k", "writer-1")
    oss_client.upload_part(oss_bucket, "k", upload_id, 1, data[:P])
    oss_client.upload_part(oss_bucket, "k", upload_id, 2, data[P : 2 * P])
    oss_client.upload_part(oss_bucket, "k", upload_id, 4, _data(P, seed=9))  # stale: same size
    oss_emulator.reset_stats()
    seen = []
    progress = TransferProgress(len(data), interval=0, callback=seen.append)
    done = transfer.upload(
        oss_client, oss_bucket, "k", path, concurrency=2, progress=progress, owner="writer-1",
        multipart_threshold=0,  # 513 KB is below the default 8 MiB threshold: force multipart
    )  # fmt: skip
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "k") == data
    assert _sent_parts(oss_emulator) == 4  # parts 3, 4 (stale), 5, 6; part size taken from 1-2
    final = seen[-1]
    assert (final.kept, final.sent, final.done) == (2 * P, len(data) - 2 * P, len(data))
    assert _uploads(oss_client, oss_bucket, "k") == []


def test_resume_starts_over_when_the_upload_is_gone(
    oss_emulator, oss_client, oss_bucket, source_file
):
    path, data = source_file
    upload_id = _owned_upload(oss_client, oss_bucket, "k", "writer-1")
    oss_client.upload_part(oss_bucket, "k", upload_id, 1, data[:P])
    oss_emulator.fail_next(1, "NoSuchUpload", "UploadPart")  # it vanished after the listing
    done = transfer.upload(
        oss_client, oss_bucket, "k", path, part_size=P, concurrency=1, owner="writer-1"
    )
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "k") == data
    oss_client.abort_multipart_upload(oss_bucket, "k", upload_id)  # the faked vanished one


def test_source_changed_during_upload_fails_clearly_and_aborts(oss_client, oss_bucket, source_file):
    path, data = source_file

    def touch(_snapshot):
        with open(path, "ab") as f:  # grows in place: every range read so far is still there
            f.write(b"more")

    progress = TransferProgress(len(data), interval=0, callback=touch)
    with pytest.raises(SourceChangedError, match="changed while it was being uploaded"):
        transfer.upload(oss_client, oss_bucket, "k", path, part_size=P, progress=progress)
    assert _uploads(oss_client, oss_bucket, "k") == []
    with pytest.raises(Exception):  # noqa: B017 - NoSuchKey: nothing was stitched together
        oss_client.head_object(oss_bucket, "k")


def test_oss_object_is_copied_server_side(oss_emulator, oss_client, oss_bucket):
    data = _data(3 * P + 7)
    oss_client.put_object(oss_bucket, "src/object", data)
    oss_emulator.reset_stats()
    done = transfer.upload(
        oss_client, oss_bucket, "dst/object", f"oss://{oss_bucket}/src/object", part_size=P
    )
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "dst/object") == data
    requests = oss_emulator.stats()["requests"]
    assert requests.get("UploadPartCopy") == 4
    assert requests.get("UploadPart") == 2  # only the two records: no data through us
    assert OWNER_PART_NUMBER == 10_000


def test_http_url_source_reads_ranges(oss_client, oss_bucket):
    data = _data(2 * P + 3)
    oss_client.put_object(oss_bucket, "served", data)
    url = oss_client.presign_url("GET", oss_bucket, "served")
    done = transfer.upload(oss_client, oss_bucket, "from-http", url, part_size=P)
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "from-http") == data


def test_non_seekable_stream_and_empty_source(oss_client, oss_bucket):
    data = _data(3 * P + 11)
    read_fd, write_fd = os.pipe()

    import threading

    def feed():
        with os.fdopen(write_fd, "wb") as w:
            w.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    with os.fdopen(read_fd, "rb") as pipe:
        done = transfer.upload(oss_client, oss_bucket, "stream", pipe, part_size=P, concurrency=2)
    feeder.join()
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "stream") == data
    empty = transfer.upload(oss_client, oss_bucket, "empty", io.BytesIO(b""))
    assert empty.size == 0 and oss_client.get_object(oss_bucket, "empty") == b""


def test_upload_part_batch_resumes_within_its_range(
    oss_emulator, oss_client, oss_bucket, source_file
):
    path, data = source_file
    batches = transfer.plan_batches(
        len(data), P, batches=2, fingerprint=transfer.source_fingerprint(path)
    )
    upload_id = oss_client.start_multipart_upload(oss_bucket, "k").upload_id
    results = []
    for b in batches:
        specs = transfer.batch_parts(b["first_part"], b["last_part"], b["part_size"], len(data))
        parts = [s.to_dict() for s in specs]
        results.append(
            transfer.upload_part_batch(
                oss_client,
                oss_bucket,
                "k",
                upload_id,
                str(path),
                parts,
                fingerprint=b["fingerprint"],
            )
        )
    oss_emulator.reset_stats()  # a retried batch sends nothing new
    again = transfer.upload_part_batch(
        oss_client, oss_bucket, "k", upload_id, str(path), [s.to_dict() for s in specs]
    )
    assert again == results[-1] and _sent_parts(oss_emulator) == 0
    flat = list(transfer.iter_batch_results(results))
    assert [p["part_number"] for p in flat] == [1, 2, 3, 4, 5, 6]
    assert set(flat[0]) == {"part_number", "etag", "size", "crc64"}
    done = oss_client.complete_multipart_upload(oss_bucket, "k", upload_id, flat)
    assert done.crc64 == crc64(data)
    path.write_bytes(data[:-1])
    with pytest.raises(SourceChangedError):
        transfer.upload_part_batch(
            oss_client, oss_bucket, "k", upload_id, str(path), parts, fingerprint=b["fingerprint"]
        )


@pytest.mark.parametrize("kind", ["path", "bytes", "stream"])
def test_a_source_below_the_threshold_is_one_verified_put(
    oss_emulator, oss_client, oss_bucket, tmp_path, kind
):
    data = _data(10 * 1024, seed=len(kind))
    (tmp_path / "small.bin").write_bytes(data)
    source = {
        "path": str(tmp_path / "small.bin"),
        "bytes": data,
        "stream": io.BytesIO(data),
    }[kind]
    oss_emulator.reset_stats()
    done = transfer.upload(
        oss_client, oss_bucket, "small", source, metadata={"k": "v"},
        initiate_kwargs={"storage_class": "IA"},
    )  # fmt: skip
    requests = oss_emulator.stats()["requests"]
    assert requests == {"PutObject": 1}  # no listing, no Initiate, no parts, no Complete
    head = oss_client.head_object(oss_bucket, "small")
    assert done.crc64 == head.crc64 == crc64(data) and head.metadata == {"k": "v"}


def test_a_stream_longer_than_the_threshold_is_multipart_from_its_first_byte(
    oss_emulator, oss_client, oss_bucket
):
    data = _data(3 * P + 5, seed=12)
    oss_emulator.reset_stats()
    done = transfer.upload(oss_client, oss_bucket, "long", io.BytesIO(data), part_size=P)
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "long") == data
    assert oss_emulator.stats()["requests"].get("PutObject", 0) == 0


def test_the_whole_upload_operator_takes_a_threshold(oss_conn_env, oss_emulator, tmp_path):
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    data = _data(2 * P, seed=13)
    (tmp_path / "s.bin").write_bytes(data)
    oss_emulator.reset_stats()
    OSSMultipartUploadOperator(
        task_id="u", key="thr/one.bin", source=str(tmp_path / "s.bin"), multipart_threshold="0",
        part_size=str(P),
    ).execute({})  # fmt: skip
    assert oss_emulator.stats()["requests"].get("CompleteMultipartUpload") == 1
    oss_emulator.reset_stats()
    OSSMultipartUploadOperator(
        task_id="u", key="thr/two.bin", source=str(tmp_path / "s.bin")
    ).execute({})
    assert oss_emulator.stats()["requests"] == {"PutObject": 1}
