"""Emulator multipart rules over real HTTP: ETags, CRCs, digests, Complete validation, dead IDs."""

from __future__ import annotations

import base64
import hashlib
import threading

import pytest
import requests
from _emulator_signer import complete, error_of, for_server, initiate, put_part

from oss_provider.emulator.crc import crc64
from oss_provider.testing import CONTROL_HEADERS

P1 = b"a" * 102400
P2 = b"b" * 1000


@pytest.fixture
def s(oss_emulator):
    return for_server(oss_emulator)


def test_multipart_etags_crcs_and_object(s, oss_bucket):
    uid = initiate(
        s, oss_bucket, "dir/obj.bin", {"Content-Type": "text/csv", "x-oss-meta-owner": "me"}
    )
    r1 = put_part(s, oss_bucket, "dir/obj.bin", uid, 1, P1)
    r2 = put_part(s, oss_bucket, "dir/obj.bin", uid, 2, P2)
    assert r1.headers["ETag"] == '"302D3A0C8E319EAA95B059B346DE1D1D"'
    assert r2.headers["ETag"] == '"C73C16DE8912C313C06AC38B9961E806"'
    assert r1.headers["x-oss-hash-crc64ecma"] == "12696911168479852064"
    assert r1.headers["Content-MD5"] == base64.b64encode(hashlib.md5(P1).digest()).decode()
    resp = complete(
        s, oss_bucket, "dir/obj.bin", uid, [(1, r1.headers["ETag"]), (2, r2.headers["ETag"])]
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["ETag"] == '"BC40D692BB9CE44E6AFDBAF57501DB0B-2"'
    assert "<ETag>&quot;BC40D692BB9CE44E6AFDBAF57501DB0B-2&quot;</ETag>" in resp.text or (
        '<ETag>"BC40D692BB9CE44E6AFDBAF57501DB0B-2"</ETag>' in resp.text
    )
    assert resp.headers["x-oss-hash-crc64ecma"] == "10189816783531802777"
    assert "xmlns" not in resp.text
    head = s.request("HEAD", oss_bucket, "dir/obj.bin")
    assert head.headers["x-oss-object-type"] == "Multipart"
    assert head.headers["Content-Type"] == "text/csv"
    assert head.headers["x-oss-meta-owner"] == "me"
    assert "Content-MD5" not in head.headers
    assert int(head.headers["Content-Length"]) == len(P1) + len(P2)
    assert s.request("GET", oss_bucket, "dir/obj.bin").content == P1 + P2


def test_complete_validation_order(s, oss_bucket):
    key = "order.bin"
    uid = initiate(s, oss_bucket, key)
    e1 = put_part(s, oss_bucket, key, uid, 1, b"x" * 100).headers["ETag"]
    e2 = put_part(s, oss_bucket, key, uid, 2, P2).headers["ETag"]
    cases = [
        ("NOSUCHUPLOAD", [(1, e1)], "NoSuchUpload", 404),
        (uid, None, "MalformedXML", 400),  # empty body
        (uid, [(2, e2), (1, e1)], "InvalidPartOrder", 400),
        (uid, [(1, e1), (1, e1)], "InvalidPartOrder", 400),
        (uid, [(0, e1)], "InvalidPartOrder", 400),
        (uid, [(1, e1), (3, e2)], "InvalidPart", 400),
        (uid, [(1, '"00000000000000000000000000000000"')], "InvalidPart", 400),
        (uid, [(1, e1), (2, e2)], "EntityTooSmall", 400),  # part 1 is 100 bytes, not last
    ]
    for upload_id, parts, code, status in cases:
        resp = complete(s, oss_bucket, key, upload_id, parts)
        assert (resp.status_code, error_of(resp)["Code"]) == (status, code), (parts, resp.text)
    bad_xml = s.request(
        "POST", oss_bucket, key, [("uploadId", uid)], data="<CompleteMultipartUpload><Part>"
    )
    assert error_of(bad_xml)["Code"] == "MalformedXML"
    # the upload survived every failed Complete; gaps are fine; unquoted/lower-case ETag accepted
    resp = complete(s, oss_bucket, key, uid, [(2, e2.strip('"').lower())])
    assert resp.status_code == 200, resp.text
    assert resp.headers["ETag"].endswith('-1"')
    assert s.request("GET", oss_bucket, key).content == P2


def test_upload_is_dead_after_complete_and_abort(s, oss_bucket):
    for finish in ("complete", "abort"):
        key = f"dead-{finish}"
        uid = initiate(s, oss_bucket, key)
        etag = put_part(s, oss_bucket, key, uid, 1, b"z").headers["ETag"]
        if finish == "complete":
            assert complete(s, oss_bucket, key, uid, [(1, etag)]).status_code == 200
        else:
            assert s.request("DELETE", oss_bucket, key, [("uploadId", uid)]).status_code == 204
        for resp in (
            put_part(s, oss_bucket, key, uid, 2, b"z"),
            s.request("GET", oss_bucket, key, [("uploadId", uid)]),
            complete(s, oss_bucket, key, uid, [(1, etag)]),
            s.request("DELETE", oss_bucket, key, [("uploadId", uid)]),
        ):
            err = error_of(resp)
            assert (resp.status_code, err["Code"], err["UploadId"]) == (404, "NoSuchUpload", uid)
    # an upload id is scoped to its key
    uid = initiate(s, oss_bucket, "scoped")
    assert error_of(put_part(s, oss_bucket, "other", uid, 1, b"z"))["Code"] == "NoSuchUpload"


def test_part_number_digest_and_replace(s, oss_bucket):
    key = "parts.bin"
    uid = initiate(s, oss_bucket, key)
    for bad in ("0", "10001", "abc", "1.5"):
        resp = s.request(
            "PUT", oss_bucket, key, [("partNumber", bad), ("uploadId", uid)], data=b"x"
        )
        err = error_of(resp)
        assert (err["Code"], err["ArgumentName"], err["ArgumentValue"]) == (
            "InvalidArgument",
            "PartNumber",
            bad,
        )
        assert err["EC"] == "0017-00000220"
    md5_other = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    resp = put_part(s, oss_bucket, key, uid, 1, b"data", headers={"Content-MD5": md5_other})
    assert (resp.status_code, error_of(resp)["Code"], error_of(resp)["EC"]) == (
        400,
        "InvalidDigest",
        "0017-00000503",
    )
    resp = put_part(s, oss_bucket, key, uid, 1, b"data", headers={"Content-MD5": "not-base64!"})
    assert error_of(resp)["EC"] == "0017-00000502"
    good = base64.b64encode(hashlib.md5(b"first").digest()).decode()
    assert put_part(s, oss_bucket, key, uid, 1, b"first", headers={"Content-MD5": good}).ok
    second = put_part(s, oss_bucket, key, uid, 1, b"second")
    listing = s.request("GET", oss_bucket, key, [("uploadId", uid)]).text
    assert listing.count("<Part>") == 1 and second.headers["ETag"] in listing.replace("&quot;", '"')
    assert f"<HashCrc64ecma>{crc64(b'second')}</HashCrc64ecma>" in listing
    assert put_part(s, oss_bucket, key, uid, 10000, b"last").ok


def test_concurrent_uploads_of_one_part_leave_one_whole_part(oss_emulator, oss_bucket):
    s = for_server(oss_emulator)
    key = "race.bin"
    uid = initiate(s, oss_bucket, key)
    bodies = [bytes([65 + i]) * (512 * 1024) for i in range(6)]
    results = []

    def send(body: bytes) -> None:
        signer = for_server(oss_emulator)  # one session per thread
        results.append(put_part(signer, oss_bucket, key, uid, 7, body).status_code)

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * len(bodies)
    listing = s.request("GET", oss_bucket, key, [("uploadId", uid)]).text
    etag = listing.split("<ETag>")[1].split("</ETag>")[0].replace("&quot;", '"')
    assert complete(s, oss_bucket, key, uid, [(7, etag)]).ok
    data = s.request("GET", oss_bucket, key).content
    assert data in bodies  # one writer's bytes, never a mix


def test_forbid_overwrite_complete_all_and_part_copy(s, oss_bucket):
    assert s.request("PUT", oss_bucket, "src.bin", data=P1 + P2).ok
    resp = s.request(
        "POST", oss_bucket, "src.bin", [("uploads", None)], {"x-oss-forbid-overwrite": "true"}
    )
    assert (resp.status_code, error_of(resp)["Code"]) == (409, "FileAlreadyExists")
    uid = initiate(s, oss_bucket, "copy.bin")
    params = [("partNumber", "1"), ("uploadId", uid)]
    copy = s.request(
        "PUT", oss_bucket, "copy.bin", params,
        {"x-oss-copy-source": f"/{oss_bucket}/src.bin", "x-oss-copy-source-range": "bytes=0-102399"},
    )  # fmt: skip
    assert copy.status_code == 200, copy.text
    assert copy.headers["Content-Range"] == f"bytes 0-102399/{len(P1) + len(P2)}"
    assert "<CopyPartResult><LastModified>" in copy.text
    assert put_part(s, oss_bucket, "copy.bin", uid, 2, P2).ok
    with_body = complete(
        s, oss_bucket, "copy.bin", uid, [(1, copy.headers["ETag"])], {"x-oss-complete-all": "yes"}
    )
    assert error_of(with_body)["Code"] == "InvalidArgument"
    resp = complete(s, oss_bucket, "copy.bin", uid, None, {"x-oss-complete-all": "yes"})
    assert resp.status_code == 200, resp.text
    assert s.request("GET", oss_bucket, "copy.bin").content == P1 + P2
    uid = initiate(s, oss_bucket, "copy.bin")
    etag = put_part(s, oss_bucket, "copy.bin", uid, 1, b"q").headers["ETag"]
    resp = complete(s, oss_bucket, "copy.bin", uid, [(1, etag)], {"x-oss-forbid-overwrite": "true"})
    assert (resp.status_code, error_of(resp)["EC"]) == (409, "0042-00000214")


def test_entity_too_large_and_missing_length(oss_emulator, oss_bucket):
    s = for_server(oss_emulator)
    uid = initiate(s, oss_bucket, "huge")
    headers = s.sign("PUT", oss_bucket, "huge", [("partNumber", "1"), ("uploadId", uid)], {})
    headers["Content-Length"] = str(5 * 1024**3 + 1)  # announced, never sent
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", oss_emulator.port, timeout=10)
    conn.putrequest(
        "PUT", f"/{oss_bucket}/huge?partNumber=1&uploadId={uid}", skip_accept_encoding=True
    )
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    resp = conn.getresponse()
    assert (resp.status, b"<Code>EntityTooLarge</Code>" in resp.read()) == (400, True)
    conn.close()
    health = f"{oss_emulator.endpoint}/_emulator/health"
    assert requests.get(health, headers=CONTROL_HEADERS, timeout=5).ok
