"""A real deployment: scheduler + dag-processor + api-server with the LocalExecutor.

Both example DAGs are triggered with ``airflow dags trigger``; the connection comes from the
environment and the emulator plays OSS. Everything started here is stopped here.
"""

from __future__ import annotations

import os

import pytest
from airflow_deployment import ROOT_DAGS, AirflowDeployment, deployment_checks, group_is_gone

from oss_provider.testing import EmulatorServer

pytestmark = pytest.mark.timeout(300)


def test_local_executor_runs_both_example_dags(tmp_path):
    with (
        EmulatorServer() as emulator,
        AirflowDeployment(
            ROOT_DAGS,
            extra_env={"AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": emulator.connection_uri_json()},
        ) as deploy,
    ):
        deploy.migrate()
        deploy.start_core()
        deployment_checks(deploy, emulator, tmp_path, batches=4, directory=True)
        groups = [p.pid for p in deploy.processes.values()]
    assert all(group_is_gone(pid) for pid in groups)
    assert not os.path.exists(deploy.home)
