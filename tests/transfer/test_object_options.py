"""Object options (overwrite guard, storage class, encryption, tags, cache headers), a copy that
keeps the source's type and metadata, and transfer defaults from the connection: through the
operators and the hook, against the emulator over real HTTP."""

from __future__ import annotations

import json
import math
import os

import pytest

from oss_provider.client.checksums import crc64
from oss_provider.client.http import Request
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.transfer.ownership import RECORD_PART_NUMBERS

pytestmark = pytest.mark.timeout(120)

BUCKET = "test-bucket"


@pytest.fixture
def source(make_source):
    return make_source(3 * P + 17)


def _head(client, key) -> dict[str, str]:
    """Every header of a HEAD answer (the client's ObjectInfo keeps only a few)."""
    resp = client.transport.send(Request("HeadObject", "HEAD", BUCKET, key))
    return {k.lower(): v for k, v in resp.headers.items()}


def _uploads(client, key):
    return [u for u in client.iter_multipart_uploads(BUCKET, prefix=key) if u.key == key]


def test_whole_upload_applies_every_object_option(oss_conn_env, oss_client, source):
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    path, data = source
    done = OSSMultipartUploadOperator(
        task_id="upload",
        key="options/whole.bin",
        source=path,
        part_size=str(P),
        storage_class="IA",
        server_side_encryption="KMS",
        sse_kms_key_id="kms-key-1",
        tagging='{"team": "data", "tier": "gold"}',
        cache_control="max-age=60",
        content_disposition='attachment; filename="whole.bin"',
    ).execute({})
    assert done["crc64"] == crc64(data)
    head = _head(oss_client, "options/whole.bin")
    assert head["x-oss-storage-class"] == "IA"
    assert head["x-oss-server-side-encryption"] == "KMS"
    assert head["x-oss-server-side-encryption-key-id"] == "kms-key-1"
    assert head["cache-control"] == "max-age=60"
    assert head["content-disposition"] == 'attachment; filename="whole.bin"'
    assert head["x-oss-tagging-count"] == "2"


def test_initiate_operator_applies_options_and_tags_as_text(oss_conn_env, oss_client):
    from oss_provider.operators.multipart import OSSInitiateMultipartUploadOperator

    out = OSSInitiateMultipartUploadOperator(
        task_id="init", key="options/mapped.bin", storage_class="Archive", tagging="a=1&b=2"
    ).execute({})
    part = oss_client.upload_part(BUCKET, "options/mapped.bin", out["upload_id"], 1, b"x" * 10)
    oss_client.complete_multipart_upload(BUCKET, "options/mapped.bin", out["upload_id"], [part])
    head = _head(oss_client, "options/mapped.bin")
    assert head["x-oss-storage-class"] == "Archive" and head["x-oss-tagging-count"] == "2"


def test_forbid_overwrite_refuses_clearly_and_leaves_the_object_and_nothing_else(
    oss_conn_env, oss_client, source
):
    from oss_provider._compat import AirflowFailException
    from oss_provider.operators.multipart import OSSInitiateMultipartUploadOperator
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    path, _ = source
    key = "options/guarded.bin"
    oss_client.put_object(BUCKET, key, b"precious")
    with pytest.raises(AirflowFailException, match="FileAlreadyExists") as err:
        OSSMultipartUploadOperator(
            task_id="upload", key=key, source=path, forbid_overwrite="true"
        ).execute({})
    assert "'oss_multipart_default'" in str(err.value)
    with pytest.raises(AirflowFailException, match="FileAlreadyExists"):
        OSSInitiateMultipartUploadOperator(task_id="init", key=key, forbid_overwrite=True).execute(
            {}
        )
    assert oss_client.get_object(BUCKET, key) == b"precious"
    assert _uploads(oss_client, key) == []

    # the object appears while the upload runs: Complete refuses, the upload is aborted
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    key2 = "options/raced.bin"

    def create_meanwhile(snapshot):
        if snapshot.done and not created:
            created.append(oss_client.put_object(BUCKET, key2, b"first"))

    created: list = []
    from oss_provider.transfer.progress import TransferProgress

    with pytest.raises(AirflowFailException, match="already exists and forbid_overwrite is set"):
        OSSMultipartHook().upload_file(
            path, key2, part_size=P, concurrency=1, initiate_kwargs={"forbid_overwrite": True},
            progress=TransferProgress(None, interval=0, callback=create_meanwhile),
        )  # fmt: skip
    assert oss_client.get_object(BUCKET, key2) == b"first"
    assert _uploads(oss_client, key2) == []


