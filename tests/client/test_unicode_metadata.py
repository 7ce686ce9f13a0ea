"""Non-ASCII user metadata (``x-oss-meta-u: 测试``) end to end: signing vectors, client, emulator,
hook and operators, V1 and V4.

OSS and oss2 send such values as their UTF-8 bytes and sign those bytes; OSS returns them as the
same bytes on HEAD/GET. The expected signatures below come from the string to sign written out by
hand and HMAC'd here (oss2 2.19.1's signers produce the same two values for the same request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from oss_provider.client.api import OSSClient
from oss_provider.client.models import Credentials
from oss_provider.client.signing import sign_headers
from tests._emulator_signer import error_of, for_server

VALUE = "测试"
UTF8 = VALUE.encode("utf-8")  # b"\xe6\xb5\x8b\xe8\xaf\x95"
HEADERS = {"Content-Type": "application/octet-stream", "x-oss-meta-unicode": VALUE}

# InitiateMultipartUpload of examplebucket/dir/multipart.data, AK "ak", SK "sk"
V1_DATE = "Wed, 28 Dec 2022 10:27:41 GMT"  # 1672223261
V1_STRING_TO_SIGN = (
    "POST\n"
    "\n"
    "application/octet-stream\n"
    "Wed, 28 Dec 2022 10:27:41 GMT\n"
    "x-oss-meta-unicode:测试\n"
    "/examplebucket/dir/multipart.data?uploads"
)
V1_EXPECTED = "nJRiCgUwH3qW6mMslvfOWfLuLXc="

V4_DATE = "20240115T080000Z"  # 1705305600
V4_CANONICAL_REQUEST = (
    "POST\n"
    "/examplebucket/dir/multipart.data\n"
    "uploads\n"
    "content-type:application/octet-stream\n"
    "x-oss-content-sha256:UNSIGNED-PAYLOAD\n"
    "x-oss-date:20240115T080000Z\n"
    "x-oss-meta-unicode:测试\n"
    "\n"
    "\n"
    "UNSIGNED-PAYLOAD"
)
V4_EXPECTED = "5e7991ead51cdccf206d596a8157d64bf60a1f05669721b6d521af421c5d8b08"


def _v1(sts: str) -> str:
    return base64.b64encode(hmac.new(b"sk", sts.encode("utf-8"), hashlib.sha1).digest()).decode()


def _v4(creq: str) -> str:
    sts = "\n".join(
        [
            "OSS4-HMAC-SHA256",
            V4_DATE,
            "20240115/cn-hangzhou/oss/aliyun_v4_request",
            hashlib.sha256(creq.encode("utf-8")).hexdigest(),
        ]
    )
    key = b"aliyun_v4sk"
    for part in ("20240115", "cn-hangzhou", "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------- signing


def test_hand_written_vectors_hash_the_utf8_bytes():
    assert "x-oss-meta-unicode:测试\n".encode() == b"x-oss-meta-unicode:" + UTF8 + b"\n"
    assert _v1(V1_STRING_TO_SIGN) == V1_EXPECTED
    assert _v4(V4_CANONICAL_REQUEST) == V4_EXPECTED


def test_client_signer_v1_matches_the_vector_and_sends_utf8_bytes():
    signed = sign_headers(
        "POST",
        "examplebucket",
        "dir/multipart.data",
        [("uploads", None)],
        HEADERS,
        Credentials("ak", "sk"),
        version="v1",
        when=1672223261,
    )
    assert signed["Date"] == V1_DATE
    assert signed["Authorization"] == f"OSS ak:{V1_EXPECTED}"
    assert signed["x-oss-meta-unicode"] == UTF8  # on the wire as UTF-8, not latin-1


def test_client_signer_v4_matches_the_vector_and_sends_utf8_bytes():
    signed = sign_headers(
        "POST",
        "examplebucket",
        "dir/multipart.data",
        [("uploads", None)],
        HEADERS,
        Credentials("ak", "sk"),
        version="v4",
        region="cn-hangzhou",
        when=1705305600,
    )
    assert signed["x-oss-date"] == V4_DATE
    assert signed["Authorization"] == (
        "OSS4-HMAC-SHA256 Credential=ak/20240115/cn-hangzhou/oss/aliyun_v4_request,"
        f"Signature={V4_EXPECTED}"
    )
    assert signed["x-oss-meta-unicode"] == UTF8
    # bytes given by the caller (as oss2 users do) sign the same way
    again = sign_headers(
        "POST",
        "examplebucket",
        "dir/multipart.data",
        [("uploads", None)],
        {**HEADERS, "x-oss-meta-unicode": UTF8},
        Credentials("ak", "sk"),
        version="v4",
        region="cn-hangzhou",
        when=1705305600,
    )
    assert again["Authorization"] == signed["Authorization"]


# ----------------------------------------------------------------------------- emulator


def _raw_put(srv, version: str, bucket: str, key: str, value: bytes, *, mangle: bool = False):
    """PutObject signed by the tests' own signer; the metadata goes out as raw bytes."""
    s = for_server(srv, version)
    text = value.decode("latin-1") if mangle else value.decode("utf-8")
    signed = s.sign("PUT", bucket, key, [], {"x-oss-meta-unicode": text})
    signed["x-oss-meta-unicode"] = value
    return s.session.put(s.url(bucket, key, []), headers=signed, data=b"a novel")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_emulator_verifies_utf8_metadata_and_returns_the_same_bytes(
    oss_emulator, oss_bucket, version
):
    resp = _raw_put(oss_emulator, version, oss_bucket, "u.txt", UTF8)
    assert resp.status_code == 200, resp.text
    head = for_server(oss_emulator, version).request("HEAD", oss_bucket, "u.txt")
    assert head.status_code == 200
    # requests reads header bytes as latin-1: the wire carried exactly the UTF-8 bytes
    assert head.headers["x-oss-meta-unicode"].encode("latin-1") == UTF8
    get = for_server(oss_emulator, version).request("GET", oss_bucket, "u.txt")
    assert get.headers["x-oss-meta-unicode"].encode("latin-1") == UTF8


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_emulator_refuses_a_signature_over_latin1_mangled_text(oss_emulator, oss_bucket, version):
    # signed over "æµ\x8bè¯\x95" (the bytes read as latin-1, then UTF-8-encoded again): wrong
    resp = _raw_put(oss_emulator, version, oss_bucket, "m.txt", UTF8, mangle=True)
    assert resp.status_code == 403
    err = error_of(resp)
    assert err["Code"] == "SignatureDoesNotMatch"
    assert "x-oss-meta-unicode:测试" in err.get("StringToSign", "") or version == "v4"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_unicode_header_round_trip(oss_emulator, oss_bucket, version):
    oss2 = pytest.importorskip("oss2")
    auth = oss2.make_auth(oss_emulator.access_key_id, oss_emulator.access_key_secret, version)
    bucket = oss2.Bucket(auth, oss_emulator.endpoint, oss_bucket, region=oss_emulator.region)
    bucket.put_object("o.txt", b"a novel", headers={"x-oss-meta-unicode": UTF8})
    got = bucket.head_object("o.txt").headers["x-oss-meta-unicode"]
    assert got.encode("iso-8859-1").decode("utf-8") == VALUE
    upload_id = bucket.init_multipart_upload(
        "m.bin", headers={"x-oss-meta-unicode": UTF8}
    ).upload_id
    part = bucket.upload_part("m.bin", upload_id, 1, b"x" * 10)
    bucket.complete_multipart_upload("m.bin", upload_id, [oss2.models.PartInfo(1, part.etag)])
    got = bucket.head_object("m.bin").headers["x-oss-meta-unicode"]
    assert got.encode("iso-8859-1").decode("utf-8") == VALUE


