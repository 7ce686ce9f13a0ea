"""Emulator signature checks: oss-api.md vectors on the server side, then V1/V4/STS over HTTP."""

from __future__ import annotations

import calendar
import time
import xml.etree.ElementTree as ET
from email.message import Message

import pytest
import requests
from _emulator_signer import Signer

from oss_provider.emulator.auth import Credential, CredentialTable, SignedRequest, Verifier
from oss_provider.emulator.errors import ServiceError

D = "Wed, 28 Dec 2022 10:27:41 GMT"
D_TS = calendar.timegm((2022, 12, 28, 10, 27, 41))
V4_TS = calendar.timegm((2024, 1, 15, 8, 0, 0))
UID = "0004B9895DBBB6EC98E36"
KEY = "dir/multipart.data"


def _req(method, key, query, headers, bucket="examplebucket") -> SignedRequest:
    msg = Message()
    for name, value in headers.items():
        msg[name] = value
    return SignedRequest(
        method, bucket, key, query, lambda n: msg.get_all(n) or [], list(msg.keys())
    )


def _verifier(now: float) -> Verifier:
    table = CredentialTable([Credential("ak", "sk"), Credential("STS.x", "sk", "token")])
    return Verifier(table, lambda: now)


V1_CASES = [
    ("POST", KEY, [("uploads", "")], {"Content-Type": "application/octet-stream"}, "VAo+EkjU6hnt8RvYDdqzTcPltK8="),
    ("PUT", KEY, [("partNumber", "1"), ("uploadId", UID)], {"Content-MD5": "eB5eJF1ptWaXm4bijSPyxw=="}, "S+qqEOPMuhlJ1A+uKCl5LYK7B1w="),
    ("POST", KEY, [("uploadId", UID)], {"x-oss-forbid-overwrite": "true"}, "UNu+JJvKUIkPCLNwVROPcTmvRFY="),
    ("DELETE", KEY, [("uploadId", UID)], {}, "wNsJAnwh9klwez6sPz66XdL2v0k="),
    ("GET", None, [("uploads", ""), ("prefix", "dir/"), ("max-uploads", "2"), ("encoding-type", "url")], {}, "SjUNekmfhc0uFY5QOMFi03UbDsA="),
    ("GET", KEY, [("uploadId", UID), ("max-parts", "1000"), ("part-number-marker", "2")], {}, "2avUPA6kfqUUofLoGz3Rp+jRfQc="),
    ("PUT", "docs/hello world 中文.txt", [("partNumber", "3"), ("uploadId", "ABC")], {}, "6OKBvHUG7728E2wSDOa3Tj1OOOY="),
]  # fmt: skip


@pytest.mark.parametrize(("method", "key", "query", "headers", "sig"), V1_CASES)
def test_v1_header_vectors(method, key, query, headers, sig):
    headers = {**headers, "Date": D, "Authorization": f"OSS ak:{sig}"}
    assert _verifier(D_TS).verify(_req(method, key, query, headers)).access_key_id == "ak"


def test_v1_sts_and_presigned_vectors():
    sts = {
        "Date": D,
        "x-oss-security-token": "token",
        "Authorization": "OSS ak:YxMqFsT5WBwRZVspZQNH6sH/wGk=",
    }
    query = [("partNumber", "2"), ("uploadId", UID)]
    table = CredentialTable([Credential("ak", "sk", "token")])  # the vector's AK as an STS key
    assert Verifier(table, lambda: D_TS).verify(_req("PUT", KEY, query, sts))
    presigned = [("partNumber", "1"), ("uploadId", UID), ("OSSAccessKeyId", "ak"),
                 ("Expires", "1705309200"), ("Signature", "dHthBcx/XIzzFv0Y4RmZ8ZyzT/A=")]  # fmt: skip
    assert _verifier(1705309000).verify(_req("PUT", KEY, presigned, {}))
    with pytest.raises(ServiceError, match="Request has expired"):
        _verifier(1705309201).verify(_req("PUT", KEY, presigned, {}))


