"""The official OSS SDKs, written against the real service, work against the emulator unchanged."""

from __future__ import annotations

import os

import pytest

P1 = os.urandom(100 * 1024)
P2 = os.urandom(3000)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_multipart(oss_emulator, oss_bucket, version):
    oss2 = pytest.importorskip("oss2")
    if version == "v1":
        auth = oss2.Auth(oss_emulator.access_key_id, oss_emulator.access_key_secret)
        bucket = oss2.Bucket(auth, oss_emulator.endpoint, oss_bucket)
    else:
        auth = oss2.AuthV4(oss_emulator.access_key_id, oss_emulator.access_key_secret)
        bucket = oss2.Bucket(auth, oss_emulator.endpoint, oss_bucket, region=oss_emulator.region)
    key = "sdk/oss2 文件.bin"
    upload_id = bucket.init_multipart_upload(key, headers={"Content-Type": "text/plain"}).upload_id
    r1 = bucket.upload_part(key, upload_id, 1, P1)  # oss2 checks the CRC-64 header itself
    r2 = bucket.upload_part(key, upload_id, 2, P2)
    listed = bucket.list_parts(key, upload_id)
    assert [p.part_number for p in listed.parts] == [1, 2] and listed.parts[0].size == len(P1)
    uploads = bucket.list_multipart_uploads(prefix="sdk/")
    assert [u.upload_id for u in uploads.upload_list] == [upload_id]
    parts = [oss2.models.PartInfo(1, r1.etag), oss2.models.PartInfo(2, r2.etag)]
    result = bucket.complete_multipart_upload(key, upload_id, parts)
    assert result.etag.endswith("-2")
    assert bucket.get_object(key).read() == P1 + P2  # CRC checked by oss2 on read
    assert bucket.head_object(key).object_type == "Multipart"
    gone = bucket.init_multipart_upload("sdk/gone").upload_id
    bucket.abort_multipart_upload("sdk/gone", gone)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.abort_multipart_upload("sdk/gone", gone)
    url = bucket.sign_url("GET", key, 60)
    import requests

    assert requests.get(url, timeout=10).content == P1 + P2


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_alibabacloud_oss_v2_multipart(oss_emulator, oss_bucket, version, tmp_path):
    oss = pytest.importorskip("alibabacloud_oss_v2")
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        oss_emulator.access_key_id, oss_emulator.access_key_secret
    )
    cfg.region = oss_emulator.region
    cfg.endpoint = oss_emulator.endpoint
    cfg.use_path_style = True
    cfg.signature_version = version
    client = oss.Client(cfg)
    key = "sdk/v2 a+b.bin"
    init = client.initiate_multipart_upload(
        oss.InitiateMultipartUploadRequest(bucket=oss_bucket, key=key)
    )
    etags = []
    for n, data in ((1, P1), (2, P2)):
        r = client.upload_part(
            oss.UploadPartRequest(
                bucket=oss_bucket, key=key, upload_id=init.upload_id, part_number=n, body=data
            )
        )
        etags.append(r.etag)
    listed = client.list_parts(
        oss.ListPartsRequest(bucket=oss_bucket, key=key, upload_id=init.upload_id)
    )
    assert [p.part_number for p in listed.parts] == [1, 2]
    uploads = client.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=oss_bucket))
    assert [u.key for u in uploads.uploads] == [key]  # the SDK decodes encoding-type=url
    done = client.complete_multipart_upload(
        oss.CompleteMultipartUploadRequest(
            bucket=oss_bucket,
            key=key,
            upload_id=init.upload_id,
            complete_multipart_upload=oss.CompleteMultipartUpload(
                parts=[
                    oss.UploadPart(part_number=n, etag=e) for n, e in ((1, etags[0]), (2, etags[1]))
                ]
            ),
        )
    )
    assert done.etag.strip('"').endswith("-2")
    got = client.get_object(oss.GetObjectRequest(bucket=oss_bucket, key=key))
    assert got.body.read() == P1 + P2
    # the SDK's own multipart uploader (parallel parts, CRC-64 check of the whole object)
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(350 * 1024))
    uploader = client.uploader(part_size=100 * 1024, parallel_num=3)
    uploader.upload_file(
        oss.PutObjectRequest(bucket=oss_bucket, key="sdk/uploader.bin"), filepath=str(src)
    )
    head = client.head_object(oss.HeadObjectRequest(bucket=oss_bucket, key="sdk/uploader.bin"))
    assert head.content_length == 350 * 1024 and head.object_type == "Multipart"
