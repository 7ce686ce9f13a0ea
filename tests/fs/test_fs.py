"""``oss://`` through Airflow's ``ObjectStoragePath`` and fsspec, against the emulator over real
HTTP: read, write, list, glob, copy, move, delete, a 64 MiB streamed write that is a verified
multipart upload in bounded memory, and the errors a user meets."""

from __future__ import annotations

import os
import random
import tracemalloc

import fsspec
import pytest

from oss_provider.client.checksums import crc64
from oss_provider.client.urls import oss_path_target

pytestmark = pytest.mark.timeout(180)

CONN = "oss_multipart_default"
MiB = 1024 * 1024


def _path(url: str):
    from oss_provider._compat import ObjectStoragePath

    return ObjectStoragePath(url, conn_id=CONN)


def _uploads(client, bucket):
    return list(client.iter_multipart_uploads(bucket))


def _count(emulator, operation):
    return emulator.stats()["requests"].get(operation, 0)


def test_read_write_list_glob_stat(oss_conn_env, oss_bucket, oss_client):
    root = _path(f"oss://{oss_bucket}/")
    (root / "data" / "a.csv").write_text("a,b\n1,2\n")
    (root / "data" / "part" / "b.parquet").write_bytes(b"PAR1" * 1000)
    (root / "data" / "part" / "c.parquet").write_bytes(b"PAR1")
    (root / "other.txt").write_bytes(b"x")

    a = root / "data" / "a.csv"
    assert a.read_text() == "a,b\n1,2\n" and a.exists() and a.is_file()
    assert a.stat()["size"] == 8 and a.stat()["ETag"]
    assert (root / "data").is_dir() and not (root / "nothing").exists()
    names = sorted(p.name for p in (root / "data").iterdir())
    assert names == ["a.csv", "part"]  # one level: a folder and a file
    found = sorted(p.name for p in root.rglob("*.parquet"))
    assert found == ["b.parquet", "c.parquet"]
    assert sorted(p.name for p in (root / "data" / "part").glob("b*")) == ["b.parquet"]
    with (root / "data" / "part" / "b.parquet").open("rb") as f:  # ranged reads
        f.seek(3996)
        assert f.read() == b"PAR1"
    fs = a.fs
    assert fs.cat_file(f"{oss_bucket}/data/part/b.parquet", 4, 8) == b"PAR1"
    assert oss_client.head_object(oss_bucket, "data/a.csv").size == 8


def test_copy_move_and_delete(oss_conn_env, oss_emulator, oss_bucket, oss_client, tmp_path):
    root = _path(f"oss://{oss_bucket}/")
    src = root / "src" / "file.bin"
    data = random.Random(3).randbytes(300_000)
    src.write_bytes(data)
    oss_emulator.reset_stats()
    src.copy(root / "dst" / "file.bin")  # server side: no bytes through this machine
    assert (root / "dst" / "file.bin").read_bytes() == data
    assert _count(oss_emulator, "CopyObject") == 1 and _count(oss_emulator, "PutObject") == 0

    local = tmp_path / "local.txt"
    local.write_text("from disk")
    from oss_provider._compat import ObjectStoragePath

    ObjectStoragePath(f"file://{local}").copy(root / "in" / "local.txt")  # from another fs
    assert (root / "in" / "local.txt").read_text() == "from disk"
    other = tmp_path / "other.bin"
    other.write_bytes(b"elsewhere")
    ObjectStoragePath(f"file://{other}").move(root / "in" / "moved.bin")
    assert (root / "in" / "moved.bin").read_bytes() == b"elsewhere"
    assert not other.exists()
    (root / "in" / "moved.bin").move(root / "in" / "renamed.bin")  # within OSS
    assert not (root / "in" / "moved.bin").exists() and (root / "in" / "renamed.bin").exists()

    (root / "in" / "local.txt").unlink()
    assert not (root / "in" / "local.txt").exists()
    root.fs.rm(f"{oss_bucket}/dst", recursive=True)
    assert not (root / "dst" / "file.bin").exists()


def test_rm_deletes_in_batches_of_1000(oss_conn_env, oss_emulator, oss_bucket, oss_client):
    fs = _path(f"oss://{oss_bucket}/").fs
    for i in range(1001):
        oss_client.put_object(oss_bucket, f"many/{i:04d}", b"")
    oss_emulator.reset_stats()
    fs.rm(f"{oss_bucket}/many", recursive=True)
    assert _count(oss_emulator, "DeleteMultipleObjects") == 2  # 1000 + 1
    assert fs.find(f"{oss_bucket}/many") == []


