"""OSSMultipartHook and provider registration, against the emulator and the real airflow CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from oss_provider._compat import AirflowFailException
from oss_provider.hooks.oss_multipart import OSSMultipartHook, OSSPermanentError

AIRFLOW = os.path.join(os.path.dirname(sys.executable), "airflow")


def _airflow(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AIRFLOW, *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_provider_shows_up_in_the_cli():
    out = _airflow("providers", "list").stdout
    assert "airflow-provider-oss-multipart" in out
    full = _airflow(
        "providers", "get", "airflow-provider-oss-multipart", "--full", "-o", "json"
    ).stdout
    assert "oss_multipart" in full
    hooks = _airflow("providers", "hooks").stdout
    assert "OSSMultipartHook" in hooks and "oss_multipart" in hooks
    widgets = _airflow("providers", "widgets").stdout
    assert "extra__oss_multipart__region" in widgets
    assert "oss_multipart" in _airflow("providers", "behaviours").stdout


def test_get_provider_info_is_cheap():
    code = "import sys, oss_provider; oss_provider.get_provider_info(); print('airflow' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_hook_round_trip(oss_emulator, oss_conn_env):
    hook = OSSMultipartHook()
    uid = hook.initiate_multipart_upload("hook/obj")
    part = hook.upload_part("oss://test-bucket/hook/obj", uid, 1, b"hello")
    assert [p.part_number for p in hook.iter_parts("hook/obj", uid)] == [1]
    assert any(u.upload_id == uid for u in hook.iter_multipart_uploads(prefix="hook/"))
    done = hook.complete_multipart_upload("hook/obj", uid, [part.to_dict()])
    assert done.size == 5
    assert hook.abort_multipart_upload("hook/obj", uid) is False
    assert hook.get_client() is hook.get_client()


def test_errors_keep_code_and_do_not_retry_permanent(oss_emulator, oss_conn_env):
    hook = OSSMultipartHook()
    with pytest.raises(OSSPermanentError) as err:
        hook.initiate_multipart_upload("k", bucket_name="no-such-bucket-x")
    assert err.value.code == "NoSuchBucket" and err.value.request_id
    assert "oss_multipart_default" in str(err.value)


def test_missing_connection_and_bucket(monkeypatch):
    with pytest.raises(AirflowFailException, match="does not exist"):
        OSSMultipartHook("no_such_conn").get_client()
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOBUCKET",
        json.dumps(
            {
                "conn_type": "oss_multipart",
                "host": "http://127.0.0.1:1",
                "login": "a",
                "password": "b",
            }
        ),
    )
    with pytest.raises(AirflowFailException, match="bucket_name"):
        OSSMultipartHook("nobucket").get_bucket_name()


@pytest.mark.parametrize(
    ("conn", "message"),
    [
        ({"host": "https://oss.mycorp.example"}, "'bad': cannot tell the region.*'region' extra"),
        ({"host": "ht!tp://exa mple"}, "'bad': endpoint 'ht!tp://exa mple' is not usable"),
        ({"host": "oss-cn-hangzhou.aliyuncs.com", "extra": {"signature_version": "v2"}},
         "'bad': signature_version must be 'v4' or 'v1'"),
        ({"host": "oss-cn-hangzhou.aliyuncs.com", "login": None}, "'bad' has no AccessKey ID"),
        ({"host": None}, "'bad' has neither an endpoint \\(host\\) nor a region"),
        ({"host": "oss-cn-hangzhou.aliyuncs.com", "extra": {"read_timeout": "soon"}},
         "'bad': extra 'read_timeout' must be a finite number of seconds > 0, got 'soon'"),
    ],
)  # fmt: skip
def test_bad_connections_name_the_connection_and_the_field(monkeypatch, conn, message):
    monkeypatch.delenv("OSS_ACCESS_KEY_ID", raising=False)
    full = {"conn_type": "oss_multipart", "login": "a", "password": "b", **conn}
    monkeypatch.setenv("AIRFLOW_CONN_BAD", json.dumps({k: v for k, v in full.items() if v}))
    with pytest.raises(AirflowFailException, match=message):
        OSSMultipartHook("bad").get_client()


def test_region_endpoint_alibaba_extras_and_env_fallback(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALI",
        json.dumps(
            {
                "conn_type": "oss",
                "extra": {
                    "region": "cn-shanghai",
                    "access_key_id": "AKID",
                    "access_key_secret": "SECRET-VALUE",
                },
            }
        ),
    )
    client = OSSMultipartHook("ali").get_client()
    assert (
        client.endpoint == "https://oss-cn-shanghai.aliyuncs.com" and client.region == "cn-shanghai"
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_INTERNAL",
        json.dumps(
            {"conn_type": "oss_multipart", "extra": {"region": "cn-beijing", "internal": True}}
        ),
    )
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "ENVID")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "ENVSECRET")
    hook = OSSMultipartHook("internal")
    assert hook.get_client().endpoint == "https://oss-cn-beijing-internal.aliyuncs.com"
    assert hook.settings.credentials.access_key_id == "ENVID"
    assert "ENVSECRET" not in repr(hook.settings)


def test_test_connection(oss_emulator, oss_conn_env, monkeypatch):
    ok, message = OSSMultipartHook().test_connection()
    assert ok, message
    bad = json.loads(oss_conn_env)
    bad["password"] = "wrong-secret-value"
    monkeypatch.setenv("AIRFLOW_CONN_BAD", json.dumps(bad))
    ok, message = OSSMultipartHook("bad").test_connection()
    assert (
        not ok
        and message.startswith("SignatureDoesNotMatch:")
        and "wrong-secret-value" not in message
    )


def test_airflow_connections_test_cli(oss_emulator, oss_conn_env):
    env = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    result = _airflow("connections", "test", "oss_multipart_default", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "success" in (result.stdout + result.stderr).lower()


def test_lifecycle_rule_keeps_other_rules(oss_emulator, oss_conn_env, oss_bucket):
    hook = OSSMultipartHook()
    client = hook.get_client()
    client.put_bucket_lifecycle(
        oss_bucket, [{"id": "logs", "prefix": "logs/", "status": "Enabled", "expiration_days": 30}]
    )
    assert hook.ensure_abort_multipart_lifecycle(3, bucket_name=oss_bucket)["changed"] is True
    assert hook.ensure_abort_multipart_lifecycle(3, bucket_name=oss_bucket)["changed"] is False
    rules = {r["id"]: r for r in client.get_bucket_lifecycle(oss_bucket)}
    assert rules["logs"]["expiration_days"] == 30
    assert rules["oss-provider-abort-multipart"]["abort_multipart_upload_days"] == 3
