"""The mapped pattern's non-idempotent steps under failure, against the emulator over real HTTP:

- Initiate whose answer is lost or garbled leaves no orphan upload (the DAG succeeding is not
  enough), and a retried Initiate task takes the upload its earlier try started;
- Complete whose worker is SIGKILLed while OSS applies it: the retry succeeds when the object is
  provably this upload's, and fails clearly when it is not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from oss_provider._compat import AirflowFailException
from oss_provider.client.limits import MIN_PART_SIZE as P

pytestmark = pytest.mark.timeout(180)


def _context(task_id: str = "initiate", try_number: int = 1) -> dict:
    ti = SimpleNamespace(
        dag_id="mapped_retries", run_id="manual__1", task_id=task_id, map_index=-1,
        try_number=try_number, xcom_push=lambda **kw: None,
    )  # fmt: skip
    return {"ti": ti}


def _open_uploads(client, bucket):
    return [(u.key, u.upload_id) for u in client.iter_multipart_uploads(bucket)]


@pytest.mark.parametrize("kind", ["lose_response", "garbled"])
def test_an_initiate_whose_answer_is_lost_leaves_no_orphan(
    oss_emulator, oss_conn_env, oss_client, oss_bucket, kind
):
    from oss_provider.operators.multipart import OSSInitiateMultipartUploadOperator

    oss_emulator.reset_stats()
    oss_emulator.fail_next(1, kind, operation="InitiateMultipartUpload")
    op = OSSInitiateMultipartUploadOperator(
        task_id="initiate", key="m/a.bin", bucket_name=oss_bucket
    )
    out = op.execute(_context())
    assert _open_uploads(oss_client, oss_bucket) == [("m/a.bin", out["upload_id"])]
    assert oss_emulator.stats()["requests"]["InitiateMultipartUpload"] == 2


def test_a_retried_initiate_task_takes_its_first_upload(oss_conn_env, oss_client, oss_bucket):
    from oss_provider.operators.multipart import OSSInitiateMultipartUploadOperator

    op = OSSInitiateMultipartUploadOperator(
        task_id="initiate", key="m/b.bin", bucket_name=oss_bucket
    )
    first = op.execute(_context(try_number=1))["upload_id"]
    again = op.execute(_context(try_number=2))["upload_id"]  # the first try's answer never
    assert again == first  # reached XCom (killed, timed out): no second upload beside it
    other = op.execute({"ti": SimpleNamespace(**{**vars(_context()["ti"]), "run_id": "manual__2"})})
    assert other["upload_id"] != first  # another DAG run is another writer
    assert sorted(_open_uploads(oss_client, oss_bucket)) == sorted(
        [("m/b.bin", first), ("m/b.bin", other["upload_id"])]
    )


def test_the_example_dag_with_a_lost_initiate_answer_leaves_nothing_open(
    airflow_db, oss_emulator, oss_conn_env, oss_client, tmp_path
):
    from conftest import ROOT

    from oss_provider._compat import dag_bag, register_dags

    bag = dag_bag(str(ROOT / "dags" / "example_oss_multipart_upload.py"))
    register_dags(bag)
    dag = bag.get_dag("example_oss_multipart_upload")
    data = os.urandom(3 * P + 11)
    (tmp_path / "src.bin").write_bytes(data)
    oss_emulator.fail_next(1, "lose_response", operation="InitiateMultipartUpload")
    run = dag.test(
        run_conf={"source": str(tmp_path / "src.bin"), "key": "m/dag.bin", "part_size": P,
                  "batches": 2, "concurrency": 2}
    )  # fmt: skip
    assert str(run.state).endswith("success")
    assert oss_client.get_object("test-bucket", "m/dag.bin") == data
    assert [k for k, _ in _open_uploads(oss_client, "test-bucket") if k == "m/dag.bin"] == []


# -- Complete ---------------------------------------------------------------------------------

COMPLETE_IN_CHILD = """
import json, sys
from oss_provider.operators.multipart import OSSCompleteMultipartUploadOperator
args = json.loads(sys.argv[1])
print("SENDING", flush=True)
OSSCompleteMultipartUploadOperator(task_id="complete", **args).execute({})
print("DONE", flush=True)
"""


def _upload_parts(client, bucket, key, count=2):
    uid = client.start_multipart_upload(bucket, key).upload_id
    parts = [
        client.upload_part(bucket, key, uid, n, os.urandom(P)).to_dict()
        for n in range(1, count + 1)
    ]
    return uid, parts


def _kill_while_complete_is_applied(oss_emulator, oss_conn_env, args: dict) -> None:
    """A worker SIGKILLed while OSS applies its Complete: OSS holds the request 1.5 s, the worker
    dies after 0.5 s, OSS applies it anyway."""
    oss_emulator.fail_next(1, "slow", operation="CompleteMultipartUpload", delay_seconds=1.5)
    child = subprocess.Popen(
        [sys.executable, "-c", COMPLETE_IN_CHILD, json.dumps(args)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": oss_conn_env},
    )
    try:
        for line in child.stdout:  # Airflow may log a line or two first
            if line.strip() == "SENDING":
                break
        time.sleep(1.0)  # the Complete is on the wire, held by the server
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    time.sleep(1.5)  # the server applies it after the hold


def test_a_retried_complete_succeeds_when_its_complete_was_applied(
    oss_emulator, oss_conn_env, oss_client, oss_bucket
):
    from oss_provider.operators.multipart import OSSCompleteMultipartUploadOperator

    uid, parts = _upload_parts(oss_client, oss_bucket, "m/c.bin")
    args = {"key": "m/c.bin", "bucket_name": oss_bucket, "upload_id": uid, "parts": parts}
    _kill_while_complete_is_applied(oss_emulator, oss_conn_env, args)
    assert _open_uploads(oss_client, oss_bucket) == []  # applied: the upload is gone
    result = OSSCompleteMultipartUploadOperator(task_id="complete", **args).execute({})
    head = oss_client.head_object(oss_bucket, "m/c.bin")
    assert (result["etag"], result["size"], result["crc64"]) == (head.etag, 2 * P, head.crc64)


def test_a_retried_complete_of_an_aborted_upload_fails_clearly(
    oss_conn_env, oss_client, oss_bucket
):
    from oss_provider.operators.multipart import OSSCompleteMultipartUploadOperator

    uid, parts = _upload_parts(oss_client, oss_bucket, "m/d.bin")
    oss_client.abort_multipart_upload(oss_bucket, "m/d.bin", uid)
    op = OSSCompleteMultipartUploadOperator(
        task_id="complete", key="m/d.bin", bucket_name=oss_bucket, upload_id=uid, parts=parts
    )
    with pytest.raises(AirflowFailException, match="not this upload's"):
        op.execute({})


def test_a_retried_complete_does_not_take_another_writers_object(
    oss_conn_env, oss_client, oss_bucket
):
    from oss_provider.operators.multipart import OSSCompleteMultipartUploadOperator

    uid, parts = _upload_parts(oss_client, oss_bucket, "m/e.bin")
    other, other_parts = _upload_parts(oss_client, oss_bucket, "m/e.bin")
    oss_client.complete_multipart_upload(oss_bucket, "m/e.bin", other, other_parts)
    oss_client.abort_multipart_upload(oss_bucket, "m/e.bin", uid)  # ours is gone, theirs is there
    op = OSSCompleteMultipartUploadOperator(
        task_id="complete", key="m/e.bin", bucket_name=oss_bucket, upload_id=uid, parts=parts
    )
    with pytest.raises(AirflowFailException, match="another writer completed the key"):
        op.execute({})
