"""The deferrable OSSObjectSensor under a real triggerer (LocalExecutor deployment).

The sensor task starts, finds nothing and defers; only then does the test put the object into
the emulator; the triggerer's poll sees it and the task resumes on a worker with the object's
metadata as its XCom. Everything started here is stopped here.
"""

from __future__ import annotations

import time

import pytest
from airflow_deployment import AirflowDeployment, query, xcom_value

from oss_provider.client.api import OSSClient
from oss_provider.client.checksums import crc64
from oss_provider.client.models import Credentials
from oss_provider.testing import EmulatorServer

pytestmark = pytest.mark.timeout(480)

DAG_ID = "oss_sensor_deferrable"
DAG_FILE = f'''
from airflow.sdk import DAG
from oss_provider.sensors.oss_object import OSSObjectSensor

with DAG("{DAG_ID}", schedule=None, catchup=False):
    OSSObjectSensor(
        task_id="wait",
        key="{{{{ dag_run.conf['key'] }}}}",
        deferrable=True,
        poke_interval=1,
        timeout=600,  # generous: a loaded CI machine must not turn this into a timeout test
    )
'''


def _ti_state(deploy, run_id):
    rows = query(
        deploy,
        "SELECT state FROM task_instance WHERE dag_id = :dag AND run_id = :run AND task_id = 'wait'",
        dag=DAG_ID,
        run=run_id,
    )
    return rows[0][0] if rows else None


def test_deferred_sensor_resumes_when_the_triggerer_sees_the_object(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "sensor_dag.py").write_text(DAG_FILE)
    with (
        EmulatorServer() as emulator,
        AirflowDeployment(
            dags,
            extra_env={"AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": emulator.connection_uri_json()},
        ) as deploy,
    ):
        deploy.migrate()
        deploy.start_core()
        deploy.start("triggerer", "triggerer")
        deploy.wait_for_dags([DAG_ID])
        key = "arrivals/late.bin"
        run_id = deploy.trigger(DAG_ID, {"key": key})

        deadline = time.monotonic() + 180
        while (state := _ti_state(deploy, run_id)) != "deferred":
            assert state not in ("success", "failed", "up_for_retry"), (state, deploy.log_tail())
            assert time.monotonic() < deadline, f"never deferred ({state})\n{deploy.log_tail()}"
            deploy.check_alive()
            time.sleep(1)
        trigger_rows = query(deploy, "SELECT classpath, kwargs FROM trigger")
        assert [r[0] for r in trigger_rows] == ["oss_provider.triggers.oss_object.OSSObjectTrigger"]
        assert emulator.access_key_secret not in str(trigger_rows[0][1])

        data = b"arrived after the task deferred" * 1000
        with OSSClient(
            emulator.endpoint,
            Credentials(emulator.access_key_id, emulator.access_key_secret),
            region=emulator.region,
        ) as client:
            client.put_object("test-bucket", key, data)
            head = client.head_object("test-bucket", key)

        state = deploy.wait_for_run(DAG_ID, run_id, timeout=240)
        task_logs = "".join(p.read_text(errors="replace") for p in deploy.task_log_files())
        assert state == "success", f"{deploy.log_tail()}\n--- task logs ---\n{task_logs[-6000:]}"
        meta = xcom_value(deploy, DAG_ID, run_id, "wait")
        assert meta == {
            "bucket": "test-bucket",
            "key": key,
            "size": len(data),
            "etag": head.etag,
            "crc64": crc64(data),
            "last_modified": head.last_modified.isoformat(),
        }
        # the trigger's own lines (routed into the task's log) and then the resumed task's
        assert f'"event":"Found oss://test-bucket/{key}"' in task_logs, task_logs[-3000:]
        assert f"Found oss://test-bucket/{key} (from the triggerer)" in task_logs, task_logs[-3000:]