V4_CASES = [
    ("POST", KEY, [("uploads", "")], {"Content-Type": "application/octet-stream"}, "a918e7b257bc05c22eae660bdcd14b516d186c181f48e045897b806e1469810c"),
    ("PUT", KEY, [("partNumber", "1"), ("uploadId", UID)], {"Content-MD5": "eB5eJF1ptWaXm4bijSPyxw=="}, "a7c0dc23f3ae54af291f38d86a559e9a934ff12bc2938acc1a36c450a029e046"),
    ("GET", None, [("uploads", ""), ("prefix", "dir/"), ("max-uploads", "2"), ("encoding-type", "url")], {}, "a174623782c02ac5f91b88068d54df6d970d81531f205f2b11d0371edeecb588"),
    ("GET", KEY, [("uploadId", UID), ("max-parts", "1000"), ("part-number-marker", "2")], {}, "542c5565c4cdba68f113421aebc4d5afadba8ca14de8eab1f27921bbf2b03ad3"),
    ("PUT", "docs/hello world 中文.txt", [("partNumber", "3"), ("uploadId", "ABC")], {}, "bc1a889bc140399f7867c0e31952fae79527f7e11839b465a6dd827bcf3f6913"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "key", "query", "headers", "sig"), V4_CASES)
def test_v4_header_vectors(method, key, query, headers, sig):
    headers = {
        **headers,
        "x-oss-date": "20240115T080000Z",
        "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
        "Authorization": "OSS4-HMAC-SHA256 Credential=ak/20240115/cn-hangzhou/oss/aliyun_v4_request,"
        f"Signature={sig}",
    }
    assert _verifier(V4_TS).verify(_req(method, key, query, headers))


def test_v4_additional_headers_and_presign_vectors():
    query = [("param1", "value1"), ("+param1", "value3"), ("|param1", "value4"),
             ("+param2", ""), ("|param2", ""), ("param2", "")]  # fmt: skip
    headers = {"x-oss-head1": "value", "abc": "value", "ZAbc": "value", "XYZ": "value",
               "content-type": "text/plain", "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
               "x-oss-date": "20231216T172512Z",
               "Authorization": "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request, "
               "Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f, "
               "AdditionalHeaders=abc;zabc"}  # fmt: skip
    now = calendar.timegm((2023, 12, 16, 17, 25, 12))
    assert _verifier(now).verify(_req("PUT", "1234+-/123/1.txt", query, headers, bucket="bucket"))
    presigned = [("x-oss-signature-version", "OSS4-HMAC-SHA256"),
                 ("x-oss-credential", "ak/20240115/cn-hangzhou/oss/aliyun_v4_request"),
                 ("x-oss-date", "20240115T080000Z"), ("x-oss-expires", "3600"),
                 ("x-oss-signature", "a4ea236c6d29e9938ef578f315fc8b0273359e66b4565664d9e23892dd46e485")]  # fmt: skip
    assert _verifier(V4_TS + 60).verify(_req("GET", KEY, presigned, {}))
    with pytest.raises(ServiceError, match="Request has expired"):
        _verifier(V4_TS + 3601).verify(_req("GET", KEY, presigned, {}))


# ------------------------------------------------------------------------ over HTTP


