"""The pytest plugin's fixtures: what users' own tests get from ``oss_provider.testing``."""

from __future__ import annotations

import json
import os

import pytest
from _emulator_signer import for_server


def test_emulator_fixture_and_conn_env(oss_emulator, oss_conn_env):
    assert oss_emulator.running and oss_emulator.endpoint.startswith("http://127.0.0.1:")
    assert oss_emulator.access_key_secret not in repr(oss_emulator)
    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_MULTIPART_DEFAULT"])
    assert conn == json.loads(oss_conn_env)
    assert (conn["conn_type"], conn["host"], conn["login"]) == (
        "oss_multipart",
        oss_emulator.endpoint,
        oss_emulator.access_key_id,
    )
    s = for_server(oss_emulator)
    assert s.request("GET", conn["extra"]["bucket_name"], None, [("uploads", None)]).ok


def test_bucket_fixture_is_fresh_and_removed(oss_emulator, oss_bucket):
    s = for_server(oss_emulator)
    assert "<Upload>" not in s.request("GET", oss_bucket, None, [("uploads", None)]).text
    s.request("POST", oss_bucket, "left/behind", [("uploads", None)])  # removed with the bucket
    assert s.request("PUT", oss_bucket, "obj", data=b"1").ok


def test_oss_client_fixture_round_trip(request, oss_bucket):
    pytest.importorskip("oss_provider.client.api")  # written in parallel by the client helper
    oss_client = request.getfixturevalue("oss_client")
    upload_id = oss_client.start_multipart_upload(oss_bucket, "fx/a.bin").upload_id
    part = oss_client.upload_part(oss_bucket, "fx/a.bin", upload_id, 1, b"hello")
    done = oss_client.complete_multipart_upload(oss_bucket, "fx/a.bin", upload_id, [part])
    assert done.etag.endswith("-1")
    assert oss_client.get_object(oss_bucket, "fx/a.bin") == b"hello"
