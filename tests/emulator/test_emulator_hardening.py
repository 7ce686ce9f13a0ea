"""Emulator hardening over real HTTP: control endpoints refuse browser requests and requests
without ``X-OSS-Emulator-Control: 1``; no secrets on the command line; no secrets in the log."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests

from oss_provider.client.api import OSSClient
from oss_provider.client.errors import OSSError
from oss_provider.client.models import Credentials
from oss_provider.testing import CONTROL_HEADERS, CREDENTIALS_ENV, stop_process_group

EVIL = "https://evil.example"


def _control(srv, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """(status, JSON answer) of a raw control request with exactly these headers."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request(method, f"/_emulator/{path}", body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _client(srv, ak: str, sk: str, token: str | None = None, **kw) -> OSSClient:
    return OSSClient(srv.endpoint, Credentials(ak, sk, token), region=srv.region, **kw)


def _works(srv, ak: str, sk: str, bucket: str) -> bool:
    client = _client(srv, ak, sk, max_retries=0)
    try:
        client.put_object(bucket, "probe", b"x")
        return True
    except OSSError as exc:
        assert exc.status == 403, exc
        return False
    finally:
        client.close()


# ----------------------------------------------------------------- control endpoints


def test_cross_origin_simple_request_is_refused_and_has_no_effect(oss_emulator, oss_bucket):
    ak, sk = oss_emulator.access_key_id, oss_emulator.access_key_secret
    replace = json.dumps({"access_key_id": ak, "access_key_secret": "evil-secret"}).encode()
    # What a web page can send without a preflight: text/plain POST, Origin set by the browser.
    for headers in (
        {"Origin": EVIL, "Content-Type": "text/plain"},
        {"Origin": EVIL, "Content-Type": "text/plain", **CONTROL_HEADERS},
        {"Origin": "null", "Content-Type": "text/plain", **CONTROL_HEADERS},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain", **CONTROL_HEADERS},
        {"Sec-Fetch-Site": "same-origin", **CONTROL_HEADERS},
    ):
        status, answer = _control(oss_emulator, "POST", "credentials", replace, headers)
        assert status == 403, (headers, answer)
        assert answer["error"] == "Forbidden"
        assert "X-OSS-Emulator-Control: 1" in answer["message"]
    # The secret did not change: the fixture's key still signs, the page's secret does not.
    assert _works(oss_emulator, ak, sk, oss_bucket)
    assert not _works(oss_emulator, ak, "evil-secret", oss_bucket)

    # Nor can a page add its own key, move the clock, delete a bucket or read the stats.
    page = {"Origin": EVIL, "Content-Type": "text/plain"}
    add = json.dumps({"access_key_id": "LTAIEVILPAGE", "access_key_secret": "page"}).encode()
    assert _control(oss_emulator, "POST", "credentials", add, page)[0] == 403
    assert not _works(oss_emulator, "LTAIEVILPAGE", "page", oss_bucket)
    clock = json.dumps({"offset_seconds": 86400}).encode()
    assert _control(oss_emulator, "POST", "clock", clock, page)[0] == 403
    assert oss_emulator.admin("GET", "clock")["offset_seconds"] == 0
    assert _control(oss_emulator, "DELETE", f"buckets/{oss_bucket}", b"", page)[0] == 403
    assert _control(oss_emulator, "GET", "stats", b"", page)[0] == 403
    assert _control(oss_emulator, "OPTIONS", "credentials", b"", page)[0] == 403
    client = _client(oss_emulator, ak, sk)
    try:
        assert client.bucket_exists(oss_bucket)
    finally:
        client.close()


def test_control_request_without_the_custom_header_is_refused(oss_emulator, oss_bucket):
    body = json.dumps({"name": "made-without-header"}).encode()
    for headers in ({}, {"Content-Type": "application/json"}, {"X-OSS-Emulator-Control": "0"}):
        status, answer = _control(oss_emulator, "POST", "buckets", body, headers)
        assert status == 403
        assert answer["required_header"] == "X-OSS-Emulator-Control: 1"
        assert "X-OSS-Emulator-Control" in answer["message"]
    assert _control(oss_emulator, "GET", "health")[0] == 403
    client = _client(oss_emulator, oss_emulator.access_key_id, oss_emulator.access_key_secret)
    try:
        assert not client.bucket_exists("made-without-header")
    finally:
        client.close()
    # With the header (and no Origin) it works, as does the fixture's own admin().
    status, answer = _control(oss_emulator, "GET", "health", b"", CONTROL_HEADERS)
    assert (status, answer) == (200, {"ok": True})
    typed_url = {"Sec-Fetch-Site": "none", **CONTROL_HEADERS}  # not a web page's request
    assert _control(oss_emulator, "GET", "health", b"", typed_url)[0] == 200


def test_fixture_admin_calls_still_work(oss_emulator, oss_bucket):
    oss_emulator.reset_stats()
    assert oss_emulator.stats()["requests"] == {}
    oss_emulator.set_clock_offset(5)
    assert oss_emulator.admin("GET", "clock")["offset_seconds"] == 5
    oss_emulator.set_clock_offset(0)
    oss_emulator.set_credentials("LTAIHARDENING", "hardening-secret")
    assert _works(oss_emulator, "LTAIHARDENING", "hardening-secret", oss_bucket)
    oss_emulator.admin("POST", "credentials", {"access_key_id": "LTAIHARDENING", "remove": True})
    oss_emulator.fail_next(1, "503", "HeadBucket")
    oss_emulator.clear_faults()


