"""``OSSAbortStaleUploadsOperator`` and the example cleanup DAG, run with ``dag.test()`` against
the OSS emulator (uploads made stale by moving the emulator's clock)."""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from oss_provider.operators.cleanup import OSSAbortStaleUploadsOperator

DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "example_oss_abort_stale_uploads.py"
TASK_ID = "abort_stale_uploads"
LATER = 700  # seconds of server-clock offset: uploads started at offset 0 are > 10 minutes old


def initiate_many(client, bucket, keys):
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda k: client.initiate_multipart_upload(bucket, k), keys))
    return list(zip(keys, ids, strict=True))


def listed(client, bucket):
    return {(u.key, u.upload_id) for u in client.iter_multipart_uploads(bucket)}


def load_example_dag():
    spec = importlib.util.spec_from_file_location("example_oss_abort_stale_uploads", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module.dag


# ------------------------------------------------------------------ arguments


def test_template_fields_are_assigned_unchanged():
    op = OSSAbortStaleUploadsOperator(task_id="t", prefixes="{{ params.p }}", dry_run="{{ x }}")
    for name in op.template_fields:
        assert name in op.__dict__, name
    assert op.prefixes == "{{ params.p }}"


def test_bad_literal_arguments_fail_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match=r"task 'bad'.*older_than='soon'.*'24h'"):
        OSSAbortStaleUploadsOperator(task_id="bad", older_than="soon")
    with pytest.raises(ValueError, match="dry_run must be true or false"):
        OSSAbortStaleUploadsOperator(task_id="bad2", dry_run="maybe")


def test_rendered_strings_are_coerced():
    op = OSSAbortStaleUploadsOperator(
        task_id="t",
        prefixes="['a/', 'b/']",
        older_than="1d12h",
        include='["*.csv"]',
        exclude="tmp/*",
        dry_run="True",
        max_aborts="25",
    )
    options = op.build_options()
    assert options.prefixes == ("a/", "b/")
    assert options.older_than == timedelta(days=1, hours=12)
    assert options.include == ("*.csv",) and options.exclude == ("tmp/*",)
    assert options.dry_run is True and options.max_aborts == 25


# ------------------------------------------------------------------ the example DAG


def test_example_dag_shape():
    dag = load_example_dag()
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {"bucket", "prefixes", "older_than", "dry_run"} <= set(dag.params.keys())
    task = dag.get_task(TASK_ID)
    assert isinstance(task, OSSAbortStaleUploadsOperator) and task.skip_active is True


def test_example_dag_dry_run_then_sweep(
    airflow_db, oss_emulator, oss_conn_env, oss_client, oss_bucket
):
    ups = initiate_many(oss_client, oss_bucket, ["exports/a", "exports/b", "keep/c"])
    oss_emulator.set_clock_offset(LATER)
    dag = load_example_dag()
    conf = {"bucket": oss_bucket, "prefixes": ["exports/"], "older_than": "10m", "dry_run": True}

    dr = dag.test(run_conf=conf)
    assert dr.state == "success"
    (ti,) = dr.get_task_instances()
    report = ti.xcom_pull(task_ids=TASK_ID)
    assert report["dry_run"] is True
    assert report["counts"]["would_abort"] == 2 and report["counts"]["aborted"] == 0
    assert listed(oss_client, oss_bucket) == set(ups)

    dr = dag.test(run_conf={**conf, "dry_run": False})
    assert dr.state == "success"
    (ti,) = dr.get_task_instances()
    report = ti.xcom_pull(task_ids=TASK_ID)
    assert report["ok"] is True and report["bucket"] == oss_bucket
    assert report["counts"]["aborted"] == 2 and report["counts"]["seen"] == 2
    assert report["bytes_freed"] == 0  # skip_active lists parts, so bytes are known
    assert {r["key"] for r in report["rows"]} == {"exports/a", "exports/b"}
    assert listed(oss_client, oss_bucket) == {ups[2]}


def test_example_dag_fails_naming_the_failed_aborts(
    airflow_db, oss_emulator, oss_conn_env, oss_client, oss_bucket, caplog, capsys
):
    initiate_many(oss_client, oss_bucket, [f"f/{i}" for i in range(8)])
    oss_emulator.set_clock_offset(LATER)
    oss_emulator.fail_next(2, "AccessDenied", "AbortMultipartUpload")
    dag = load_example_dag()
    dr = dag.test(run_conf={"bucket": oss_bucket, "older_than": "10m"})
    (ti,) = dr.get_task_instances()
    assert ti.state == "failed" and dr.state == "failed"
    assert ti.xcom_pull(task_ids=TASK_ID) is None  # never reported as a success
    report = ti.xcom_pull(task_ids=TASK_ID, key="cleanup_report")
    assert report["ok"] is False
    assert report["counts"]["failed"] == 2 and report["counts"]["aborted"] == 6
    still_there = listed(oss_client, oss_bucket)
    assert {(r["key"], r["upload_id"]) for r in report["rows"] if r["action"] == "failed"} == (
        still_there
    )
    # the report table goes through logging; the task's failure is printed by dag.test()
    logged = caplog.text + capsys.readouterr().out
    for key, upload_id in still_there:
        assert upload_id in logged and key in logged
    assert "2 of 8 stale uploads" in logged and "NOT aborted" in logged
