"""When things go wrong: random faults, expiring STS credentials, bad input, secrets in failures.

Each test drives the real emulator over HTTP. Random faults come from the emulator's seeded fault
rate (503, 500, a reset in the middle of a body, a slow answer; at Complete also a lost answer).
"""

from __future__ import annotations

import io
import json
import random
import secrets

import pytest

from oss_provider.cleanup import abort_stale_uploads
from oss_provider.client.api import OSSClient
from oss_provider.client.checksums import crc64
from oss_provider.client.errors import NoSuchUpload, OSSTransportError, SecurityTokenExpired
from oss_provider.client.limits import MAX_PARTS
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.client.models import Credentials
from oss_provider.transfer import upload as transfer
from oss_provider.transfer.ownership import RECORD_PART_NUMBERS
from oss_provider.transfer.progress import TransferProgress

pytestmark = pytest.mark.timeout(180)


def _data(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _uploads(client, bucket, key=None):
    return [u for u in client.iter_multipart_uploads(bucket) if key is None or u.key == key]


def _count(emulator, operation: str) -> int:
    return emulator.stats()["requests"].get(operation, 0)


class OneWayStream(io.RawIOBase):
    """A pipe-like body: readable once, in order, not seekable."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        return self._inner.readinto(buffer)


def _client(emulator, credentials=None, **kw) -> OSSClient:
    creds = credentials or Credentials(emulator.access_key_id, emulator.access_key_secret)
    return OSSClient(emulator.endpoint, creds, region=emulator.region, **kw)


def _add_sts(emulator) -> Credentials:
    creds = Credentials(
        f"STS.{secrets.token_hex(6)}", secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    )
    emulator.set_credentials(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return creds


def _remove(emulator, creds: Credentials) -> None:
    emulator.admin("POST", "credentials", {"access_key_id": creds.access_key_id, "remove": True})


# ----------------------------------------------------------------------------- random faults


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_upload_under_a_ten_percent_fault_rate_is_byte_identical(
    oss_emulator, oss_client, oss_bucket, tmp_path, kind
):
    parts = 24
    data = _data(parts * P - 321, seed=3)
    if kind == "file":
        source = tmp_path / "source.bin"
        source.write_bytes(data)
    else:
        source = OneWayStream(data)
    snapshots = []
    progress = TransferProgress(len(data), interval=0, callback=snapshots.append)
    injected_before = oss_emulator.stats()["faults_injected"]
    oss_emulator.set_fault_rate(0.10, seed=20261201)
    try:
        done = transfer.upload(
            oss_client, oss_bucket, "faulty.bin", source, part_size=P, concurrency=4,
            progress=progress, expected_size=len(data),
        )  # fmt: skip
    finally:
        oss_emulator.set_fault_rate(0.0)
    assert oss_emulator.stats()["faults_injected"] - injected_before >= 3  # they did happen

    head = oss_client.head_object(oss_bucket, "faulty.bin")
    assert head.size == len(data) and head.crc64 == done.crc64 == crc64(data)
    assert head.etag.endswith(f"-{parts}")  # every planned part once: none missing, none twice
    assert oss_client.get_object(oss_bucket, "faulty.bin") == data
    assert _uploads(oss_client, oss_bucket) == []
    # progress counts a part once, when it is acknowledged: never above the total, never back
    assert all(s.done <= len(data) for s in snapshots)
    assert [s.done for s in snapshots] == sorted(s.done for s in snapshots)
    assert [s.parts_done for s in snapshots] == sorted(s.parts_done for s in snapshots)
    assert snapshots[-1].sent == len(data) and snapshots[-1].parts_done == parts


def test_cleanup_under_random_abort_faults_reports_exactly_the_failed_ones(
    oss_emulator, oss_bucket
):
    client = _client(oss_emulator, max_retries=0)  # every fault becomes a failed abort
    try:
        keys = [f"tmp/{i:02d}.bin" for i in range(40)]
        for key in keys:
            client.start_multipart_upload(oss_bucket, key)
        oss_emulator.set_clock_offset(700)
        oss_emulator.set_fault_rate(0.4, seed=7, operation="AbortMultipartUpload")
        try:
            report = abort_stale_uploads(
                client, oss_bucket, older_than="10m", concurrency=8, retries=0
            )
        finally:
            oss_emulator.set_fault_rate(0.0)
        failed = {(r["key"], r["upload_id"]) for r in report.failed_rows}
        still_there = {(u.key, u.upload_id) for u in _uploads(client, oss_bucket)}
        assert 0 < len(failed) < len(keys), report.summary()
        assert failed == still_there  # no failure hidden, no success invented
        assert report.counts["aborted"] + report.counts["failed"] == len(keys)
        assert not report.ok

        again = abort_stale_uploads(client, oss_bucket, older_than="10m")
        assert again.ok and again.counts["aborted"] == len(failed)
        assert _uploads(client, oss_bucket) == []
    finally:
        client.close()


# ------------------------------------------------------------------- credentials expiring


def test_sts_token_expiring_mid_upload_then_refreshed_continues_the_same_upload(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    data = _data(12 * P + 99, seed=5)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    first = _add_sts(oss_emulator)
    current = {"creds": first}
    client = _client(oss_emulator, lambda: current["creds"])

    def expire_after_three_parts(snapshot):
        if snapshot.parts_done == 3:
            oss_emulator.expire_credentials(first.access_key_id)

    refreshed = None
    try:
        progress = TransferProgress(len(data), interval=0, callback=expire_after_three_parts)
        with pytest.raises(SecurityTokenExpired, match="refresh the temporary credentials") as err:
            transfer.upload(
                client, oss_bucket, "sts.bin", source, part_size=P, concurrency=2,
                progress=progress,
            )  # fmt: skip
        text = f"{err.value} {err.value!r}"
        assert first.access_key_secret not in text and first.security_token not in text
        assert err.value.code == "SecurityTokenExpired" and err.value.request_id

        (upload,) = _uploads(oss_client, oss_bucket, "sts.bin")  # kept for a resume
        stored = [
            p
            for p in oss_client.iter_parts(oss_bucket, "sts.bin", upload.upload_id)
            if p.part_number not in RECORD_PART_NUMBERS
        ]
        assert 3 <= len(stored) <= 3 + 2  # it stopped at once: at most the parts in flight

        refreshed = _add_sts(oss_emulator)
        current["creds"] = refreshed
        oss_emulator.reset_stats()
        done = transfer.upload(client, oss_bucket, "sts.bin", source, part_size=P, concurrency=2)
        assert _count(oss_emulator, "InitiateMultipartUpload") == 0  # the same upload id
        assert _count(oss_emulator, "UploadPart") == 13 - len(stored)  # nothing sent twice
        assert done.crc64 == crc64(data)
        assert oss_client.get_object(oss_bucket, "sts.bin") == data
    finally:
        client.close()
        for creds in (first, refreshed):
            if creds is not None:
                _remove(oss_emulator, creds)


# ------------------------------------------------------------------------------ bad input


def _assert_nothing_started(emulator, client, bucket, key, initiated_before):
    assert _count(emulator, "InitiateMultipartUpload") == initiated_before
    assert _uploads(client, bucket, key) == []


@pytest.mark.parametrize(
    ("part_size", "message"),
    [(P - 1, "below OSS's minimum of 100 KiB"), (5 * 1024**3 + 1, "above OSS's maximum of 5 GiB")],
)
def test_bad_part_size_changes_nothing(
    oss_emulator, oss_client, oss_bucket, tmp_path, part_size, message
):
    oss_client.put_object(oss_bucket, "keep.bin", b"the old object")
    source = tmp_path / "s.bin"
    source.write_bytes(_data(3 * P, seed=1))
    before = _count(oss_emulator, "InitiateMultipartUpload")
    with pytest.raises(ValueError, match=message):
        transfer.upload(oss_client, oss_bucket, "keep.bin", source, part_size=part_size)
    _assert_nothing_started(oss_emulator, oss_client, oss_bucket, "keep.bin", before)
    assert oss_client.get_object(oss_bucket, "keep.bin") == b"the old object"


def test_source_needing_more_than_10000_parts_is_refused_before_it_starts(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    source = tmp_path / "sparse.bin"
    with open(source, "wb") as f:
        f.truncate(MAX_PARTS * P + 1)  # sparse: 977 MiB that take no disk
    before = _count(oss_emulator, "InitiateMultipartUpload")
    with pytest.raises(ValueError, match="needs 10,001 parts, but at most 9,998 fit"):
        transfer.upload(oss_client, oss_bucket, "big.bin", source, part_size=P)
    _assert_nothing_started(oss_emulator, oss_client, oss_bucket, "big.bin", before)


def test_missing_source_starts_nothing(oss_emulator, oss_client, oss_bucket, tmp_path):
    before = _count(oss_emulator, "InitiateMultipartUpload")
    with pytest.raises(FileNotFoundError, match="does not exist; check the path"):
        transfer.upload(oss_client, oss_bucket, "m.bin", tmp_path / "missing.bin")
    _assert_nothing_started(oss_emulator, oss_client, oss_bucket, "m.bin", before)


@pytest.mark.parametrize("kind", ["file", "bytes", "stream"])
def test_empty_source_gives_a_valid_empty_object(oss_client, oss_bucket, tmp_path, kind):
    source = {"file": tmp_path / "empty.bin", "bytes": b"", "stream": OneWayStream(b"")}[kind]
    if kind == "file":
        source.write_bytes(b"")
    done = transfer.upload(oss_client, oss_bucket, f"empty-{kind}", source)
    assert done.size == 0 and done.crc64 == 0
    head = oss_client.head_object(oss_bucket, f"empty-{kind}")
    assert head.size == 0 and head.crc64 == 0
    assert oss_client.get_object(oss_bucket, f"empty-{kind}") == b""


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("/leading-slash", "starts with '/'"),
        ("k" * 1024, "at most 1023"),
        ("tab\there", "control characters"),
    ],
)
def test_invalid_keys_send_no_request(oss_emulator, oss_client, oss_bucket, key, message):
    oss_emulator.reset_stats()
    with pytest.raises(ValueError, match=message):
        transfer.upload(oss_client, oss_bucket, key, b"data")
    assert sum(oss_emulator.stats()["requests"].values()) == 0


def test_upload_id_of_another_key_is_refused_and_the_upload_is_untouched(oss_client, oss_bucket):
    upload_id = oss_client.start_multipart_upload(oss_bucket, "a.bin").upload_id
    oss_client.upload_part(oss_bucket, "a.bin", upload_id, 1, b"x" * P)
    with pytest.raises(NoSuchUpload, match="belongs to another key"):
        oss_client.upload_part(oss_bucket, "b.bin", upload_id, 2, b"y" * P)
    assert oss_client.abort_multipart_upload(oss_bucket, "b.bin", upload_id) is False  # not ours
    parts = list(oss_client.iter_parts(oss_bucket, "a.bin", upload_id))
    assert [(p.part_number, p.size) for p in parts] == [(1, P)]


def test_tls_error_says_what_to_check(oss_emulator):
    https = oss_emulator.endpoint.replace("http://", "https://")  # the emulator speaks plain HTTP
    client = OSSClient(
        https,
        Credentials(oss_emulator.access_key_id, oss_emulator.access_key_secret),
        region=oss_emulator.region,
        max_retries=0,
    )
    with pytest.raises(OSSTransportError, match="TLS error") as err:
        client.start_multipart_upload("test-bucket", "k")
    assert "verify" in str(err.value)
    assert oss_emulator.access_key_secret not in str(err.value)
    client.close()


# ----------------------------------------------------------------------- secrets in a task


def test_a_task_with_a_wrong_secret_logs_neither_the_secret_nor_the_token(
    airflow_db, oss_emulator, oss_bucket, tmp_path, monkeypatch, caplog, capsys
):
    from conftest import ROOT

    from oss_provider._compat import dag_bag

    ak, _, token = oss_emulator.sts_credentials
    wrong = f"wrong-{secrets.token_urlsafe(16)}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_OSS_MULTIPART_DEFAULT",
        json.dumps(
            {
                "conn_type": "oss_multipart",
                "host": oss_emulator.endpoint,
                "login": ak,
                "password": wrong,
                "extra": {
                    "region": oss_emulator.region,
                    "security_token": token,
                    "bucket_name": oss_bucket,
                },
            }
        ),
    )
    source = tmp_path / "s.bin"
    source.write_bytes(_data(2 * P, seed=9))
    bag = dag_bag(str(ROOT / "dags" / "example_oss_multipart_upload.py"))
    dag = bag.get_dag("example_oss_multipart_upload")
    caplog.set_level("DEBUG")
    run = dag.test(run_conf={"source": str(source), "key": "secret/k.bin", "part_size": P})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["initiate"].endswith("failed"), states
    logged = caplog.text + "".join(capsys.readouterr())
    assert "SignatureDoesNotMatch" in logged and "oss_multipart_default" in logged
    assert wrong not in logged and token not in logged
    for ti in run.get_task_instances():
        assert wrong not in repr(ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index))