def test_a_server_side_copy_keeps_type_and_metadata_unless_overridden(oss_conn_env, oss_client):
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    data = os.urandom(2 * P + 3)
    oss_client.put_object(
        BUCKET, "options/src.csv", data, content_type="text/csv", metadata={"origin": "erp"}
    )
    OSSMultipartUploadOperator(
        task_id="copy", key="options/copy.csv", source=f"oss://{BUCKET}/options/src.csv"
    ).execute({})
    kept = oss_client.head_object(BUCKET, "options/copy.csv")
    assert (kept.content_type, kept.metadata) == ("text/csv", {"origin": "erp"})
    assert kept.crc64 == crc64(data)

    OSSMultipartUploadOperator(
        task_id="copy2",
        key="options/copy2.csv",
        source=f"oss://{BUCKET}/options/src.csv",
        content_type="application/x-csv",
        metadata={"origin": "copied"},
    ).execute({})
    changed = oss_client.head_object(BUCKET, "options/copy2.csv")
    assert (changed.content_type, changed.metadata) == ("application/x-csv", {"origin": "copied"})


def test_transfer_defaults_come_from_the_connection_and_arguments_win(
    monkeypatch, oss_emulator, oss_client, source
):
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    path, data = source
    conn = json.loads(oss_emulator.connection_uri_json())
    conn["extra"].update({"part_size": "0.25", "concurrency": "2", "content_md5": "false"})
    monkeypatch.setenv("AIRFLOW_CONN_OSS_MULTIPART_DEFAULT", json.dumps(conn))

    def data_parts(key):
        (upload,) = _uploads(oss_client, key)
        return [
            p
            for p in oss_client.iter_parts(BUCKET, key, upload.upload_id)
            if p.part_number not in RECORD_PART_NUMBERS
        ]

    for key, part_size in (("defaults/conn.bin", None), ("defaults/arg.bin", P)):
        oss_emulator.fail_next(1, "InvalidArgument", "CompleteMultipartUpload")
        with pytest.raises(Exception, match="InvalidArgument"):
            OSSMultipartHook().upload_file(path, key, part_size=part_size)
        expected = part_size or 256 * 1024  # 0.25 MiB from the connection
        assert len(data_parts(key)) == math.ceil(len(data) / expected)
        OSSMultipartHook().upload_file(path, key, part_size=part_size)  # resumes, completes
        assert oss_client.head_object(BUCKET, key).crc64 == crc64(data)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"part_size": "8MB"}, "extra 'part_size' must be a number from 0.1 to 5120 MiB"),
        ({"concurrency": "1.5"}, "extra 'concurrency' must be a number from 1 to 256"),
        ({"content_md5": "maybe"}, "extra 'content_md5' must be true or false"),
        ({"max_retries": "-1"}, "extra 'max_retries' must be a whole number from 0 to 20"),
        ({"retry_budget": "inf"}, "extra 'retry_budget' must be a finite number of seconds"),
    ],
)
def test_bad_transfer_extras_name_the_field(monkeypatch, oss_emulator, extra, message):
    from oss_provider._compat import AirflowFailException
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    conn = json.loads(oss_emulator.connection_uri_json())
    conn["extra"].update(extra)
    monkeypatch.setenv("AIRFLOW_CONN_OSS_MULTIPART_DEFAULT", json.dumps(conn))
    with pytest.raises(AirflowFailException, match=message):
        OSSMultipartHook().get_client()
