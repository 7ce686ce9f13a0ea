"""The example directory DAG through real Airflow (``dag.test()``): batches spread over mapped
tasks, a rerun skips what is already there."""

from __future__ import annotations

import random

import pytest

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def dag(example_dag):
    return example_dag("example_oss_upload_directory.py", "example_oss_upload_directory")


def _states(run):
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}


def test_directory_dag_spreads_batches_over_mapped_tasks(
    airflow_db, oss_conn_env, oss_emulator, oss_client, dag, tmp_path
):
    rng = random.Random(11)
    files = {f"part-{i:02d}/data {i}.csv": rng.randbytes(rng.randint(0, 40_000)) for i in range(12)}
    files["skip/me.tmp"] = b"x"
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    conf = {"source": str(tmp_path), "prefix": "dirs/run1", "batches": 3, "exclude": ["*.tmp"]}
    run = dag.test(run_conf=conf)
    states = _states(run)
    assert str(run.state).endswith("success"), states
    assert sum(1 for task, _ in states if task == "upload") == 3
    for rel, data in files.items():
        if rel.endswith(".tmp"):
            continue
        assert oss_client.get_object("test-bucket", f"dirs/run1/{rel}") == data
    assert not [o for o in oss_client.list_objects("test-bucket", prefix="dirs/run1/skip")]
    ti = next(t for t in run.get_task_instances() if t.task_id == "summary")
    total = ti.xcom_pull(task_ids="summary")
    assert (total["tasks"], total["uploaded"], total["skipped"]) == (3, 12, 0)
    # a second run sends nothing: every file is unchanged
    oss_emulator.reset_stats()
    again = dag.test(run_conf=conf)
    assert str(again.state).endswith("success"), _states(again)
    ti = next(t for t in again.get_task_instances() if t.task_id == "summary")
    assert ti.xcom_pull(task_ids="summary")["skipped"] == 12
    assert "PutObject" not in oss_emulator.stats()["requests"]
