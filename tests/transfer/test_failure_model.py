"""The failure model, tried on purpose against the emulator over real HTTP: two writers of one
key, a lost or garbled answer at each non-idempotent step, a part that keeps failing, a dead
endpoint, and an Airflow task SIGKILLed and retried in another process beside another DAG run."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from _writers import child_env, data_parts

from oss_provider.client.api import OSSClient
from oss_provider.client.checksums import crc64
from oss_provider.client.errors import OSSError, OSSTransportError, RetriesExhaustedError
from oss_provider.client.http import RetryPolicy
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.client.models import Credentials
from oss_provider.transfer import upload as transfer
from oss_provider.transfer.progress import TransferProgress

pytestmark = pytest.mark.timeout(240)

WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from oss_provider.client.api import OSSClient
    from oss_provider.client.models import Credentials
    from oss_provider.transfer.sources import LocalFileSource
    from oss_provider.transfer.upload import upload

    class SlowFile(LocalFileSource):  # a slow disk: the two writers overlap
        def read(self, offset, length):
            time.sleep(0.05)
            return super().read(offset, length)

    time.sleep(float(sys.argv[2]))
    client = OSSClient(os.environ["EP"], Credentials(os.environ["AK"], os.environ["SK"]),
                       region=os.environ["REGION"])
    done = upload(client, os.environ["BUCKET"], os.environ["KEY"], SlowFile(sys.argv[1]),
                  part_size=int(os.environ["PART"]), concurrency=2)
    print(json.dumps({"crc64": done.crc64, "size": done.size}))
    """
)


