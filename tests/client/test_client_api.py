"""OSSClient against the emulator over real HTTP."""

from __future__ import annotations

import os

import pytest
import requests

from oss_provider.client.api import OSSClient
from oss_provider.client.checksums import combine_part_crcs, crc64
from oss_provider.client.errors import (
    EntityTooSmall,
    InvalidPart,
    InvalidPartOrder,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    OSSResponseError,
    OSSTransportError,
    SignatureDoesNotMatch,
)
from oss_provider.client.models import Credentials, UploadedPart

KIB = 1024
P1 = os.urandom(100 * KIB)
P2 = os.urandom(100 * KIB)
TAIL = b"tail-bytes"


def _client(srv, **kw) -> OSSClient:
    creds = kw.pop("credentials", Credentials(srv.access_key_id, srv.access_key_secret))
    return OSSClient(srv.endpoint, creds, region=srv.region, **kw)


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_multipart_round_trip(oss_emulator, oss_bucket, version):
    with _client(oss_emulator, signature_version=version) as client:
        key = "dir/hello world 中文+x.bin"
        uid = client.start_multipart_upload(
            oss_bucket, key, content_type="text/plain", metadata={"origin": "test"}
        ).upload_id
        p2 = client.upload_part(oss_bucket, key, uid, 2, P2)
        p1 = client.upload_part(oss_bucket, key, uid, 1, P1)
        p3 = client.upload_part(oss_bucket, key, uid, 3, TAIL)
        assert p1.crc64 == crc64(P1) and p1.size == len(P1)
        done = client.complete_multipart_upload(oss_bucket, key, uid, [p3.to_dict(), p1, p2])
        assert done.crc64 == combine_part_crcs(
            [(p1.crc64, p1.size), (p2.crc64, p2.size), (p3.crc64, p3.size)]
        )
        assert done.etag.endswith("-3")
        assert client.get_object(oss_bucket, key) == P1 + P2 + TAIL
        info = client.head_object(oss_bucket, key)
        assert info.size == len(P1 + P2 + TAIL)
        assert info.content_type == "text/plain"
        assert info.metadata == {"origin": "test"}
        assert info.object_type == "Multipart"
        assert client.get_object(oss_bucket, key, byte_range=(5, 9)) == P1[5:10]
        # the upload id is dead afterwards
        with pytest.raises(NoSuchUpload) as err:
            client.upload_part(oss_bucket, key, uid, 4, TAIL)
        assert err.value.request_id and err.value.status == 404


def test_repeated_part_number_replaces_and_complete_dedups(oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "k").upload_id
    first = oss_client.upload_part(oss_bucket, "k", uid, 1, P1)
    second = oss_client.upload_part(oss_bucket, "k", uid, 1, P2)
    parts = list(oss_client.iter_parts(oss_bucket, "k", uid))
    assert [(p.part_number, p.etag) for p in parts] == [(1, second.etag)]
    done = oss_client.complete_multipart_upload(oss_bucket, "k", uid, [first, second])
    assert done.size == len(P2)
    assert oss_client.get_object(oss_bucket, "k") == P2


def test_list_parts_pages(oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "paged").upload_id
    for n in range(1, 8):
        oss_client.upload_part(oss_bucket, "paged", uid, n, b"x" * n)
    page = oss_client.list_parts(oss_bucket, "paged", uid, max_parts=3)
    assert [p.part_number for p in page.parts] == [1, 2, 3]
    assert page.is_truncated and page.next_part_number_marker == 3
    page = oss_client.list_parts(oss_bucket, "paged", uid, max_parts=3, part_number_marker=6)
    assert [p.part_number for p in page.parts] == [7] and not page.is_truncated
    listed = list(oss_client.iter_parts(oss_bucket, "paged", uid, page_size=2))
    assert [p.size for p in listed] == list(range(1, 8))
    assert all(p.crc64 == crc64(b"x" * p.size) for p in listed)
    assert all(p.last_modified is not None and p.last_modified.tzinfo for p in listed)


