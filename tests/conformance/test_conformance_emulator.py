"""What oss2's upstream tests and ali-oss need from the emulator (issue 19), over real HTTP:
tagging, object ACLs, ListBuckets paging, DeleteMultipleObjects, GetObjectMeta, the empty
live-channel listing, ``<Owner>`` in ListObjects, the V4 scope region, real-domain virtual hosts,
ListObjectsV2 paging and CopyObject directives. Requests are signed by the tests' own signer."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest

from tests import _emulator_signer as signer_module
from tests._emulator_signer import Signer, error_of, for_server

EXTRA_SUBS = {"tagging", "acl", "delete", "objectMeta", "live"}


@pytest.fixture(autouse=True)
def _v1_signs_new_subresources(monkeypatch):
    monkeypatch.setattr(signer_module, "V1_SUB", signer_module.V1_SUB | EXTRA_SUBS)


@pytest.fixture(params=["v1", "v4"])
def s(request, oss_emulator) -> Signer:
    return for_server(oss_emulator, request.param)


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _xml(resp):
    assert resp.status_code == 200, resp.text
    assert "xmlns" not in resp.text
    return ET.fromstring(resp.content)


def _put(s, bucket, key, data=b"x", headers=None):
    resp = s.request("PUT", bucket, key, [], headers or {}, data=data)
    assert resp.status_code == 200, resp.text
    return resp


# ----------------------------------------------------------------------------- 2. tagging


@pytest.mark.parametrize(
    "bad",
    ["=a&b=a", "a" * 129 + "=b", "a=" + "v" * 257, "a=b&a=b", "aa=bb=cc"]
    + ["&".join(f"k{i}=v" for i in range(11))],
)
def test_bad_tagging_is_refused_at_initiate_and_put(s, oss_bucket, bad):
    for params in ([("uploads", None)], []):
        method = "POST" if params else "PUT"
        resp = s.request(method, oss_bucket, "t", params, {"x-oss-tagging": bad}, data=b"x")
        assert resp.status_code == 400, resp.text
        assert error_of(resp)["Code"] == "InvalidTag"
    assert s.request("HEAD", oss_bucket, "t").status_code == 404


def test_tagging_kept_through_multipart_and_managed(s, oss_bucket):
    tags = quote("+:/", safe="") + "=" + quote(".-") + "&" + quote(" + ") + "=" + quote("中文")
    resp = s.request("POST", oss_bucket, "k", [("uploads", None)], {"x-oss-tagging": tags})
    uid = _xml(resp).findtext("UploadId")
    etag = signer_module.put_part(s, oss_bucket, "k", uid, 1, b"p" * 10).headers["ETag"]
    assert signer_module.complete(s, oss_bucket, "k", uid, [(1, etag)]).status_code == 200
    assert s.request("HEAD", oss_bucket, "k").headers["x-oss-tagging-count"] == "2"
    got = _xml(s.request("GET", oss_bucket, "k", [("tagging", None)]))
    pairs = {t.findtext("Key"): t.findtext("Value") for t in got.iter("Tag")}
    assert pairs == {"+:/": ".-", " + ": "中文"}
    body = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>"
    resp = s.request("PUT", oss_bucket, "k", [("tagging", None)], {"Content-MD5": _md5(body)}, body)
    assert resp.status_code == 200, resp.text
    assert s.request("HEAD", oss_bucket, "k").headers["x-oss-tagging-count"] == "1"
    assert s.request("DELETE", oss_bucket, "k", [("tagging", None)]).status_code == 204
    assert "x-oss-tagging-count" not in s.request("HEAD", oss_bucket, "k").headers
    assert _xml(s.request("GET", oss_bucket, "k", [("tagging", None)])).find("TagSet") is not None


# ----------------------------------------------------------------------------- 3. ACL


def test_object_acl_from_put_initiate_complete_and_put_acl(s, oss_bucket):
    def acl(key):
        return _xml(s.request("GET", oss_bucket, key, [("acl", None)])).findtext(
            "AccessControlList/Grant"
        )

    _put(s, oss_bucket, "plain")
    assert acl("plain") == "default"
    _put(s, oss_bucket, "priv", headers={"x-oss-object-acl": "private"})
    assert acl("priv") == "private"
    uid = signer_module.initiate(s, oss_bucket, "mp", {"x-oss-object-acl": "public-read"})
    signer_module.put_part(s, oss_bucket, "mp", uid, 1, b"x")
    resp = signer_module.complete(
        s, oss_bucket, "mp", uid, None, {"x-oss-complete-all": "yes", "x-oss-object-acl": "private"}
    )
    assert resp.status_code == 200, resp.text
    assert acl("mp") == "private"
    resp = s.request("PUT", oss_bucket, "mp", [("acl", None)], {"x-oss-object-acl": "public-read"})
    assert resp.status_code == 200 and acl("mp") == "public-read"
    bad = s.request("PUT", oss_bucket, "x", [], {"x-oss-object-acl": "everyone"}, data=b"x")
    assert bad.status_code == 400 and error_of(bad)["Code"] == "InvalidArgument"
    root = _xml(s.request("GET", oss_bucket, "mp", [("acl", None)]))
    assert root.tag == "AccessControlPolicy" and root.findtext("Owner/ID")


# ----------------------------------------------------------------------------- 4. ListBuckets


def test_list_buckets_prefix_marker_max_keys(s, oss_emulator):
    names = [f"lb-{i}-{s.version}" for i in range(3)]
    for n in names:
        oss_emulator.create_bucket(n)
    try:
        root = _xml(s.request("GET", None, None, [("prefix", "lb-"), ("max-keys", "2")]))
        got = [b.findtext("Name") for b in root.iter("Bucket")]
        assert got == sorted(n for n in names)[:2]
        assert root.findtext("IsTruncated") == "true" and root.findtext("NextMarker") == got[-1]
        root = _xml(
            s.request(
                "GET", None, None, [("prefix", "lb-"), ("marker", got[-1]), ("max-keys", "2")]
            )
        )
        assert [b.findtext("Name") for b in root.iter("Bucket")] == sorted(names)[2:]
        assert root.findtext("IsTruncated") == "false"
        root = _xml(s.request("GET", None, None, [("prefix", "nothing-")]))
        assert root.find("Buckets/Bucket") is None
    finally:
        for n in names:
            oss_emulator.remove_bucket(n)


# ----------------------------------------------------------------------------- 5. delete, meta


def test_delete_multiple_objects_verbose_quiet_and_md5(s, oss_bucket):
    for k in ("a", "b", "c/d"):
        _put(s, oss_bucket, k)

    def body(keys, quiet):
        objs = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
        return f"<Delete><Quiet>{quiet}</Quiet>{objs}</Delete>".encode()

    data = body(["a", "c/d", "missing"], "false")
    resp = s.request(
        "POST", oss_bucket, None, [("delete", None)], {"Content-MD5": _md5(data)}, data
    )
    assert [d.findtext("Key") for d in _xml(resp).iter("Deleted")] == ["a", "c/d", "missing"]
    data = body(["b"], "true")
    resp = s.request(
        "POST", oss_bucket, None, [("delete", None)], {"Content-MD5": _md5(data)}, data
    )
    assert _xml(resp).find("Deleted") is None
    assert s.request("HEAD", oss_bucket, "b").status_code == 404
    resp = s.request("POST", oss_bucket, None, [("delete", None)], {}, body(["x"], "false"))
    assert resp.status_code == 400 and error_of(resp)["EC"] == "0016-00000606"
    resp = s.request(
        "POST", oss_bucket, None, [("delete", None)], {"Content-MD5": _md5(b"other")}, data
    )
    assert error_of(resp)["Code"] == "InvalidDigest"


def test_get_object_meta(s, oss_bucket):
    put = _put(s, oss_bucket, "m", b"12345")
    resp = s.request("HEAD", oss_bucket, "m", [("objectMeta", None)])
    assert resp.status_code == 200
    assert resp.headers["ETag"] == put.headers["ETag"]
    assert resp.headers["Content-Length"] == "5" and resp.headers["Last-Modified"]
    assert s.request("HEAD", oss_bucket, "none", [("objectMeta", None)]).status_code == 404


# ----------------------------------------------------------------------------- 6. live channels


def test_empty_live_channel_listing(s, oss_bucket):
    root = _xml(s.request("GET", oss_bucket, None, [("live", None)]))
    assert root.tag == "ListLiveChannelResult"
    assert root.findtext("IsTruncated") == "false" and root.find("LiveChannel") is None
    resp = s.request("PUT", oss_bucket, "chan", [("live", None)], data=b"<x/>")
    assert resp.status_code == 501  # creating channels is not emulated


# ----------------------------------------------------------------------------- 7. Owner, V2


def test_list_objects_v1_has_owner_v2_only_with_fetch_owner(s, oss_bucket):
    _put(s, oss_bucket, "o")
    v1 = _xml(s.request("GET", oss_bucket, None, []))
    assert v1.find("Contents/Owner/ID") is not None
    assert v1.find("Contents/Owner/DisplayName") is not None
    v2 = _xml(s.request("GET", oss_bucket, None, [("list-type", "2")]))
    assert v2.find("Contents/Owner") is None
    v2 = _xml(s.request("GET", oss_bucket, None, [("list-type", "2"), ("fetch-owner", "true")]))
    assert v2.find("Contents/Owner/ID") is not None


def test_list_objects_v2_delimiter_start_after_token_max_keys(s, oss_bucket):
    for k in ("a/1", "a/2", "b", "c/x/y", "d"):
        _put(s, oss_bucket, k)
    seen, token = [], None
    while True:
        params = [("list-type", "2"), ("delimiter", "/"), ("max-keys", "2")]
        if token:
            params.append(("continuation-token", token))
        root = _xml(s.request("GET", oss_bucket, None, params))
        seen += [c.findtext("Key") for c in root.findall("Contents")]
        seen += [p.findtext("Prefix") for p in root.findall("CommonPrefixes")]
        assert int(root.findtext("KeyCount")) <= 2
        if root.findtext("IsTruncated") != "true":
            assert root.find("NextContinuationToken") is None
            break
        token = root.findtext("NextContinuationToken")
    assert sorted(seen) == ["a/", "b", "c/", "d"]
    root = _xml(s.request("GET", oss_bucket, None, [("list-type", "2"), ("start-after", "b")]))
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["c/x/y", "d"]
    assert root.findtext("StartAfter") == "b"


# ----------------------------------------------------------------------------- CopyObject


def test_copy_object_metadata_directive(s, oss_bucket):
    _put(s, oss_bucket, "src", b"data", {"x-oss-meta-a": "1", "Content-Type": "text/plain"})
    copy = {"x-oss-copy-source": f"/{oss_bucket}/src", "x-oss-meta-a": "2"}
    resp = s.request("PUT", oss_bucket, "same", [], copy)
    assert _xml(resp).tag == "CopyObjectResult"
    head = s.request("HEAD", oss_bucket, "same").headers
    assert head["x-oss-meta-a"] == "1" and head["Content-Type"] == "text/plain"
    resp = s.request("PUT", oss_bucket, "new", [], {**copy, "x-oss-metadata-directive": "REPLACE"})
    assert resp.status_code == 200
    head = s.request("HEAD", oss_bucket, "new").headers
    assert head["x-oss-meta-a"] == "2" and head["Content-Type"] != "text/plain"
    assert s.request("GET", oss_bucket, "new").content == b"data"
    resp = s.request("PUT", oss_bucket, "n2", [], {**copy, "x-oss-metadata-directive": "MOVE"})
    assert resp.status_code == 400 and error_of(resp)["Code"] == "InvalidArgument"


# ----------------------------------------------------------------------------- 8. V4 region


def test_v4_scope_region_must_be_the_emulators(oss_emulator, oss_bucket):
    wrong = Signer(
        oss_emulator.endpoint,
        oss_emulator.access_key_id,
        oss_emulator.access_key_secret,
        region="cn-beijing",
    )
    resp = wrong.request("GET", oss_bucket, None, [])
    assert resp.status_code == 400
    assert error_of(resp)["EC"] == "0002-00000228"
    url = wrong.presign("GET", oss_bucket, "k")
    resp = wrong.session.get(url)
    assert resp.status_code == 400 and error_of(resp)["EC"] == "0002-00000226"
    right = for_server(oss_emulator, "v4")
    assert right.request("GET", oss_bucket, None, []).status_code == 200


# ----------------------------------------------------------------------------- 9. real domains


@pytest.mark.parametrize(
    "suffix", ["oss-cn-hangzhou.aliyuncs.com", "oss-cn-hangzhou-internal.aliyuncs.com"]
)
def test_virtual_host_of_the_real_domain_to_the_ip_endpoint(s, oss_bucket, suffix):
    _put(s, oss_bucket, "dir/v.txt", b"vh")
    # sign as usual (bucket and key are the same), send with the bucket only in the Host
    signed = s.sign("GET", oss_bucket, "dir/v.txt", [], {})
    signed["Host"] = f"{oss_bucket}.{suffix}"
    resp = s.session.get(f"{s.endpoint}/dir/v.txt", headers=signed)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"vh"
    signed = s.sign("GET", oss_bucket, None, [], {})
    signed["Host"] = f"{oss_bucket}.{suffix}"
    root = _xml(s.session.get(f"{s.endpoint}/", headers=signed))
    assert root.findtext("Name") == oss_bucket
