"""``OSSAbortStaleUploadsOperator`` and the example cleanup DAG, run with ``dag.test()`` against
the OSS emulator (uploads made stale by moving the emulator's clock)."""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from conftest import ROOT

from oss_provider.operators.cleanup import OSSAbortStaleUploadsOperator

DAG_FILE = ROOT / "dags" / "example_oss_abort_stale_uploads.py"
TASK_ID = "abort_stale_uploads"
LATER = 700  # seconds of server-clock offset: uploads started at offset 0 are > 10 minutes old


def initiate_many(client, bucket, keys):
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda k: client.start_multipart_upload(bucket, k).upload_id, keys))
    return list(zip(keys, ids, strict=True))


def listed(client, bucket):
    return {(u.key, u.upload_id) for u in client.iter_multipart_uploads(bucket)}


def load_example_module():
    spec = importlib.util.spec_from_file_location("example_oss_abort_stale_uploads", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def load_example_dag():
    return load_example_module().dag


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
    dr = dag.test(run_conf={"bucket": oss_bucket, "older_than": "10m", "dry_run": False})
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


def test_unpaused_example_dag_aborts_nothing_until_the_user_opts_in(
    airflow_db, oss_emulator, oss_conn_env, oss_client, oss_bucket
):
    """A run with the DAG's own params (what a scheduled run after unpausing gets; only
    ``older_than`` is shortened, as the emulator's clock can move only 15 minutes) is a dry run,
    even over the whole bucket; the Variable opts the scheduled runs in; a run's explicit
    ``dry_run`` param wins over the Variable."""
    from airflow.models.variable import Variable

    ups = initiate_many(oss_client, oss_bucket, ["exports/a", "tmp/b", "c"])
    oss_emulator.set_clock_offset(LATER)
    variable = load_example_module().DRY_RUN_VARIABLE

    def run(conf=None):
        dag = load_example_dag()  # fresh params each run (dag.test keeps a run's conf in them)
        assert dag.params["prefixes"] == [""] and dag.params["dry_run"] is None
        dr = dag.test(run_conf={"bucket": oss_bucket, "older_than": "10m", **(conf or {})})
        assert dr.state == "success"
        (ti,) = dr.get_task_instances()
        return ti.xcom_pull(task_ids=TASK_ID)

    report = run()  # default prefixes (the whole bucket), no Variable, no dry_run param
    assert report["dry_run"] is True
    assert report["counts"]["would_abort"] == 3 and report["counts"]["aborted"] == 0
    assert listed(oss_client, oss_bucket) == set(ups)

    Variable.set(variable, "true")
    try:
        assert run()["counts"]["aborted"] == 0
        report = run({"dry_run": False, "prefixes": ["exports/"]})  # one run, explicitly
        assert report["dry_run"] is False and report["counts"]["aborted"] == 1
        assert listed(oss_client, oss_bucket) == set(ups[1:])

        Variable.set(variable, "false")  # opt in: scheduled runs now act
        report = run()
        assert report["dry_run"] is False and report["counts"]["aborted"] == 2, report
        assert listed(oss_client, oss_bucket) == set()
    finally:
        Variable.delete(variable)


# ------------------------------------------------------------------ safe defaults, through the hook


def test_operator_defaults_keep_an_old_upload_receiving_a_part_now_and_go_through_the_hook(
    oss_emulator, oss_conn_env, oss_client, oss_bucket, monkeypatch
):
    """No ``skip_active`` argument (fails if the operator's default were still False)."""
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    calls = []
    original = OSSMultipartHook.abort_stale_uploads

    def spy(self, bucket_name=None, **options):
        calls.append((bucket_name, options))
        return original(self, bucket_name, **options)

    monkeypatch.setattr(OSSMultipartHook, "abort_stale_uploads", spy)
    oss_emulator.set_clock_offset(-840)  # both initiated 14 minutes ago by the server's clock
    (resumed, idle) = initiate_many(oss_client, oss_bucket, ["op/resumed", "op/idle"])
    oss_emulator.set_clock_offset(0)
    oss_client.upload_part(oss_bucket, resumed[0], resumed[1], 1, b"r" * 100)  # "now"
    op = OSSAbortStaleUploadsOperator(task_id="t", bucket_name=oss_bucket, older_than="10m")
    assert op.skip_active is True
    report = op.execute({})
    assert report["skip_active"] is True
    assert report["counts"]["skipped_active"] == 1 and report["counts"]["aborted"] == 1
    assert {r["upload_id"]: r["action"] for r in report["rows"]} == {
        resumed[1]: "skipped_active",
        idle[1]: "aborted",
    }
    assert listed(oss_client, oss_bucket) == {resumed}
    assert len(calls) == 1 and calls[0][0] == oss_bucket and calls[0][1]["skip_active"] is True


def test_operator_never_aborts_an_upload_initiated_within_older_than(
    oss_emulator, oss_conn_env, oss_client, oss_bucket
):
    (up,) = initiate_many(oss_client, oss_bucket, ["young/k"])
    oss_emulator.set_clock_offset(540)  # 9 minutes later by the server's clock
    op = OSSAbortStaleUploadsOperator(
        task_id="t", bucket_name=oss_bucket, older_than="10m", skip_active=False
    )
    report = op.execute({})
    assert report["counts"]["fresh"] == 1 and report["counts"]["aborted"] == 0
    assert listed(oss_client, oss_bucket) == {up}


def test_the_operator_module_calls_the_hook_not_the_client():
    import inspect

    import oss_provider.operators.cleanup as module

    source = inspect.getsource(module)
    assert "hook.abort_stale_uploads(" in source
    assert "get_client" not in source and "run_cleanup" not in source


# ------------------------------------------------------------------ bad input, before any request

BAD_ARGUMENTS = [
    ("older_than", float("inf"), r"older_than=inf .*infinite.*'24h'"),
    ("older_than", float("nan"), r"older_than=nan .*not a number.*'24h'"),
    ("older_than", "99999999999d", r"older_than='99999999999d' .*100 years"),
    ("older_than", 10**20, r"older_than=100000000000000000000 .*100 years"),
    ("prefixes", 5, r"prefixes must be a string or a list/tuple of strings.*got 5"),
    ("prefixes", {"a": 1}, r"prefixes must be a string or a list/tuple of strings.*\(dict\)"),
    ("include", 5, r"include must be a string or a list/tuple of strings.*got 5"),
    ("include", {"*.csv": 1}, r"include must be .*\(dict\)"),
    ("exclude", 5, r"exclude must be a string or a list/tuple of strings.*got 5"),
    ("exclude", ["*.tmp", 3], r"exclude must be .*item 3"),
]


def total_requests(server) -> int:
    return sum(server.stats()["requests"].values())


@pytest.mark.parametrize(("name", "value", "message"), BAD_ARGUMENTS)
def test_bad_literal_argument_fails_at_parse_time_naming_it(name, value, message):
    with pytest.raises((ValueError, TypeError), match=rf"task 'bad'.*{message}"):
        OSSAbortStaleUploadsOperator(task_id="bad", **{name: value})


@pytest.mark.parametrize(("name", "value", "message"), BAD_ARGUMENTS)
def test_bad_rendered_argument_fails_the_task_without_retry_before_any_request(
    oss_emulator, oss_conn_env, oss_client, oss_bucket, name, value, message
):
    from oss_provider._compat import AirflowFailException

    initiate_many(oss_client, oss_bucket, ["bad/k"])
    oss_emulator.set_clock_offset(LATER)
    op = OSSAbortStaleUploadsOperator(task_id="bad", bucket_name=oss_bucket, older_than="10m")
    setattr(op, name, value)  # as a template would render it
    before = total_requests(oss_emulator)
    with pytest.raises(AirflowFailException, match=message):
        op.execute({})
    assert total_requests(oss_emulator) == before
    assert len(listed(oss_client, oss_bucket)) == 1


def test_bad_param_fails_the_dag_run_without_retry_and_without_requests(
    airflow_db, oss_emulator, oss_conn_env, oss_client, oss_bucket
):
    initiate_many(oss_client, oss_bucket, ["bad/k"])
    oss_emulator.set_clock_offset(LATER)
    dag = load_example_dag()
    dag.get_task(TASK_ID).retries = 3
    before = total_requests(oss_emulator)
    dr = dag.test(run_conf={"bucket": oss_bucket, "older_than": "99999999999d"})
    (ti,) = dr.get_task_instances()
    assert ti.max_tries == 3  # retries were allowed...
    assert ti.state == "failed" and dr.state == "failed"  # ...yet not up_for_retry
    assert total_requests(oss_emulator) == before
    assert len(listed(oss_client, oss_bucket)) == 1
