"""Emulator listings: ListMultipartUploads markers/delimiter/caps/encoding, ListParts, ListObjectsV2."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from _emulator_signer import error_of, for_server, initiate, put_part


@pytest.fixture
def s(oss_emulator):
    return for_server(oss_emulator, version="v1")


def _list(s, bucket, **params):
    query = [("uploads", None)] + [(k.replace("_", "-"), v) for k, v in params.items()]
    resp = s.request("GET", bucket, None, query)
    assert resp.status_code == 200, resp.text
    return ET.fromstring(resp.content)


def _uploads(root):
    return [(u.findtext("Key"), u.findtext("UploadId")) for u in root.findall("Upload")]


def test_upload_listing_order_markers_and_element_order(s, oss_bucket):
    ids = {k: [initiate(s, oss_bucket, k) for _ in range(2)] for k in ("b", "a", "c")}
    root = _list(s, oss_bucket)
    assert [child.tag for child in root][:9] == [
        "Bucket", "KeyMarker", "UploadIdMarker", "NextKeyMarker", "NextUploadIdMarker",
        "Delimiter", "Prefix", "MaxUploads", "IsTruncated",
    ]  # fmt: skip
    expected = [(k, i) for k in ("a", "b", "c") for i in ids[k]]
    assert _uploads(root) == expected  # by key, then by initiation
    assert root.find("Upload/Initiated").text.endswith(".000Z")
    # key-marker only: keys strictly after; with upload-id-marker: same key, later ids too
    assert _uploads(_list(s, oss_bucket, key_marker="a")) == expected[2:]
    assert (
        _uploads(_list(s, oss_bucket, key_marker="a", upload_id_marker=ids["a"][0])) == expected[1:]
    )
    assert _uploads(_list(s, oss_bucket, upload_id_marker=ids["a"][0])) == expected  # ignored alone
    # oss2 sends every parameter, empty when unset
    empty = _list(
        s, oss_bucket, prefix="", delimiter="", key_marker="", upload_id_marker="", max_uploads=""
    )
    assert _uploads(empty) == expected
    # paging by 4 walks everything exactly once
    seen, km, im = [], "", ""
    while True:
        page = _list(s, oss_bucket, max_uploads="4", key_marker=km, upload_id_marker=im)
        seen += _uploads(page)
        km, im = page.findtext("NextKeyMarker"), page.findtext("NextUploadIdMarker")
        if page.findtext("IsTruncated") == "false":
            break
    assert seen == expected


def test_delimiter_prefixes_count_against_max_uploads(s, oss_bucket):
    for key in ("dir/x", "dir/y", "dir/sub/z", "top", "zz/1"):
        initiate(s, oss_bucket, key)
    root = _list(s, oss_bucket, delimiter="/", max_uploads="2")
    assert [p.text for p in root.findall("CommonPrefixes/Prefix")] == ["dir/"]
    assert _uploads(root)[0][0] == "top"
    assert root.findtext("IsTruncated") == "true"
    assert (root.findtext("NextKeyMarker"), root.findtext("MaxUploads")) == ("top", "2")
    rest = _list(
        s,
        oss_bucket,
        delimiter="/",
        key_marker="top",
        upload_id_marker=root.findtext("NextUploadIdMarker"),
    )
    assert [p.text for p in rest.findall("CommonPrefixes/Prefix")] == ["zz/"]
    assert rest.findtext("IsTruncated") == "false"
    sub = _list(s, oss_bucket, prefix="dir/", delimiter="/")
    assert [k for k, _ in _uploads(sub)] == ["dir/x", "dir/y"]
    assert [p.text for p in sub.findall("CommonPrefixes/Prefix")] == ["dir/sub/"]
    # a page that ends on a common prefix continues after it
    first = _list(s, oss_bucket, delimiter="/", max_uploads="1")
    assert first.findtext("NextKeyMarker") == "dir/" and first.findtext("NextUploadIdMarker") == ""
    after = _list(s, oss_bucket, delimiter="/", max_uploads="1", key_marker="dir/")
    assert _uploads(after)[0][0] == "top"


def test_caps_invalid_values_and_url_encoding(s, oss_bucket):
    initiate(s, oss_bucket, "文件/a b+c.txt")
    assert _list(s, oss_bucket, max_uploads="5000").findtext("MaxUploads") == "1000"
    resp = s.request("GET", oss_bucket, None, [("uploads", None), ("max-uploads", "x")])
    assert error_of(resp)["Code"] == "InvalidArgument"
    root = _list(s, oss_bucket, encoding_type="url", prefix="文件/")
    assert root.findtext("EncodingType") == "url"
    assert root.findtext("Upload/Key") == "%E6%96%87%E4%BB%B6%2Fa%20b%2Bc.txt"
    assert root.findtext("Prefix") == "%E6%96%87%E4%BB%B6%2F"
    assert _list(s, oss_bucket).find("EncodingType") is None
    resp = s.request(
        "GET", oss_bucket, None, [("uploads", ""), ("encoding-type", "url")]
    )  # uploads=
    assert resp.ok


def test_list_parts_paging(s, oss_bucket):
    uid = initiate(s, oss_bucket, "p.bin")
    for n in (1, 3, 5, 7, 9):
        put_part(s, oss_bucket, "p.bin", uid, n, b"x" * n)
    params = [("uploadId", uid), ("max-parts", "2"), ("part-number-marker", "3")]
    root = ET.fromstring(s.request("GET", oss_bucket, "p.bin", params).content)
    assert [p.findtext("PartNumber") for p in root.findall("Part")] == ["5", "7"]
    assert (root.findtext("NextPartNumberMarker"), root.findtext("IsTruncated")) == ("7", "true")
    assert [c.tag for c in root.find("Part")] == [
        "PartNumber",
        "LastModified",
        "ETag",
        "HashCrc64ecma",
        "Size",
    ]
    last = s.request(
        "GET",
        oss_bucket,
        "p.bin",
        [("uploadId", uid), ("part-number-marker", "7"), ("max-parts", "9999")],
    )
    root = ET.fromstring(last.content)
    assert (
        root.findtext("MaxParts"),
        root.findtext("IsTruncated"),
        root.findtext("NextPartNumberMarker"),
    ) == ("1000", "false", "9")
    empty = s.request("GET", oss_bucket, "p.bin", [("uploadId", uid), ("part-number-marker", "")])
    assert ET.fromstring(empty.content).findtext("PartNumberMarker") == "0"


def test_list_objects_v2(s, oss_bucket):
    for key in ("a/1", "a/2", "b", "c/d/e"):
        assert s.request("PUT", oss_bucket, key, data=key.encode()).ok
    params = [("list-type", "2"), ("delimiter", "/"), ("max-keys", "2")]
    root = ET.fromstring(s.request("GET", oss_bucket, None, params).content)
    assert [p.text for p in root.findall("CommonPrefixes/Prefix")] == ["a/"]
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["b"]
    assert root.findtext("IsTruncated") == "true" and root.findtext("KeyCount") == "2"
    token = root.findtext("NextContinuationToken")
    root = ET.fromstring(
        s.request("GET", oss_bucket, None, params + [("continuation-token", token)]).content
    )
    assert [p.text for p in root.findall("CommonPrefixes/Prefix")] == ["c/"]
    assert root.findtext("IsTruncated") == "false"
    root = ET.fromstring(
        s.request("GET", oss_bucket, None, [("list-type", "2"), ("prefix", "a/")]).content
    )
    assert [c.findtext("Size") for c in root.findall("Contents")] == ["3", "3"]