def test_list_uploads_pages_and_markers(oss_client, oss_bucket):
    ids = {}
    for key in ["a/1", "a/2", "b/1", "a/1"]:
        ids.setdefault(key, []).append(oss_client.start_multipart_upload(oss_bucket, key).upload_id)
    pages = list(oss_client.iter_multipart_upload_pages(oss_bucket, page_size=1))
    seen = [(u.key, u.upload_id) for p in pages for u in p.uploads]
    assert len(seen) == 4 and len(set(seen)) == 4
    assert [k for k, _ in seen] == ["a/1", "a/1", "a/2", "b/1"]
    assert all(p.server_date is not None for p in pages)
    only_a = list(oss_client.iter_multipart_uploads(oss_bucket, prefix="a/"))
    assert {u.key for u in only_a} == {"a/1", "a/2"}
    rolled = oss_client.list_multipart_uploads(oss_bucket, delimiter="/")
    assert rolled.common_prefixes == ["a/", "b/"] and rolled.uploads == []
    assert all(u.initiated and u.initiated.tzinfo for u in only_a)


def test_abort_is_idempotent(oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "gone").upload_id
    assert oss_client.abort_multipart_upload(oss_bucket, "gone", uid) is True
    assert oss_client.abort_multipart_upload(oss_bucket, "gone", uid) is False


def test_validation_errors_from_server(oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "v").upload_id
    small = oss_client.upload_part(oss_bucket, "v", uid, 1, b"tiny")
    last = oss_client.upload_part(oss_bucket, "v", uid, 2, b"tiny")
    with pytest.raises(EntityTooSmall):
        oss_client.complete_multipart_upload(oss_bucket, "v", uid, [small, last])
    with pytest.raises(InvalidPart):
        oss_client.complete_multipart_upload(oss_bucket, "v", uid, [UploadedPart(1, "0" * 32, 4)])
    # the upload survives failed Completes
    assert len(list(oss_client.iter_parts(oss_bucket, "v", uid))) == 2