def test_a_64_mib_streamed_write_is_a_verified_multipart_upload_in_bounded_memory(
    oss_conn_env, oss_emulator, oss_bucket, oss_client
):
    from oss_provider._compat import ObjectStoragePath

    part, concurrency, total = 2 * MiB, 2, 64 * MiB
    path = ObjectStoragePath(f"oss://{oss_bucket}/big/stream.bin", conn_id=CONN)
    rng = random.Random(5)
    crc = 0
    oss_emulator.reset_stats()
    tracemalloc.start()
    try:
        with path.open("wb", part_size=part, concurrency=concurrency) as f:
            for _ in range(total // MiB):
                chunk = rng.randbytes(MiB)
                crc = crc64(chunk, crc)
                f.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    head = oss_client.head_object(oss_bucket, "big/stream.bin")
    assert head.size == total and head.crc64 == crc  # verified end to end
    assert head.etag.endswith("-32"), head.etag  # a multipart object of 32 parts
    assert _count(oss_emulator, "CompleteMultipartUpload") == 1
    # (concurrency + 3) parts (in flight, the pipe, one being joined) and a fixed overhead:
    # about 14 MiB here for 64 MiB written; the total does not matter
    assert peak < (concurrency + 3) * part + 8 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert _uploads(oss_client, oss_bucket) == []


def test_a_failed_write_stores_nothing_and_leaves_no_upload(oss_conn_env, oss_bucket, oss_client):
    path = _path(f"oss://{oss_bucket}/broken.bin")
    with pytest.raises(RuntimeError, match="the producer failed"), path.open("wb") as f:
        f.write(os.urandom(9 * MiB))  # past one part: the multipart upload has started
        raise RuntimeError("the producer failed")
    assert not path.exists()
    assert _uploads(oss_client, oss_bucket) == []


def test_small_writes_are_one_put(oss_conn_env, oss_emulator, oss_bucket):
    path = _path(f"oss://{oss_bucket}/small.json")
    oss_emulator.reset_stats()
    path.write_text('{"ok": true}')
    assert _count(oss_emulator, "PutObject") == 1
    assert _count(oss_emulator, "InitiateMultipartUpload") == 0


def test_copy_above_the_copy_object_limit_goes_part_by_part_server_side(
    oss_conn_env, oss_emulator, oss_bucket, oss_client, monkeypatch
):
    from oss_provider.fs import filesystem

    monkeypatch.setattr(filesystem, "MAX_COPY_OBJECT_SIZE", 1000)  # a 5 GiB object, in small
    data = os.urandom(300_000)
    oss_client.put_object(
        oss_bucket, "huge/src", data, content_type="text/x-big", metadata={"k": "v"}
    )
    oss_emulator.reset_stats()
    _path(f"oss://{oss_bucket}/huge/src").copy(_path(f"oss://{oss_bucket}/huge/dst"))
    assert _count(oss_emulator, "UploadPartCopy") >= 1 and _count(oss_emulator, "CopyObject") == 0
    head = oss_client.head_object(oss_bucket, "huge/dst")
    assert head.crc64 == crc64(data)
    assert (head.content_type, head.metadata) == ("text/x-big", {"k": "v"})  # kept


def test_errors_a_user_meets(oss_conn_env, oss_bucket):
    with pytest.raises(FileNotFoundError):
        _path(f"oss://{oss_bucket}/missing.bin").read_bytes()
    with pytest.raises(FileNotFoundError):
        _path("oss://no-such-bucket-x/k").stat()
    with pytest.raises(NotImplementedError, match="appended"):
        _path(f"oss://{oss_bucket}/k").open("ab")


def test_plain_fsspec_open_uses_the_default_connection(oss_conn_env, oss_bucket):
    with fsspec.open(f"oss://{oss_bucket}/plain.txt", "wb") as f:
        f.write(b"fsspec")
    with fsspec.open(f"oss://{oss_bucket}/plain.txt", "rb") as f:
        assert f.read() == b"fsspec"


def test_operators_accept_object_storage_paths(oss_conn_env, oss_bucket, oss_client, tmp_path):
    from oss_provider._compat import ObjectStoragePath
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    data = os.urandom(200_000)
    (tmp_path / "src.bin").write_bytes(data)
    done = OSSMultipartUploadOperator(
        task_id="upload",
        source=ObjectStoragePath(f"file://{tmp_path / 'src.bin'}"),
        key=_path(f"oss://{oss_bucket}/from-path/dst.bin"),
    ).execute({})
    assert (done["bucket"], done["key"]) == (oss_bucket, "from-path/dst.bin")
    assert oss_client.get_object(oss_bucket, "from-path/dst.bin") == data


def test_an_oss_object_storage_path_source_is_copied_server_side(
    oss_conn_env, oss_emulator, oss_bucket, oss_client
):
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    data = os.urandom(300_000)
    oss_client.put_object(oss_bucket, "osp/src.bin", data)
    oss_emulator.reset_stats()
    done = OSSMultipartUploadOperator(
        task_id="copy",
        source=_path(f"oss://{oss_bucket}/osp/src.bin"),  # str() names the conn id too
        key=f"oss://{oss_bucket}/osp/dst.bin",
        part_size=str(100 * 1024),
    ).execute({})
    assert done["crc64"] == crc64(data)
    assert _count(oss_emulator, "UploadPartCopy") == 3 and _count(oss_emulator, "GetObject") == 0


def test_an_oss_path_has_its_registered_class_and_logs_no_warning():
    """universal_pathlib finds the ``oss`` class through its entry point: no "filesystem not
    explicitly implemented" warning in task logs, and the bucket is read as the bucket."""
    import warnings

    from upath.registry import get_upath_class

    from oss_provider.fs.path import OSSPath

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_upath_class.cache_clear()  # as in a fresh worker process
        found = get_upath_class("oss")
        path = _path("oss://bkt/dir/file.csv")
    assert not [str(w.message) for w in caught if "'oss'" in str(w.message)]
    assert found is OSSPath  # what ObjectStoragePath wraps (3.2+) or asks for its flavour
    assert oss_path_target(path) == ("bkt", "dir/file.csv") and path.name == "file.csv"
    assert (path.parent / "other.csv").key == "dir/other.csv"