def test_signed_oss_requests_with_an_origin_are_still_served(oss_emulator, oss_bucket):
    client = _client(oss_emulator, oss_emulator.access_key_id, oss_emulator.access_key_secret)
    try:
        client.put_object(oss_bucket, "cors.txt", b"cors")
        url = client.presign_url("GET", oss_bucket, "cors.txt")
    finally:
        client.close()
    resp = requests.get(url, headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, timeout=10)
    assert (resp.status_code, resp.content) == (200, b"cors")


# ----------------------------------------------------------------- secrets on the command line


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_fixture_process_has_no_secret_on_its_command_line(oss_emulator):
    assert oss_emulator._proc is not None
    cmdline = _cmdline(oss_emulator._proc.pid)
    assert b"oss_provider.emulator" in cmdline
    _, sts_sk, token = oss_emulator.sts_credentials
    for secret in (oss_emulator.access_key_secret, sts_sk, token):
        assert secret.encode() not in cmdline
    assert b"--credentials" not in cmdline


@contextmanager
def _emulator(tmp_path: Path, *args: str, env: dict | None = None) -> Iterator[tuple]:
    """A short-lived emulator on a free loopback port in its own process group: yields
    (endpoint, Popen, log path); stdout and stderr go to the log file."""
    log_path = tmp_path / "emulator.log"
    cmd = [sys.executable, "-m", "oss_provider.emulator", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--data-dir", str(tmp_path / "data"), "--bucket", "hardening", *args]
    child_env = {k: v for k, v in os.environ.items() if k != CREDENTIALS_ENV}
    child_env.update(env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        endpoint = None
        while endpoint is None:
            for line in log_path.read_text(errors="replace").splitlines():
                if "listening on " in line:
                    endpoint = line.rsplit("listening on ", 1)[1].strip()
            if endpoint is None:
                assert proc.poll() is None, log_path.read_text(errors="replace")
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.05)
        assert endpoint.startswith("http://127.0.0.1:")
        yield endpoint, proc, log_path
    finally:
        stop_process_group(proc)


def test_credentials_file(tmp_path):
    ak, sk = "LTAIFROMFILE", "file-secret-f00d"
    creds = tmp_path / "creds"
    creds.write_text(f"# emulator credentials\n{ak}:{sk}\nSTS.FILE:sts-file-secret:tok-file\n")
    creds.chmod(0o600)
    with _emulator(tmp_path, "--credentials-file", str(creds)) as (endpoint, proc, _):
        assert sk.encode() not in _cmdline(proc.pid)
        client = OSSClient(endpoint, Credentials(ak, sk), region="cn-hangzhou")
        sts = OSSClient(
            endpoint, Credentials("STS.FILE", "sts-file-secret", "tok-file"), region="cn-hangzhou"
        )
        try:
            client.put_object("hardening", "from-file", b"file")
            assert sts.get_object("hardening", "from-file") == b"file"
        finally:
            client.close()
            sts.close()


def test_missing_credentials_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != CREDENTIALS_ENV}
    cmd = [sys.executable, "-m", "oss_provider.emulator", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--data-dir", str(tmp_path / "data")]  # exits before it binds anything
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert CREDENTIALS_ENV in done.stderr and "--credentials-file" in done.stderr


# ----------------------------------------------------------------- secrets in the verbose log


def test_verbose_log_redacts_signatures_and_tokens(tmp_path):
    ak, sk = "LTAIVERBOSE", "verbose-secret"
    sts_ak, sts_sk, token = "STS.VERBOSE", "verbose-sts-secret", "verbose+sts/token=="
    spec = f"{ak}:{sk},{sts_ak}:{sts_sk}:{token}"
    with _emulator(tmp_path, "--verbose", env={CREDENTIALS_ENV: spec}) as (endpoint, proc, log):
        secrets = {token, quote(token, safe=""), sk, sts_sk}
        for version in ("v4", "v1"):
            client = OSSClient(
                endpoint,
                Credentials(sts_ak, sts_sk, token),
                region="cn-hangzhou",
                signature_version=version,
            )
            try:
                client.put_object("hardening", "presigned", b"secret data")
                url = client.presign_url("GET", "hardening", "presigned")
            finally:
                client.close()
            query = dict(parse_qsl(urlsplit(url).query))
            names = {n.lower() for n in query}
            assert names & {"x-oss-signature", "signature"}
            assert names & {"x-oss-security-token", "security-token"}
            for name, value in query.items():
                if name.lower() in {"x-oss-signature", "signature"}:
                    secrets |= {value, quote(value, safe="")}
            resp = requests.get(url, timeout=10)
            assert (resp.status_code, resp.content) == (200, b"secret data")
        stop_process_group(proc)  # everything written
        text = log.read_text(errors="replace")
    assert "GET /hardening/presigned?" in text  # the request lines are logged...
    assert "REDACTED" in text
    for secret in secrets:
        assert secret not in text  # ...without their signatures and tokens
    assert "x-oss-credential=" in text  # the access key id part stays readable