def _data(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _uploads(client, bucket, key):
    return [u for u in client.iter_multipart_uploads(bucket, prefix=key) if u.key == key]


def _count(emulator, operation: str) -> int:
    return emulator.stats()["requests"].get(operation, 0)


def _source(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# ------------------------------------------------------------------------- two writers


@pytest.mark.parametrize("offset", [0.0, 0.15, 0.4])
def test_two_processes_writing_one_key_each_complete_their_own(
    oss_emulator, oss_client, oss_bucket, tmp_path, offset
):
    datas = {"a": _data(6 * P + 11, seed=1), "b": _data(5 * P + 7, seed=2)}
    env = child_env(oss_emulator, oss_bucket, KEY="shared/key.bin", PART=str(P))
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", WRITER, _source(tmp_path, name, data), str(delay)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for (name, data), delay in zip(datas.items(), (0.0, offset), strict=True)
    }
    results = {}
    for name, child in children.items():
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, f"writer {name} failed:\n{err[-3000:]}"
        results[name] = json.loads(out.strip().splitlines()[-1])
    for name, data in datas.items():  # each reports its own object, not the other's
        assert results[name] == {"crc64": crc64(data), "size": len(data)}
    stored = oss_client.get_object(oss_bucket, "shared/key.bin")
    assert stored in datas.values()  # the last Complete wins, as in OSS
    assert _uploads(oss_client, oss_bucket, "shared/key.bin") == []  # nothing left behind


# ------------------------------------------------------------------------- options


def test_a_retry_with_new_options_gets_them_and_leaves_nothing(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    data = _data(4 * P + 3, seed=3)
    path = _source(tmp_path, "src.bin", data)
    oss_emulator.fail_next(1, "InvalidArgument", "CompleteMultipartUpload")
    with pytest.raises(OSSError, match="InvalidArgument"):
        transfer.upload(
            oss_client, oss_bucket, "opts", path, part_size=P,
            content_type="text/csv", metadata={"v": "1"},
        )  # fmt: skip
    (first,) = _uploads(oss_client, oss_bucket, "opts")  # kept for a resume

    done = transfer.upload(
        oss_client, oss_bucket, "opts", path, part_size=P,
        content_type="application/json", metadata={"v": "2"},
    )  # fmt: skip
    info = oss_client.head_object(oss_bucket, "opts")
    assert (info.content_type, info.metadata) == ("application/json", {"v": "2"})
    assert done.crc64 == info.crc64 == crc64(data)
    assert _uploads(oss_client, oss_bucket, "opts") == []  # the old one was aborted, not used
    assert not oss_client.upload_exists(oss_bucket, "opts", first.upload_id)

    # the same options again: the retry resumes and sends no part twice
    oss_emulator.fail_next(1, "InvalidArgument", "CompleteMultipartUpload")
    with pytest.raises(OSSError):
        transfer.upload(oss_client, oss_bucket, "opts", path, part_size=P, metadata={"v": "3"})
    oss_emulator.reset_stats()
    transfer.upload(oss_client, oss_bucket, "opts", path, part_size=P, metadata={"v": "3"})
    assert _count(oss_emulator, "InitiateMultipartUpload") == 0
    assert _count(oss_emulator, "UploadPart") == 0
    assert oss_client.head_object(oss_bucket, "opts").metadata == {"v": "3"}


# ------------------------------------------------------------------------- lost answers


@pytest.mark.parametrize("fault", ["reset", "lose_response", "garbled"])
def test_lost_complete_over_an_identical_older_object_is_exact(
    oss_emulator, oss_client, oss_bucket, tmp_path, fault
):
    """``reset`` cuts Complete before OSS applies it, ``lose_response`` and ``garbled`` after:
    either way the new upload's object, with its own content type, is what the key holds."""
    data = _data(3 * P + 5, seed=4)
    path = _source(tmp_path, "src.bin", data)
    older = transfer.upload(oss_client, oss_bucket, "same", path, part_size=P, content_type="a/old")
    oss_emulator.fail_next(1, fault, "CompleteMultipartUpload")
    done = transfer.upload(
        oss_client, oss_bucket, "same", path, part_size=P,
        content_type="a/new", metadata={"try": fault},
    )  # fmt: skip
    info = oss_client.head_object(oss_bucket, "same")
    assert (info.content_type, info.metadata) == ("a/new", {"try": fault})
    assert done.etag == info.etag == older.etag  # same bytes, same part layout
    assert done.crc64 == crc64(data)
    assert _uploads(oss_client, oss_bucket, "same") == []  # not left open (billed, invisible)


def test_lost_complete_with_the_upload_gone_is_not_confirmed_by_an_older_object(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    """Someone aborted the upload and the Complete request was reset: an identical object
    (same bytes, same part layout, so the same multipart ETag, size and CRC-64) written before
    the upload started must not be taken for it."""
    from oss_provider.client.errors import UploadOwnershipError

    data = _data(2 * P + 5, seed=5)
    older = oss_client.start_multipart_upload(oss_bucket, "gone").upload_id
    part = oss_client.upload_part(oss_bucket, "gone", older, 1, data)
    oss_client.complete_multipart_upload(oss_bucket, "gone", older, [part])
    time.sleep(1.1)  # Last-Modified has whole seconds
    info = oss_client.start_multipart_upload(oss_bucket, "gone")
    parts = [oss_client.upload_part(oss_bucket, "gone", info.upload_id, 1, data)]
    oss_client.abort_multipart_upload(oss_bucket, "gone", info.upload_id)  # a sweep, say
    oss_emulator.fail_next(1, "reset", "CompleteMultipartUpload")
    with pytest.raises(UploadOwnershipError, match="not this upload's"):
        oss_client.complete_multipart_upload(
            oss_bucket, "gone", info.upload_id, parts, initiated=info.initiated
        )


@pytest.mark.parametrize("fault", ["lose_response", "garbled", "reset"])
def test_lost_initiate_answer_leaves_no_upload(
    oss_emulator, oss_client, oss_bucket, tmp_path, fault
):
    data = _data(2 * P + 9, seed=6)
    path = _source(tmp_path, "src.bin", data)
    oss_emulator.reset_stats()
    oss_emulator.fail_next(1, fault, "InitiateMultipartUpload")
    done = transfer.upload(oss_client, oss_bucket, "init", path, part_size=P)
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "init") == data
    assert _uploads(oss_client, oss_bucket, "init") == []  # no orphan of the lost Initiate
    assert _count(oss_emulator, "InitiateMultipartUpload") == 2  # sent again once, knowingly


def test_lost_initiate_through_the_client_says_it_may_have_been_applied(
    oss_emulator, oss_client, oss_bucket
):
    oss_emulator.fail_next(1, "lose_response", "InitiateMultipartUpload")
    with pytest.raises(OSSTransportError) as err:
        oss_client.start_multipart_upload(oss_bucket, "raw")
    assert err.value.maybe_applied  # never sent blindly again by the client itself
    for upload in _uploads(oss_client, oss_bucket, "raw"):
        oss_client.abort_multipart_upload(oss_bucket, "raw", upload.upload_id)


# ------------------------------------------------------------------------- one retry policy


def test_a_part_that_always_fails_costs_exactly_the_sends_of_the_policy(
    oss_emulator, oss_bucket, tmp_path
):
    data = _data(4 * P, seed=7)
    path = _source(tmp_path, "src.bin", data)
    policy = RetryPolicy(max_sends=4, budget_seconds=60, backoff_base=0.01, backoff_cap=0.05)
    client = OSSClient(
        oss_emulator.endpoint,
        Credentials(oss_emulator.access_key_id, oss_emulator.access_key_secret),
        region=oss_emulator.region,
        retry_policy=policy,
    )
    armed = []

    def break_after_first_part(snapshot):  # the records and part 1 are stored by then
        if snapshot.sent and not armed:
            oss_emulator.reset_stats()
            armed.append(oss_emulator.fail_next(1000, "500", "UploadPart"))

    try:
        with pytest.raises(RetriesExhaustedError, match="gave up after 4 sends") as err:
            transfer.upload(
                client, oss_bucket, "fails", path, part_size=P, concurrency=1,
                progress=TransferProgress(None, interval=0, callback=break_after_first_part),
            )  # fmt: skip
        assert err.value.sends == 4 and err.value.retryable
        assert oss_emulator.stats()["errors"].get("InternalError") == 4  # not 4 x engine retries
        assert _count(oss_emulator, "UploadPart") == 4
    finally:
        oss_emulator.clear_faults()
        client.close()
    assert len(_uploads(client_for(oss_emulator), oss_bucket, "fails")) == 1  # kept for a resume
    done = transfer.upload(client_for(oss_emulator), oss_bucket, "fails", path, part_size=P)
    assert done.crc64 == crc64(data)


def client_for(emulator) -> OSSClient:
    return OSSClient(
        emulator.endpoint,
        Credentials(emulator.access_key_id, emulator.access_key_secret),
        region=emulator.region,
    )


def test_a_dead_endpoint_gives_up_within_the_budget():
    """A server that accepts and never answers: each send's read timeout is cut to the budget."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    client = OSSClient(
        f"http://127.0.0.1:{server.getsockname()[1]}",
        Credentials("ak", "sk"),
        read_timeout=120,
        retry_policy=RetryPolicy(max_sends=4, budget_seconds=2.0, backoff_base=0.05),
    )
    started = time.monotonic()
    try:
        with pytest.raises((RetriesExhaustedError, OSSTransportError), match="ListParts"):
            client.list_parts("bucket", "k", "U")
        assert time.monotonic() - started < 5  # 2 s budget, not 4 x 120 s
    finally:
        stop.set()
        thread.join(2)
        client.close()
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("operation", ["ListMultipartUploads", "ListParts"])
def test_garbled_answers_of_safe_requests_are_retried(
    oss_emulator, oss_client, oss_bucket, tmp_path, operation
):
    data = _data(3 * P + 1, seed=8)
    path = _source(tmp_path, "src.bin", data)
    oss_emulator.fail_next(1, "InvalidArgument", "CompleteMultipartUpload")
    with pytest.raises(OSSError):
        transfer.upload(oss_client, oss_bucket, "garbled", path, part_size=P)
    oss_emulator.fail_next(2, "garbled", operation)  # the resume lists both
    done = transfer.upload(oss_client, oss_bucket, "garbled", path, part_size=P)
    assert done.crc64 == crc64(data)
    assert oss_emulator.stats()["requests"].get(operation, 0) >= 3


def test_garbled_answers_are_retryable_for_airflow(oss_emulator, oss_conn_env, oss_bucket):
    from oss_provider._compat import AirflowFailException
    from oss_provider.hooks.oss_multipart import OSSHookError, OSSMultipartHook

    oss_emulator.fail_next(100, "garbled", "ListMultipartUploads")
    try:
        with pytest.raises(OSSHookError, match="cut short") as err:
            OSSMultipartHook().list_multipart_uploads(oss_bucket)
    finally:
        oss_emulator.clear_faults()
    assert not isinstance(err.value, AirflowFailException)  # Airflow retries the task


def test_a_failed_stream_upload_aborts_its_upload(oss_emulator, oss_client, oss_bucket):
    class Broken:
        def __init__(self):
            self.sent = 0

        def read(self, n=-1):
            if self.sent >= 2 * P:
                raise OSError("the pipe broke")
            self.sent += P
            return b"x" * P

    with pytest.raises(OSError, match="the pipe broke"):
        transfer.upload(oss_client, oss_bucket, "stream", Broken(), part_size=P)
    assert _uploads(oss_client, oss_bucket, "stream") == []  # streams never resume: aborted


# ------------------------------------------------------------------------- an Airflow task

DAG_FILE = textwrap.dedent(
    """
    from oss_provider._compat import DAG, Param
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    with DAG(
        "failure_model_upload",
        schedule=None,
        params={"source": Param("", type="string")},
    ) as dag:
        OSSMultipartUploadOperator(
            task_id="upload", key="airflow/shared.bin", source="{{ params.source }}",
            part_size=102400, concurrency=1,
        )
    """
)


def test_a_retried_airflow_task_resumes_its_own_upload_beside_another_run(tmp_path):
    """Run A's task is SIGKILLed mid-upload; its retry (another process) and run B of the same
    DAG, writing the same key, then run at once: A resumes only its own upload, B starts its
    own, both succeed, and nothing is left behind."""
    from airflow_deployment import AirflowDeployment, _signal_group

    from oss_provider.testing import EmulatorServer

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "failure_model_upload.py").write_text(DAG_FILE)
    parts = 8
    datas = {"a": _data(parts * P, seed=10), "b": _data(parts * P, seed=11)}
    sources = {name: _source(tmp_path, f"{name}.bin", data) for name, data in datas.items()}
    key = "airflow/shared.bin"
    with (
        EmulatorServer() as emulator,
        AirflowDeployment(
            dags, extra_env={"AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": emulator.connection_uri_json()}
        ) as deploy,
    ):
        client = client_for(emulator)
        deploy.migrate()
        deploy.airflow("dags", "reserialize")
        for name in datas:
            deploy.airflow(
                "dags", "trigger", "failure_model_upload", "--run-id", f"run_{name}",
                "--conf", json.dumps({"source": sources[name]}),
            )  # fmt: skip

        def task(name: str, run: str) -> None:
            deploy.start(
                name, "tasks", "test", "failure_model_upload", "upload", f"run_{run}",
                "--task-params", json.dumps({"source": sources[run]}),
            )  # fmt: skip

        # the first try's parts land slowly (0.4 s each), so the kill finds it mid-upload
        emulator.fail_next(20, "slow", "UploadPart", delay_seconds=0.4)
        task("a_first_try", "a")
        deadline = time.monotonic() + 180
        stored: dict[str, int] = {}
        while time.monotonic() < deadline and not any(n >= 3 for n in stored.values()):
            time.sleep(0.1)
            assert deploy.processes["a_first_try"].poll() is None, deploy.log_tail("a_first_try")
            stored = data_parts(client, "test-bucket", key)
        _signal_group(deploy.processes["a_first_try"], signal.SIGKILL)
        deploy.processes["a_first_try"].wait(10)
        time.sleep(0.5)  # a part whose body had fully arrived may still land
        (a_upload,) = data_parts(client, "test-bucket", key)
        kept = data_parts(client, "test-bucket", key)[a_upload]
        assert 3 <= kept < parts

        emulator.clear_faults()
        emulator.reset_stats()
        task("a_retry", "a")
        task("b", "b")
        for name in ("a_retry", "b"):
            assert deploy.processes[name].wait(180) == 0, deploy.log_tail(name)
        assert f"Resuming this writer's upload {a_upload}" in deploy.log_tail("a_retry", 200_000)
        assert a_upload not in deploy.log_tail("b", 200_000)  # run B never touched it
        requests = emulator.stats()["requests"]
        assert requests.get("InitiateMultipartUpload", 0) == 1  # only run B started one
        assert requests.get("UploadPart", 0) == (parts + 2) + (parts - kept)
        assert not client.upload_exists("test-bucket", key, a_upload)  # A completed its own
        assert _uploads(client, "test-bucket", key) == []
        assert client.get_object("test-bucket", key) in datas.values()
        client.close()