def test_content_md5_mismatch_is_invalid_digest(oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "md5").upload_id
    url = oss_client.presign_url(
        "PUT",
        oss_bucket,
        "md5",
        params={"partNumber": "1", "uploadId": uid},
        headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="},  # MD5 of b"", not of b"abc"
    )
    resp = requests.put(url, data=b"abc", headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="})
    assert resp.status_code == 400 and b"InvalidDigest" in resp.content


def test_part_order_is_fixed_by_the_client_not_the_server(oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "o").upload_id
    parts = [oss_client.upload_part(oss_bucket, "o", uid, n, P1) for n in (3, 1)]
    done = oss_client.complete_multipart_upload(oss_bucket, "o", uid, parts)
    assert done.size == 2 * len(P1)
    assert InvalidPartOrder  # the server check is covered by the emulator tests


def test_head_errors_and_missing_bucket(oss_client, oss_bucket):
    with pytest.raises(NoSuchKey) as err:
        oss_client.head_object(oss_bucket, "nope")
    assert err.value.status == 404
    with pytest.raises(NoSuchBucket):
        oss_client.start_multipart_upload("no-such-bucket-here", "k")
    assert oss_client.bucket_exists(oss_bucket)
    assert not oss_client.bucket_exists("no-such-bucket-here")


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_presigned_get(oss_emulator, oss_bucket, version):
    with _client(oss_emulator, signature_version=version) as client:
        client.put_object(oss_bucket, "p/q r.txt", b"presigned")
        url = client.presign_url("GET", oss_bucket, "p/q r.txt", expires=60)
        assert requests.get(url).content == b"presigned"


def test_sts_credentials(oss_emulator, oss_bucket):
    ak, sk, token = oss_emulator.sts_credentials
    with _client(oss_emulator, credentials=Credentials(ak, sk, token)) as client:
        client.put_object(oss_bucket, "sts", b"ok")
        assert client.get_object(oss_bucket, "sts") == b"ok"
    bad = Credentials(ak, sk, "wrong-token")
    with _client(oss_emulator, credentials=bad) as client, pytest.raises(Exception) as err:
        client.put_object(oss_bucket, "sts", b"ok")
        assert "wrong-token" not in str(err.value)


def test_wrong_secret_is_clear_and_does_not_leak(oss_emulator, oss_bucket):
    secret = "definitely-wrong-secret"
    creds = Credentials(oss_emulator.access_key_id, secret)
    with _client(oss_emulator, credentials=creds) as c, pytest.raises(SignatureDoesNotMatch) as err:
        c.start_multipart_upload(oss_bucket, "k")
    text = str(err.value) + repr(err.value.details)
    assert "secret" in text.lower() and secret not in text
    assert err.value.request_id


def test_lifecycle_read_modify_write(oss_client, oss_bucket):
    assert oss_client.get_bucket_lifecycle(oss_bucket) == []
    oss_client.put_bucket_lifecycle(
        oss_bucket,
        [{"id": "keep", "prefix": "logs/", "status": "Enabled", "expiration_days": 30}],
    )
    rules = oss_client.get_bucket_lifecycle(oss_bucket)
    rules.append(
        {"id": "abort", "prefix": "", "status": "Enabled", "abort_multipart_upload_days": 3}
    )
    oss_client.put_bucket_lifecycle(oss_bucket, rules)
    got = {r["id"]: r for r in oss_client.get_bucket_lifecycle(oss_bucket)}
    assert got["keep"]["expiration_days"] == 30 and got["abort"]["abort_multipart_upload_days"] == 3


def test_lost_complete_response_is_confirmed_by_head(oss_emulator, oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "lost").upload_id
    parts = [oss_client.upload_part(oss_bucket, "lost", uid, 1, P1)]
    oss_emulator.fail_next(1, "lose_complete_response", "CompleteMultipartUpload")
    done = oss_client.complete_multipart_upload(oss_bucket, "lost", uid, parts)
    assert done.confirmed_by_head and done.crc64 == crc64(P1)


def test_retries_transient_503(oss_emulator, oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "r").upload_id
    oss_emulator.fail_next(2, "503", "UploadPart")
    part = oss_client.upload_part(oss_bucket, "r", uid, 1, P1)
    assert part.size == len(P1)


def test_non_oss_endpoint_and_dead_port(tmp_path):
    import http.server
    import threading

    class Html(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = b"<html><body>Welcome to nginx</body></html>"
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = OSSClient(f"http://127.0.0.1:{server.server_port}", Credentials("a", "b"))
        with pytest.raises(OSSResponseError, match="not OSS XML.*nginx"):
            client.start_multipart_upload("bucket", "k")
    finally:
        server.shutdown()
        server.server_close()
    dead = OSSClient(
        f"http://127.0.0.1:{server.server_port}",
        Credentials("a", "b"),
        max_retries=0,
        read_timeout=5,
    )
    with pytest.raises(OSSTransportError, match="cannot connect.*connection refused"):
        dead.start_multipart_upload("bucket", "k")


def test_bad_input_fails_before_any_request(oss_client):
    for bad_key in ["/lead", "x" * 1024, "ctl\x01"]:
        with pytest.raises(ValueError):
            oss_client.start_multipart_upload("bucket", bad_key)
    with pytest.raises(ValueError, match="1..10000"):
        oss_client.upload_part("bucket", "k", "u", 0, b"x")
    with pytest.raises(ValueError, match="1..10000"):
        oss_client.upload_part("bucket", "k", "u", 10001, b"x")
    with pytest.raises(ValueError, match="bucket name"):
        oss_client.put_object("Bad_Bucket", "k", b"")
