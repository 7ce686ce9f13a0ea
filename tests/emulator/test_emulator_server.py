"""Emulator as a server: error shape, restart persistence, faults, admin, hardening, lifecycle."""

from __future__ import annotations

import base64
import http.client
import os
import time
import uuid
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime

import pytest
import requests
from _emulator_signer import complete, error_of, for_server, initiate, put_part

from oss_provider.emulator.crc import crc64
from oss_provider.emulator.faults import FaultInjector
from oss_provider.testing import EmulatorServer


@pytest.fixture
def s(oss_emulator):
    return for_server(oss_emulator)


def _raw(srv, method: str, target: str, body: bytes = b"", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_error_shape_and_request_ids(s, oss_bucket):
    resp = s.request("GET", oss_bucket, "missing/key")
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/xml"
    assert resp.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>')
    root = ET.fromstring(resp.content)
    assert [c.tag for c in root] == [
        "Code",
        "Message",
        "RequestId",
        "HostId",
        "Key",
        "EC",
        "RecommendDoc",
    ]
    assert root.findtext("RequestId") == resp.headers["x-oss-request-id"]
    assert len(resp.headers["x-oss-request-id"]) == 24
    assert resp.headers["x-oss-ec"] == root.findtext("EC") == "0026-00000001"
    head = s.request("HEAD", oss_bucket, "missing/key")
    assert head.content == b"" and b"<Code>NoSuchKey</Code>" in base64.b64decode(
        head.headers["x-oss-err"]
    )
    assert error_of(s.request("GET", "no-such-bucket-here", "k"))["Code"] == "NoSuchBucket"
    ok = s.request("PUT", oss_bucket, "k", data=b"v")
    assert ok.headers["Server"] == "AliyunOSS" and ok.headers["x-oss-request-id"]
    assert ok.headers["Date"].endswith(" GMT")


def test_get_ranges_and_delete(s, oss_bucket):
    assert s.request("PUT", oss_bucket, "r.txt", data=b"0123456789").ok
    cases = {"bytes=2-4": (206, b"234"), "bytes=7-": (206, b"789"), "bytes=-2": (206, b"89"),
             "bytes=5-100": (200, b"0123456789"), "bytes=20-30": (200, b"0123456789")}  # fmt: skip
    for rng, (status, body) in cases.items():
        resp = s.request("GET", oss_bucket, "r.txt", headers={"Range": rng})
        assert (resp.status_code, resp.content) == (status, body), rng
    std = s.request(
        "GET",
        oss_bucket,
        "r.txt",
        headers={"Range": "bytes=20-30", "x-oss-range-behavior": "standard"},
    )
    assert (std.status_code, error_of(std)["Code"]) == (416, "InvalidRange")
    assert s.request("DELETE", oss_bucket, "r.txt").status_code == 204
    assert s.request("DELETE", oss_bucket, "r.txt").status_code == 204
    assert error_of(s.request("DELETE", "never-created", None))["Code"] == "NoSuchBucket"


def test_bucket_lifecycle_and_virtual_host(oss_emulator, s):
    bucket = "vhost-bucket"
    assert s.request("PUT", bucket, None).status_code == 200
    assert error_of(s.request("PUT", bucket, None))["Code"] == "BucketAlreadyExists"
    resp = s.request("GET", bucket, None, [("lifecycle", None)])
    assert (resp.status_code, error_of(resp)["Code"]) == (404, "NoSuchLifecycle")
    rules = (
        "<LifecycleConfiguration><Rule><ID>abort</ID><Prefix></Prefix><Status>Enabled</Status>"
        "<AbortMultipartUpload><Days>3</Days></AbortMultipartUpload></Rule></LifecycleConfiguration>"
    )
    assert s.request("PUT", bucket, None, [("lifecycle", None)], data=rules).status_code == 200
    got = s.request("GET", bucket, None, [("lifecycle", None)])
    assert ET.fromstring(got.content).findtext("Rule/AbortMultipartUpload/Days") == "3"
    bad = s.request("PUT", bucket, None, [("lifecycle", None)], data="<LifecycleConfiguration/>")
    assert error_of(bad)["Code"] == "MalformedXML"
    assert s.request("DELETE", bucket, None, [("lifecycle", None)]).status_code == 204
    # <bucket>.localhost virtual host: the bucket comes from the Host header
    url = s.url(bucket, "v/key.txt", [])
    headers = s.sign("PUT", bucket, "v/key.txt", [], {})
    headers["Host"] = f"{bucket}.localhost:{oss_emulator.port}"
    vurl = url.replace(f"/{bucket}/", "/", 1)
    assert requests.put(vurl, data=b"vh", headers=headers, timeout=10).ok
    assert s.request("GET", bucket, "v/key.txt").content == b"vh"
    assert error_of(s.request("DELETE", bucket, None))["Code"] == "BucketNotEmpty"
    assert s.request("DELETE", bucket, "v/key.txt").status_code == 204
    assert s.request("DELETE", bucket, None).status_code == 204


def test_restart_keeps_buckets_objects_and_uploads(tmp_path):
    with EmulatorServer(data_dir=tmp_path / "data") as srv:
        s = for_server(srv)
        assert s.request("PUT", "test-bucket", "keep/obj", data=b"kept").ok
        uid = initiate(s, "test-bucket", "keep/mp", {"Content-Type": "image/png"})
        etag = put_part(s, "test-bucket", "keep/mp", uid, 1, b"p" * 10).headers["ETag"]
        srv.restart()
        s = for_server(srv)
        assert s.request("GET", "test-bucket", "keep/obj").content == b"kept"
        assert uid in s.request("GET", "test-bucket", None, [("uploads", None)]).text
        resp = complete(s, "test-bucket", "keep/mp", uid, [(1, etag)])
        assert resp.status_code == 200, resp.text
        assert s.request("HEAD", "test-bucket", "keep/mp").headers["Content-Type"] == "image/png"
    assert (tmp_path / "data").is_dir()  # a given data dir is the caller's


def test_fault_injection_over_http(oss_emulator, s, oss_bucket):
    uid = initiate(s, oss_bucket, "f.bin")
    oss_emulator.fail_next(2, "503", "UploadPart")
    for _ in range(2):
        resp = put_part(s, oss_bucket, "f.bin", uid, 1, b"x" * 1000)
        assert (resp.status_code, error_of(resp)["Code"]) == (503, "SlowDown")
    assert put_part(s, oss_bucket, "f.bin", uid, 1, b"x" * 1000).ok  # third call passes
    oss_emulator.fail_next(1, "reset", "UploadPart")
    with pytest.raises(requests.ConnectionError):
        put_part(s, oss_bucket, "f.bin", uid, 2, os.urandom(256 * 1024))
    oss_emulator.fail_next(1, "InternalError")
    assert s.request("GET", oss_bucket, "f.bin", [("uploadId", uid)]).status_code == 500
    etag = put_part(s, oss_bucket, "f.bin", uid, 2, b"y").headers["ETag"]
    oss_emulator.fail_next(1, "lose_complete_response", "CompleteMultipartUpload")
    with pytest.raises(requests.ConnectionError):
        complete(s, oss_bucket, "f.bin", uid, [(2, etag)])
    head = s.request("HEAD", oss_bucket, "f.bin")  # it happened anyway
    assert head.status_code == 200 and head.headers["x-oss-object-type"] == "Multipart"
    assert error_of(complete(s, oss_bucket, "f.bin", uid, [(2, etag)]))["Code"] == "NoSuchUpload"
    oss_emulator.fail_next(1, "slow", "GetObject", delay_seconds=1.5)
    with pytest.raises(requests.Timeout):
        s.request("GET", oss_bucket, "f.bin", timeout=0.3)
    stats = oss_emulator.stats()
    assert stats["requests"]["UploadPart"] >= 5 and stats["errors"]["SlowDown"] >= 2
    assert stats["faults_injected"] >= 6


def test_random_faults_are_deterministic_for_a_seed():
    def sequence(seed):
        inj = FaultInjector(rate=0.3, seed=seed)
        return [(f.kind if f else None) for f in (inj.pick("UploadPart") for _ in range(200))]

    assert sequence(7) == sequence(7) != sequence(8)
    assert {"503", "500", "reset", "slow"} <= set(sequence(7))
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultInjector().fail_next(1, "explode")


def test_clock_offset_moves_dates(oss_emulator, s, oss_bucket):
    uid = initiate(s, oss_bucket, "old")
    oss_emulator.set_clock_offset(600)  # within the 15-minute skew limit
    resp = s.request("GET", oss_bucket, None, [("uploads", None)])
    assert parsedate_to_datetime(resp.headers["Date"]).timestamp() > time.time() + 500
    assert uid in resp.text
    oss_emulator.set_clock_offset(3 * 86400)  # now the client's signature is skewed
    assert (
        error_of(s.request("GET", oss_bucket, None, [("uploads", None)]))["Code"]
        == "RequestTimeTooSkewed"
    )
    later = for_server(oss_emulator)  # a client whose clock agrees with the server
    resp = later.request(
        "POST", oss_bucket, "new", [("uploads", None)], when=time.time() + 3 * 86400
    )
    assert resp.ok
    listed = ET.fromstring(
        later.request(
            "GET", oss_bucket, None, [("uploads", None)], when=time.time() + 3 * 86400
        ).content
    )
    initiated = {u.findtext("Key"): u.findtext("Initiated") for u in listed.findall("Upload")}
    assert initiated["new"] > initiated["old"]  # ISO dates sort as text
    oss_emulator.set_clock_offset(0)


def test_hardening(oss_emulator, s, oss_bucket):
    srv = oss_emulator
    oss2_style = for_server(srv)
    oss2_style.encode_slash = True  # requests would otherwise collapse the dot segments
    # Names unique to this run: other tests write files called "b" or "x" under the same /tmp.
    tag = uuid.uuid4().hex[:12]
    names = {f"escape-{tag}.txt", f"x-{tag}", f"b-{tag}", f"passwd-{tag}", f"raw-{tag}.txt"}
    for key in (f"../../escape-{tag}.txt", f"..%2F..%2Fx-{tag}", f"a/../../../b-{tag}"):
        assert oss2_style.request("PUT", oss_bucket, key, data=b"t").status_code == 200
    raw_key = f"../../raw-{tag}.txt"
    headers = s.sign("PUT", oss_bucket, raw_key, [], {})
    status, _, _ = _raw(srv, "PUT", f"/{oss_bucket}/{raw_key}", b"t", headers)
    assert status == 200  # a raw dot-segment path is taken literally as the key
    status, _, _ = _raw(srv, "PUT", f"/{oss_bucket}/%2Fetc%2Fpasswd-{tag}", b"x")
    assert status in (400, 403)
    for root, _, files in os.walk(srv.data_dir.parent):
        assert not names.intersection(files), root
    assert oss2_style.request("GET", oss_bucket, f"../../escape-{tag}.txt").content == b"t"
    uid = initiate(s, oss_bucket, "bomb")
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&b;</ETag></Part>"
        "</CompleteMultipartUpload>"
    )
    resp = s.request("POST", oss_bucket, "bomb", [("uploadId", uid)], data=bomb)
    assert error_of(resp)["Code"] == "MalformedXML"
    huge = (
        "<CompleteMultipartUpload>"
        + "<Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>" * 60000
    )
    resp = s.request("POST", oss_bucket, "bomb", [("uploadId", uid)], data=huge)
    assert error_of(resp)["Code"] == "EntityTooLarge"
    for method in ("PATCH", "OPTIONS", "POST"):
        status, headers, body = _raw(srv, method, f"/{oss_bucket}/obj")
        assert (
            status == 405
            and b"<Code>MethodNotAllowed</Code>" in body
            and headers["x-oss-request-id"]
        )
    status, _, body = _raw(srv, "GET", f"/{oss_bucket}/obj?cors")
    assert status == 501
    status, _, _ = _raw(srv, "PUT", f"/{oss_bucket}/x", b"", {"Content-Length": "abc"})
    assert status == 400
    status, headers, body = _raw(srv, "GET", "/x" * 40000)  # request line too long
    assert status == 414 and b"<Error>" in body and headers["x-oss-request-id"]
    assert oss2_style.request("GET", oss_bucket, f"a/../../../b-{tag}").ok  # still serving


def test_chunked_body(s, oss_bucket):
    uid = initiate(s, oss_bucket, "chunked.bin")
    chunks = [b"a" * 70000, b"b" * 5, b"c" * 40000]
    resp = put_part(s, oss_bucket, "chunked.bin", uid, 1, iter(chunks))  # no length -> chunked
    assert resp.status_code == 200, resp.text
    body = b"".join(chunks)
    assert resp.headers["x-oss-hash-crc64ecma"] == str(crc64(body))
    assert complete(s, oss_bucket, "chunked.bin", uid, [(1, resp.headers["ETag"])]).ok
    assert s.request("GET", oss_bucket, "chunked.bin").content == body