def _error(resp: requests.Response) -> dict[str, str]:
    root = ET.fromstring(resp.content)
    return {child.tag: child.text or "" for child in root}


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_header_and_url_auth_round_trip(oss_emulator, oss_bucket, version):
    s = Signer(
        oss_emulator.endpoint,
        oss_emulator.access_key_id,
        oss_emulator.access_key_secret,
        version=version,
    )
    key = "auth/héllo wörld+1.txt"
    assert s.request("PUT", oss_bucket, key, data=b"data").status_code == 200
    assert requests.get(s.presign("GET", oss_bucket, key), timeout=10).content == b"data"
    put_url = s.presign("PUT", oss_bucket, "auth/presigned.bin")
    assert requests.put(put_url, data=b"xyz", timeout=10).status_code == 200

    wrong = Signer(
        oss_emulator.endpoint, oss_emulator.access_key_id, "not-the-secret", version=version
    )
    resp = wrong.request("GET", oss_bucket, key)
    err = _error(resp)
    assert resp.status_code == 403 and err["Code"] == "SignatureDoesNotMatch"
    assert f"/{oss_bucket}/" in (err.get("StringToSign", "") + err.get("CanonicalRequest", ""))
    assert ("CanonicalRequest" in err) == (version == "v4")
    assert err["RequestId"] == resp.headers["x-oss-request-id"]
    assert requests.get(wrong.presign("GET", oss_bucket, key), timeout=10).status_code == 403


def test_unknown_key_anonymous_and_bad_header(oss_emulator):
    unknown = Signer(oss_emulator.endpoint, "LTAINOPE", "x", version="v1")
    resp = unknown.request("GET", "test-bucket", None, [("uploads", None)])
    assert (resp.status_code, _error(resp)["Code"]) == (403, "InvalidAccessKeyId")
    resp = requests.get(f"{oss_emulator.endpoint}/test-bucket/?uploads", timeout=10)
    assert (resp.status_code, _error(resp)["Code"]) == (403, "AccessDenied")
    resp = requests.get(
        f"{oss_emulator.endpoint}/test-bucket/x", headers={"Authorization": "Bearer x"}, timeout=10
    )
    assert (resp.status_code, _error(resp)["Code"]) == (400, "InvalidArgument")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_clock_skew_limit_is_15_minutes(oss_emulator, version):
    s = Signer(
        oss_emulator.endpoint,
        oss_emulator.access_key_id,
        oss_emulator.access_key_secret,
        version=version,
    )
    ok = s.request("GET", "test-bucket", None, [("uploads", None)], when=time.time() - 14 * 60)
    assert ok.status_code == 200
    resp = s.request("GET", "test-bucket", None, [("uploads", None)], when=time.time() - 16 * 60)
    assert (resp.status_code, _error(resp)["Code"]) == (403, "RequestTimeTooSkewed")
    oss_emulator.set_clock_offset(20 * 60)  # the server's clock moved, not the client's
    try:
        resp = s.request("GET", "test-bucket", None, [("uploads", None)])
        assert _error(resp)["Code"] == "RequestTimeTooSkewed"
    finally:
        oss_emulator.set_clock_offset(0)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_sts_tokens(oss_emulator, version):
    ak, sk, token = oss_emulator.sts_credentials
    ep = oss_emulator.endpoint
    good = Signer(ep, ak, sk, token, version=version)
    assert good.request("GET", "test-bucket", None, [("uploads", None)]).status_code == 200
    assert requests.get(
        good.presign("GET", "test-bucket", None, [("uploads", None)]), timeout=10
    ).ok
    for signer, code in [
        (Signer(ep, ak, sk, None, version=version), "InvalidSecurityToken"),
        (Signer(ep, ak, sk, "forged-token", version=version), "InvalidSecurityToken"),
    ]:
        resp = signer.request("GET", "test-bucket", None, [("uploads", None)])
        assert _error(resp)["Code"] == code
    resp = Signer(ep, "SECOND", "s2", token, version=version)
    oss_emulator.set_credentials("SECOND", "s2", "other-token")
    err = _error(resp.request("GET", "test-bucket", None, [("uploads", None)]))
    assert err["Code"] == "AccessKeyIdAndSecurityTokenNotMatch"
    oss_emulator.expire_credentials(ak)
    try:
        resp = good.request("GET", "test-bucket", None, [("uploads", None)])
        assert _error(resp)["Code"] == "SecurityTokenExpired"
        assert token not in resp.text  # the token never comes back in an error
    finally:
        oss_emulator.expire_credentials(ak, False)
