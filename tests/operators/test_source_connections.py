"""An ``s3://`` source read with an Airflow ``aws`` connection (``source_conn_id``) instead of
ambient credentials: a local S3 server (moto), the amazon provider and s3fs, the emulator as OSS."""

from __future__ import annotations

import json
import os

import pytest

from oss_provider.client.checksums import crc64
from oss_provider.client.limits import MIN_PART_SIZE as P

pytestmark = pytest.mark.timeout(120)

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
pytest.importorskip("s3fs")
pytest.importorskip("airflow.providers.amazon")


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_object(s3_endpoint, monkeypatch):
    import boto3

    for name in list(os.environ):  # no ambient AWS credentials: only the connection may work
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="src-key",
        aws_secret_access_key="src-secret",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="source-bucket")
    data = os.urandom(3 * P + 11)
    s3.put_object(Bucket="source-bucket", Key="exports/data.bin", Body=data)
    conn = {
        "conn_type": "aws",
        "login": "src-key",
        "password": "src-secret",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_SOURCE", json.dumps(conn))
    return "s3://source-bucket/exports/data.bin", data


def test_whole_upload_reads_s3_through_the_source_connection(oss_conn_env, oss_client, s3_object):
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    url, data = s3_object
    done = OSSMultipartUploadOperator(
        task_id="upload",
        key="from-s3/data.bin",
        source=url,
        source_conn_id="aws_source",
        part_size=str(P),
    ).execute({})
    assert done["crc64"] == crc64(data) and done["size"] == len(data)
    assert oss_client.get_object("test-bucket", "from-s3/data.bin") == data


def test_mapped_steps_read_s3_through_the_source_connection(oss_conn_env, oss_client, s3_object):
    from oss_provider.operators.multipart import (
        OSSCompleteMultipartUploadOperator,
        OSSInitiateMultipartUploadOperator,
        OSSPlanMultipartUploadOperator,
        OSSUploadPartsOperator,
    )

    url, data = s3_object
    key = "from-s3/mapped.bin"
    init = OSSInitiateMultipartUploadOperator(task_id="init", key=key).execute({})
    plan = OSSPlanMultipartUploadOperator(
        task_id="plan", source=url, source_conn_id="aws_source", part_size=P, batches=2
    ).execute({})
    parts = [
        OSSUploadPartsOperator(
            task_id="parts", key=key, upload_id=init["upload_id"], source=url,
            source_conn_id="aws_source", batch=batch,
        ).execute({})
        for batch in plan
    ]  # fmt: skip
    done = OSSCompleteMultipartUploadOperator(
        task_id="complete", key=key, upload_id=init["upload_id"], parts=parts
    ).execute({})
    assert done["crc64"] == crc64(data)
    assert oss_client.get_object("test-bucket", key) == data


def test_without_the_source_connection_the_s3_source_is_not_readable(
    oss_conn_env, s3_object, monkeypatch
):
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    url, _ = s3_object
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # ambient: nothing leaves loopback
    with pytest.raises(Exception):  # noqa: B017 - s3fs: no credentials / no such endpoint
        OSSMultipartUploadOperator(task_id="upload", key="from-s3/none.bin", source=url).execute({})


def test_an_s3_object_path_copies_and_moves_into_oss(oss_conn_env, oss_client, s3_object):
    from oss_provider._compat import ObjectStoragePath

    url, data = s3_object
    s3_path = ObjectStoragePath(url, conn_id="aws_source")
    target = ObjectStoragePath("oss://test-bucket/from-s3/", conn_id="oss_multipart_default")
    s3_path.copy_into(target)
    assert oss_client.get_object("test-bucket", "from-s3/data.bin") == data
    s3_path.move(
        ObjectStoragePath("oss://test-bucket/from-s3/moved.bin", conn_id="oss_multipart_default")
    )
    assert oss_client.get_object("test-bucket", "from-s3/moved.bin") == data
    assert not s3_path.exists()
