"""Bad input through the hook and the operators, as a DAG author meets it: every case fails the
task without retries (``AirflowFailException``), names the argument and the fix, sends no
request, leaves nothing on the server and ends within seconds. Client-level cases are in
``test_bad_input_client.py``, the sweep's in ``test_cleanup_unit.py``."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time

import pytest

from oss_provider._compat import AIRFLOW_V_3_0_PLUS
from oss_provider.client.limits import MIN_PART_SIZE as P

pytestmark = pytest.mark.timeout(60)

BUCKET = "test-bucket"
KEY = "bad-input/object.bin"


@pytest.fixture
def source(make_source):
    return make_source(2 * P + 1)[0]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)  # no writer: opening it for reading would block forever
    return str(path)


def _whole(**kwargs):
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    kwargs.setdefault("key", KEY)
    return lambda: OSSMultipartUploadOperator(task_id="upload", **kwargs).execute({})


def _initiate(**kwargs):
    from oss_provider.operators.multipart import OSSInitiateMultipartUploadOperator

    kwargs.setdefault("key", KEY)
    return lambda: OSSInitiateMultipartUploadOperator(task_id="init", **kwargs).execute({})


def _hook_upload(source, **kwargs):
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    return lambda: OSSMultipartHook().upload_file(source, kwargs.pop("key", KEY), **kwargs)


# (id, builder(source, fifo) -> callable, fragments the message must hold)
CASES = [
    ("fifo-source", lambda s, f: _whole(source=f), ["FIFO", "regular files", "binary stream"]),
    ("fifo-hook", lambda s, f: _hook_upload(f), ["FIFO", "regular files"]),
    (
        "text-stream",
        lambda s, f: _hook_upload(io.StringIO("text")),
        ["binary mode", "rb"],
    ),
    (
        "part-retries-negative",
        lambda s, f: _hook_upload(s, part_retries=-1),
        ["part_retries", ">= 0"],
    ),
    (
        "metadata-list",
        lambda s, f: _whole(source=s, metadata="[1,2]"),
        ["metadata must be a mapping", '{"owner": "etl"}'],
    ),
    (
        "metadata-nested",
        lambda s, f: _whole(source=s, metadata={"a": [1]}),
        ["metadata['a'] must be a string"],
    ),
    ("metadata-initiate", lambda s, f: _initiate(metadata="7"), ["metadata must be a mapping"]),
    ("key-dot", lambda s, f: _whole(source=s, key="."), ["'.'", "path segment"]),
    ("key-dotdot", lambda s, f: _whole(source=s, key=".."), ["'..'", "path segment"]),
    ("key-dotdot-inside", lambda s, f: _whole(source=s, key="a/../b"), ["path segment"]),
    ("key-surrogate", lambda s, f: _whole(source=s, key="bad\ud800"), ["UTF-8", "surrogate"]),
    ("key-empty", lambda s, f: _whole(source=s, key=""), ["key is required"]),
    ("key-not-text", lambda s, f: _whole(source=s, key=5), ["key must be a string"]),
    (
        "bucket-conflict",
        lambda s, f: _whole(source=s, key="oss://other-bucket/k", bucket_name=BUCKET),
        ["names bucket 'other-bucket'", f"bucket_name is '{BUCKET}'"],
    ),
    (
        "part-size-text",
        lambda s, f: _whole(source=s, part_size="8MB"),
        ["part_size", "whole number"],
    ),
    ("part-size-small", lambda s, f: _whole(source=s, part_size="1024"), ["100 KiB"]),
    ("concurrency-zero", lambda s, f: _whole(source=s, concurrency="0"), ["concurrency", ">= 1"]),
    (
        "resume-word",
        lambda s, f: _whole(source=s, resume="maybe"),
        ["resume must be true or false"],
    ),
    (
        "storage-class",
        lambda s, f: _whole(source=s, storage_class="Cold"),
        ["storage_class 'Cold'", "Standard, IA, Archive"],
    ),
    (
        "encryption",
        lambda s, f: _whole(source=s, server_side_encryption="AES"),
        ["server_side_encryption 'AES'", "AES256, KMS"],
    ),
    (
        "kms-key-without-kms",
        lambda s, f: _initiate(sse_kms_key_id="k1"),
        ["sse_kms_key_id needs server_side_encryption='KMS'"],
    ),
    ("tagging-list", lambda s, f: _whole(source=s, tagging="[1]"), ["tagging must be a mapping"]),
    (
        "forbid-word",
        lambda s, f: _whole(source=s, forbid_overwrite="perhaps"),
        ["forbid_overwrite"],
    ),
    ("missing-source", lambda s, f: _whole(source="/no/such/file"), ["does not exist"]),
    ("source-none", lambda s, f: _whole(source="None"), ["source is required"]),
]


def _leftovers(client) -> list[str]:
    uploads = [u.key for u in client.iter_multipart_uploads(BUCKET)]
    objects = [o["key"] for o in client.list_objects(BUCKET)]
    return [k for k in [*uploads, *objects] if k in (KEY, ".", "..", "b", "k", "a/../b")]


def _run_bounded(call, seconds: float = 10.0):
    """Run ``call`` in a thread; fail the test if it has not ended in ``seconds``."""
    outcome: dict[str, BaseException | object] = {}

    def target():
        if not AIRFLOW_V_3_0_PLUS:
            # Airflow 2's execute() guard keeps per-thread state that only the thread importing
            # it has (AttributeError: 'callers' in any other thread): give this thread its own
            from airflow.models.baseoperator import ExecutorSafeguard

            ExecutorSafeguard._sentinel.callers = {}
        try:
            outcome["value"] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call hung for more than {seconds} s"
    return outcome


@pytest.mark.parametrize(("case", "build", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_the_task_at_once_with_nothing_sent(
    oss_emulator, oss_conn_env, oss_client, source, fifo, case, build, fragments
):
    from oss_provider._compat import AirflowFailException

    oss_emulator.reset_stats()
    started = time.monotonic()
    outcome = _run_bounded(build(source, fifo))
    error = outcome.get("error")
    assert isinstance(error, AirflowFailException), f"{case}: {outcome!r}"
    text = str(error)
    for fragment in fragments:
        assert fragment in text, f"{case}: {fragment!r} not in {text!r}"
    assert time.monotonic() - started < 10
    assert oss_emulator.stats()["requests"] == {}, f"{case}: requests were sent"
    assert _leftovers(oss_client) == []


def test_a_key_with_spaces_is_stored_exactly(oss_conn_env, oss_client, source):
    done = _whole(source=source, key=" spaced key ")()
    assert done["key"] == " spaced key "
    assert oss_client.head_object(BUCKET, " spaced key ").size == os.path.getsize(source)
    oss_client.delete_object(BUCKET, " spaced key ")


@pytest.mark.parametrize("where", ["closed-port", "unknown-host"])
def test_a_wrong_host_or_port_names_the_field_fails_at_once_and_quickly(
    monkeypatch, oss_emulator, source, where
):
    from oss_provider._compat import AirflowFailException

    if where == "closed-port":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            host = f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed once the probe is
    else:
        host = "http://no-such-host.invalid:9000"
    conn = {
        "conn_type": "oss_multipart",
        "host": host,
        "login": oss_emulator.access_key_id,
        "password": oss_emulator.access_key_secret,
        "extra": {"region": "cn-hangzhou", "bucket_name": BUCKET},
    }
    monkeypatch.setenv("AIRFLOW_CONN_OSS_MULTIPART_DEFAULT", json.dumps(conn))
    started = time.monotonic()
    outcome = _run_bounded(_whole(source=source), seconds=15)
    error = outcome.get("error")
    assert isinstance(error, AirflowFailException), outcome
    text = str(error)
    assert "cannot connect" in text and "host (endpoint) and port" in text
    assert "'oss_multipart_default'" in text
    assert "Max retries exceeded" not in text  # no raw urllib3 text
    assert time.monotonic() - started < 10  # it used to take 19 s