# ----------------------------------------------------------------------------- client


def _client(srv, version: str) -> OSSClient:
    return OSSClient(
        srv.endpoint,
        Credentials(srv.access_key_id, srv.access_key_secret),
        region=srv.region,
        signature_version=version,
    )


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_client_multipart_and_put_with_chinese_metadata(oss_emulator, oss_bucket, version):
    client = _client(oss_emulator, version)
    try:
        meta = {"u": VALUE, "plain": "ascii", "mixed": "a 中文 b"}
        upload_id = client.start_multipart_upload(oss_bucket, "mp.bin", metadata=meta).upload_id
        part = client.upload_part(oss_bucket, "mp.bin", upload_id, 1, b"x" * 1000)
        client.complete_multipart_upload(oss_bucket, "mp.bin", upload_id, [part])
        info = client.head_object(oss_bucket, "mp.bin")
        assert info.metadata == meta
        client.put_object(oss_bucket, "p.bin", b"data", metadata={"u": VALUE})
        assert client.head_object(oss_bucket, "p.bin").metadata == {"u": VALUE}
        # the emulator stored text, not mangled bytes: a raw HEAD shows the UTF-8 bytes
        raw = for_server(oss_emulator, version).request("HEAD", oss_bucket, "mp.bin")
        assert raw.headers["x-oss-meta-u"].encode("latin-1") == UTF8
    finally:
        client.close()


# ----------------------------------------------------------------------------- hook, operators


@pytest.fixture(params=["v4", "v1"])
def conn_version(request, oss_conn_env, monkeypatch):
    """The default connection at the emulator, signing with V4 or V1."""
    conn = json.loads(oss_conn_env)
    conn["extra"]["signature_version"] = request.param
    monkeypatch.setenv("AIRFLOW_CONN_OSS_MULTIPART_DEFAULT", json.dumps(conn))
    return request.param


def test_hook_initiate_with_chinese_metadata_then_head(oss_emulator, conn_version):
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    hook = OSSMultipartHook()
    key = f"hook-{conn_version}.bin"
    upload_id = hook.initiate_multipart_upload(key, metadata={"u": VALUE})
    part = hook.upload_part(key, upload_id, 1, b"y" * 500)
    hook.complete_multipart_upload(key, upload_id, [part])
    assert hook.head_object(key).metadata == {"u": VALUE}


def test_operators_with_chinese_metadata(oss_emulator, conn_version, tmp_path):
    from oss_provider.hooks.oss_multipart import OSSMultipartHook
    from oss_provider.operators.multipart import OSSInitiateMultipartUploadOperator
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    src = tmp_path / "src.bin"
    src.write_bytes(b"z" * 300_000)
    key = f"op-{conn_version}.bin"
    OSSMultipartUploadOperator(
        task_id="up", key=key, source=str(src), metadata={"u": VALUE}
    ).execute({})
    hook = OSSMultipartHook()
    assert hook.head_object(key).metadata == {"u": VALUE}

    started = OSSInitiateMultipartUploadOperator(
        task_id="init", key=f"init-{conn_version}.bin", metadata={"u": VALUE}
    ).execute({})
    uploads = {u.upload_id: u for u in hook.iter_multipart_uploads(prefix=f"init-{conn_version}")}
    assert started["upload_id"] in uploads
    hook.abort_multipart_upload(f"init-{conn_version}.bin", started["upload_id"])
