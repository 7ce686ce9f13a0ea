"""Past one machine: both example DAGs on the CeleryExecutor with PostgreSQL and Redis.

A fresh database (unique name, dropped at the end) and a queue unique to the run; two Celery
workers with distinct hostnames; mapped part batches must run on both. Skipped when PostgreSQL or
Redis is missing, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import secrets

import airflow_deployment as ad
import pytest

from oss_provider.testing import EmulatorServer

pytestmark = pytest.mark.timeout(420)

HOSTNAME_MODULE = '''
import os


def get_hostname():
    """Each test worker reports its own name, so task instances show which worker ran them."""
    return os.environ.get("OSS_TEST_WORKER_NAME") or os.uname().nodename
'''


@pytest.fixture
def services():
    reason = ad.services_unreachable()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the CeleryExecutor test: {reason}")
        pytest.skip(reason)


def test_celery_executor_spreads_batches_over_two_workers(services, tmp_path):
    run = secrets.token_hex(4)
    db_name = f"oss_provider_test_{run}"
    queue = f"oss-provider-test-{run}"
    databases_before = ad.list_databases()
    url = ad.create_database(db_name)
    try:
        with EmulatorServer() as emulator:
            (tmp_path / "pylib").mkdir()
            (tmp_path / "pylib" / "oss_test_hostname.py").write_text(HOSTNAME_MODULE)
            env = {
                "AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": emulator.connection_uri_json(),
                "AIRFLOW__CELERY__BROKER_URL": ad.REDIS_URL,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{url}",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "oss_test_hostname.get_hostname",
                "PYTHONPATH": str(tmp_path / "pylib"),
            }
            with ad.AirflowDeployment(
                ad.ROOT_DAGS, executor="CeleryExecutor", sql_alchemy_conn=url, extra_env=env,
                parallelism=8,
            ) as deploy:  # fmt: skip
                deploy.migrate()
                deploy.start_core()
                for name in ("worker-a", "worker-b"):
                    deploy.start(
                        name, "celery", "worker", "--queues", queue, "--concurrency", "2",
                        "--celery-hostname", f"{name}-{run}@%h", "--skip-serve-logs",
                        env={"OSS_TEST_WORKER_NAME": f"{name}-{run}"},
                    )  # fmt: skip
                result = ad.deployment_checks(deploy, emulator, tmp_path, batches=8)
                hosts = ad.query(
                    deploy,
                    "SELECT DISTINCT hostname FROM task_instance WHERE dag_id = :dag "
                    "AND run_id = :run AND task_id = 'upload_parts'",
                    dag=ad.UPLOAD_DAG,
                    run=result["upload_run"],
                )
                assert {h for (h,) in hosts} == {f"worker-a-{run}", f"worker-b-{run}"}, hosts

                # an OSS object as the source: parts copied server-side, no bytes via workers
                from oss_provider.client.api import OSSClient
                from oss_provider.client.models import Credentials

                client = OSSClient(
                    emulator.endpoint,
                    Credentials(emulator.access_key_id, emulator.access_key_secret),
                    region=emulator.region,
                )
                emulator.reset_stats()
                copy_key = f"deploy/copy-{run}.bin"
                copy_run = deploy.trigger(
                    ad.UPLOAD_DAG,
                    {"source": f"oss://test-bucket/{result['key']}", "key": copy_key,
                     "part_size": ad.PART_SIZE, "batches": 8, "concurrency": 2},
                )  # fmt: skip
                assert deploy.wait_for_run(ad.UPLOAD_DAG, copy_run) == "success", deploy.log_tail()
                original = client.head_object("test-bucket", result["key"])
                copied = client.head_object("test-bucket", copy_key)
                assert copied.size == original.size and copied.crc64 == original.crc64
                requests_seen = emulator.stats()["requests"]
                assert requests_seen.get("UploadPartCopy", 0) >= 16, requests_seen
                # no data part through a worker: only the initiate task's 2 owner records
                assert requests_seen.get("UploadPart", 0) == 2, requests_seen
                client.close()
                groups = [p.pid for p in deploy.processes.values()]
            assert all(ad.group_is_gone(pid) for pid in groups)  # nothing outlives the test
    finally:
        ad.drop_database(db_name)
        ad.delete_redis_queue(queue)
    assert ad.list_databases() == databases_before
    assert ad.redis_queue_keys(queue) == []
