"""Every V1 and V4 vector of oss-api.md sections 5-7, reproduced byte for byte."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from oss_provider.client.models import Credentials
from oss_provider.client.signing import (
    canonical_query,
    presign_params,
    sign_headers,
    v1_signature,
    v1_string_to_sign,
    v4_canonical_request,
    v4_signature,
    v4_string_to_sign,
)

AK = Credentials("ak", "sk")
STS = Credentials("ak", "sk", "token")
BUCKET, KEY, UID = "examplebucket", "dir/multipart.data", "0004B9895DBBB6EC98E36"
D = "Wed, 28 Dec 2022 10:27:41 GMT"
T_2022 = 1672223261.0  # = D
T_2024 = 1705305600.0  # 20240115T080000Z


def test_v1_official_doc_vector():
    sts = (
        "PUT\nODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=\ntext/html\nThu, 17 Nov 2005 18:49:58 GMT\n"
        "x-oss-magic:abracadabra\nx-oss-meta-author:foo@bar.com\n/oss-example/nelson"
    )
    headers = {
        "Content-MD5": "ODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=",
        "Content-Type": "text/html",
        "X-OSS-Meta-Author": "foo@bar.com",
        "X-OSS-Magic": "abracadabra",
    }
    built = v1_string_to_sign(
        "PUT", "oss-example", "nelson", [], headers, "Thu, 17 Nov 2005 18:49:58 GMT"
    )
    assert built == sts
    assert v1_signature("OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV", sts) == (
        "26NBxoKdsyly4EDv6inkoDft/yA="
    )


def test_v1_sdk_vector_x_oss_date_overrides_date():
    headers = {
        "Content-MD5": "eB5eJF1ptWaXm4bijSPyxw==",
        "Content-Type": "text/html",
        "x-oss-meta-author": "alice",
        "x-oss-meta-magic": "abracadabra",
        "x-oss-date": D,
    }
    sts = v1_string_to_sign("PUT", BUCKET, "nelson", [], headers, "ignored")
    assert sts == (
        f"PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\n{D}\nx-oss-date:{D}\n"
        "x-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/examplebucket/nelson"
    )
    assert v1_signature("sk", sts) == "kSHKmLxlyEAKtZPkJhG9bZb5k7M="


V1_MULTIPART = [
    ("POST", KEY, [("uploads", None)], {"Content-Type": "application/octet-stream"},
     "POST\n\napplication/octet-stream\nD\n/examplebucket/dir/multipart.data?uploads",
     "VAo+EkjU6hnt8RvYDdqzTcPltK8="),
    ("PUT", KEY, [("partNumber", "1"), ("uploadId", UID)], {"Content-MD5": "eB5eJF1ptWaXm4bijSPyxw=="},
     f"PUT\neB5eJF1ptWaXm4bijSPyxw==\n\nD\n/examplebucket/dir/multipart.data?partNumber=1&uploadId={UID}",
     "S+qqEOPMuhlJ1A+uKCl5LYK7B1w="),
    ("POST", KEY, [("uploadId", UID)], {"x-oss-forbid-overwrite": "true"},
     f"POST\n\n\nD\nx-oss-forbid-overwrite:true\n/examplebucket/dir/multipart.data?uploadId={UID}",
     "UNu+JJvKUIkPCLNwVROPcTmvRFY="),
    ("DELETE", KEY, [("uploadId", UID)], {},
     f"DELETE\n\n\nD\n/examplebucket/dir/multipart.data?uploadId={UID}",
     "wNsJAnwh9klwez6sPz66XdL2v0k="),
    ("GET", None, [("uploads", None), ("prefix", "dir/"), ("max-uploads", "2"), ("encoding-type", "url")], {},
     "GET\n\n\nD\n/examplebucket/?uploads", "SjUNekmfhc0uFY5QOMFi03UbDsA="),
    ("GET", KEY, [("uploadId", UID), ("max-parts", "1000"), ("part-number-marker", "2")], {},
     f"GET\n\n\nD\n/examplebucket/dir/multipart.data?uploadId={UID}", "2avUPA6kfqUUofLoGz3Rp+jRfQc="),
    ("PUT", KEY, [("partNumber", "2"), ("uploadId", UID)], {"x-oss-security-token": "token"},
     f"PUT\n\n\nD\nx-oss-security-token:token\n/examplebucket/dir/multipart.data?partNumber=2&uploadId={UID}",
     "YxMqFsT5WBwRZVspZQNH6sH/wGk="),
    ("PUT", "docs/hello world 中文.txt", [("partNumber", "3"), ("uploadId", "ABC")], {},
     "PUT\n\n\nD\n/examplebucket/docs/hello world 中文.txt?partNumber=3&uploadId=ABC",
     "6OKBvHUG7728E2wSDOa3Tj1OOOY="),
]  # fmt: skip


@pytest.mark.parametrize("method,key,params,headers,sts,sig", V1_MULTIPART)
def test_v1_multipart_vectors(method, key, params, headers, sts, sig):
    expected = sts.replace("\nD\n", f"\n{D}\n")
    assert v1_string_to_sign(method, BUCKET, key, params, headers, D) == expected
    assert v1_signature("sk", expected) == sig
    # the full header path gives the same Authorization
    creds = STS if "x-oss-security-token" in headers else AK
    plain = {k: v for k, v in headers.items() if k != "x-oss-security-token"}
    signed = sign_headers(method, BUCKET, key, params, plain, creds, version="v1", when=T_2022)
    assert signed["Date"] == D
    assert signed["Authorization"] == f"OSS ak:{sig}"


def _query(params) -> dict[str, str]:
    return {k: v for k, v in params}


@pytest.mark.parametrize(
    "method,params,creds,when,expires,signature",
    [
        ("GET", [], AK, 1705309200 - 3600, 3600, "E8CWOvCfyXO34AP5aImWY0eFCgQ%3D"),
        ("PUT", [("partNumber", "1"), ("uploadId", UID)], AK, 1705309200 - 3600, 3600,
         "dHthBcx%2FXIzzFv0Y4RmZ8ZyzT%2FA%3D"),
        ("PUT", [("partNumber", "1"), ("uploadId", UID)], STS, 1705306500 - 900, 900,
         "CA0jH4Mg2xfS7A2z3AiZV57WTlU%3D"),
    ],
)  # fmt: skip
def test_v1_presigned_vectors(method, params, creds, when, expires, signature):
    out = _query(
        presign_params(method, BUCKET, KEY, params, creds, version="v1", when=when, expires=expires)
    )
    assert out["Signature"] == unquote(signature)
    assert out["OSSAccessKeyId"] == "ak"
    if creds.security_token:
        assert out["security-token"] == "token"


def test_v1_presigned_sdk_vectors():
    out = _query(
        presign_params("GET", "bucket", "key", [("versionId", "versionId")], AK, version="v1",
                       when=1699807420 - 60, expires=60)
    )  # fmt: skip
    assert out["Signature"] == unquote("dcLTea%2BYh9ApirQ8o8dOPqtvJXQ%3D")
    out = _query(
        presign_params(
            "GET",
            "bucket",
            "key+123",
            [("versionId", "versionId")],
            STS,
            version="v1",
            when=1699808204 - 60,
            expires=60,
        )
    )
    assert out["Signature"] == unquote("jzKYRrM5y6Br0dRFPaTGOsbrDhY%3D")


# ----------------------------------------------------------------------------------------- V4

SDK_PARAMS = [
    ("param1", "value1"), ("+param1", "value3"), ("|param1", "value4"),
    ("+param2", None), ("|param2", None), ("param2", None),
]  # fmt: skip
SDK_HEADERS = {
    "x-oss-head1": "value",
    "abc": "value",
    "ZAbc": "value",
    "XYZ": "value",
    "content-type": "text/plain",
    "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
}


def test_v4_sdk_vector():
    headers = dict(SDK_HEADERS, **{"x-oss-date": "20231216T162057Z"})
    creq = v4_canonical_request("PUT", "bucket", "1234+-/123/1.txt", SDK_PARAMS, headers)
    assert creq == (
        "PUT\n/bucket/1234%2B-/123/1.txt\n"
        "%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n"
        "content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n"
        "x-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD"
    )
    sts = v4_string_to_sign(creq, "20231216T162057Z", "cn-hangzhou")
    assert sts.endswith("f4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4")
    sig = v4_signature("sk", sts, "20231216T162057Z", "cn-hangzhou")
    assert sig == "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
    signed = sign_headers(
        "PUT", "bucket", "1234+-/123/1.txt", SDK_PARAMS,
        {k: v for k, v in SDK_HEADERS.items() if k != "x-oss-content-sha256"},
        AK, region="cn-hangzhou", when=1702743657,
    )  # fmt: skip
    assert signed["Authorization"] == (
        f"OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature={sig}"
    )


def test_v4_sdk_vector_with_additional_headers():
    signed = sign_headers(
        "PUT", "bucket", "1234+-/123/1.txt", SDK_PARAMS,
        {k: v for k, v in SDK_HEADERS.items() if k != "x-oss-content-sha256"},
        AK, region="cn-hangzhou", when=1702747512, additional_headers=["ZAbc", "abc"],
    )  # fmt: skip
    assert signed["x-oss-date"] == "20231216T172512Z"
    assert signed["Authorization"] == (
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,"
        "AdditionalHeaders=abc;zabc,"
        "Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"
    )


def test_v4_initiate_vector_step_by_step():
    headers = {
        "Content-Type": "application/octet-stream",
        "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
        "x-oss-date": "20240115T080000Z",
    }
    creq = v4_canonical_request("POST", BUCKET, KEY, [("uploads", None)], headers)
    assert creq == (
        "POST\n/examplebucket/dir/multipart.data\nuploads\n"
        "content-type:application/octet-stream\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n"
        "x-oss-date:20240115T080000Z\n\n\nUNSIGNED-PAYLOAD"
    )
    sts = v4_string_to_sign(creq, "20240115T080000Z", "cn-hangzhou")
    assert sts == (
        "OSS4-HMAC-SHA256\n20240115T080000Z\n20240115/cn-hangzhou/oss/aliyun_v4_request\n"
        "adc25a73b2699fba1b2c62167068dd583575b713e66456e35de8d86d6cafa9aa"
    )
    assert v4_signature("sk", sts, "20240115T080000Z", "cn-hangzhou") == (
        "a918e7b257bc05c22eae660bdcd14b516d186c181f48e045897b806e1469810c"
    )


V4_MULTIPART = [
    ("PUT", KEY, [("partNumber", "1"), ("uploadId", UID)], {"Content-MD5": "eB5eJF1ptWaXm4bijSPyxw=="}, AK,
     f"partNumber=1&uploadId={UID}", "a7c0dc23f3ae54af291f38d86a559e9a934ff12bc2938acc1a36c450a029e046"),
    ("POST", KEY, [("uploadId", UID)], {"x-oss-forbid-overwrite": "true"}, AK,
     f"uploadId={UID}", "e9f23f29acbbe9edf7d59727c8ebf062e005db5268ef059e7700612320a88f12"),
    ("DELETE", KEY, [("uploadId", UID)], {}, AK,
     f"uploadId={UID}", "137f9bb0d7535e8761aeb9fa5a1af4094c4b1460ca65037889903c3f7150e1d3"),
    ("GET", None, [("uploads", None), ("prefix", "dir/"), ("max-uploads", "2"), ("encoding-type", "url")], {}, AK,
     "encoding-type=url&max-uploads=2&prefix=dir%2F&uploads",
     "a174623782c02ac5f91b88068d54df6d970d81531f205f2b11d0371edeecb588"),
    ("GET", KEY, [("uploadId", UID), ("max-parts", "1000"), ("part-number-marker", "2")], {}, AK,
     f"max-parts=1000&part-number-marker=2&uploadId={UID}",
     "542c5565c4cdba68f113421aebc4d5afadba8ca14de8eab1f27921bbf2b03ad3"),
    ("PUT", KEY, [("partNumber", "2"), ("uploadId", UID)], {}, STS,
     f"partNumber=2&uploadId={UID}", "162393cb7cbabf486c39044e1cf9a1fd914897321f13249ed83ef3792d58f461"),
    ("PUT", "docs/hello world 中文.txt", [("partNumber", "3"), ("uploadId", "ABC")], {}, AK,
     "partNumber=3&uploadId=ABC", "bc1a889bc140399f7867c0e31952fae79527f7e11839b465a6dd827bcf3f6913"),
]  # fmt: skip


@pytest.mark.parametrize("method,key,params,headers,creds,query,sig", V4_MULTIPART)
def test_v4_multipart_vectors(method, key, params, headers, creds, query, sig):
    assert canonical_query(params) == query
    signed = sign_headers(
        method, BUCKET, key, params, headers, creds, region="cn-hangzhou", when=T_2024
    )
    assert signed["Authorization"] == (
        f"OSS4-HMAC-SHA256 Credential=ak/20240115/cn-hangzhou/oss/aliyun_v4_request,Signature={sig}"
    )
    if creds.security_token:
        assert signed["x-oss-security-token"] == "token"


def test_v4_canonical_uri_of_non_ascii_key():
    creq = v4_canonical_request("PUT", BUCKET, "docs/hello world 中文.txt", [], {})
    assert creq.split("\n")[1] == "/examplebucket/docs/hello%20world%20%E4%B8%AD%E6%96%87.txt"


@pytest.mark.parametrize(
    "method,params,creds,expires,sig",
    [
        ("GET", [], AK, 3600, "a4ea236c6d29e9938ef578f315fc8b0273359e66b4565664d9e23892dd46e485"),
        ("PUT", [("partNumber", "1"), ("uploadId", UID)], AK, 3600,
         "6489fa9e3a5676a7885a4652096ab2362488b48d9d732184078fefa4dc662c1a"),
        ("PUT", [("partNumber", "1"), ("uploadId", UID)], STS, 900,
         "fd081432bc0df0efc8c976adb3da7dcd57225be4c05496f1e771c2701f425fae"),
    ],
)  # fmt: skip
def test_v4_presigned_vectors(method, params, creds, expires, sig):
    out = presign_params(
        method, BUCKET, KEY, params, creds, region="cn-hangzhou", when=T_2024, expires=expires
    )
    query = _query(out)
    assert query["x-oss-signature"] == sig
    assert query["x-oss-credential"] == "ak/20240115/cn-hangzhou/oss/aliyun_v4_request"
    if not params and not creds.security_token:
        assert canonical_query(out[:-1]) == (
            "x-oss-credential=ak%2F20240115%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&"
            "x-oss-date=20240115T080000Z&x-oss-expires=3600&x-oss-signature-version=OSS4-HMAC-SHA256"
        )


def test_v4_presign_refuses_more_than_seven_days():
    with pytest.raises(ValueError, match="7 days"):
        presign_params(
            "GET", BUCKET, KEY, [], AK, region="cn-hangzhou", when=T_2024, expires=604801
        )


def test_credentials_repr_hides_secret_and_token():
    assert "sk" not in repr(Credentials("ak", "sk-secret", "tok-secret")).replace("ask", "")
    assert "secret" not in repr(Credentials("ak", "sk-secret", "tok-secret"))
