"""The provider on the Airflow it finds: every module imports, the version gate names the version a
feature needs, and in the version matrix (``make compat``) the package comes from the wheel.

Run by ``make test`` (the newest Airflow) and by ``make compat`` on every supported line, where
``OSS_PROVIDER_COMPAT_LINE`` names the line under test.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path

import pytest

import oss_provider
from oss_provider import _compat

LINE = os.environ.get("OSS_PROVIDER_COMPAT_LINE")
CLONE = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    names = ["oss_provider"]
    for info in pkgutil.walk_packages(oss_provider.__path__, "oss_provider."):
        if ".example_dags" in info.name or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_every_module_imports_on_this_airflow(name):
    """An ImportError from deep inside (a name the running Airflow lacks) shows here first."""
    importlib.import_module(name)


def test_the_matrix_tests_the_installed_wheel_on_the_locked_airflow():
    if LINE is None:
        pytest.skip("only in the version matrix (make compat)")
    import airflow

    assert airflow.__version__.startswith(f"{LINE}."), (airflow.__version__, LINE)
    installed = Path(oss_provider.__file__).resolve()
    assert "site-packages" in installed.parts, installed
    assert CLONE / "oss_provider" not in installed.parents, f"imported from the clone: {installed}"


def test_require_airflow_names_the_version_a_feature_needs():
    major, minor, _ = _compat.AIRFLOW_VERSION
    _compat.require_airflow((major, minor), "this feature")  # the running version: no error
    with pytest.raises(_compat.AirflowVersionError) as raised:
        _compat.require_airflow((major + 1, 0), "Widget streaming")
    text = str(raised.value)
    assert f"Widget streaming needs Apache Airflow {major + 1}.0 or newer" in text
    assert ".".join(map(str, _compat.AIRFLOW_VERSION)) in text
    assert isinstance(raised.value, _compat.AirflowException)


def test_airflow_names_come_only_through_the_compat_module():
    """A direct ``airflow.sdk`` import works on the newest Airflow and breaks 2.11 or 3.0 (3.0 has
    no ``airflow.sdk.BaseHook``): the package imports Airflow's authoring names from ``_compat``."""
    package = Path(oss_provider.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "_compat.py" or "example_dags" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith(("from airflow.sdk", "import airflow.sdk")):
                offenders.append(f"{path.relative_to(package)}:{number}: {line.strip()}")
    assert offenders == []


def test_operators_that_ran_can_be_deep_copied(oss_conn_env, oss_bucket):
    """Airflow deep-copies operators (3.0's dag.test() copies the DAG on every call): a hook built
    during a run holds a live HTTP session and the cleanup operator a stop event, which cannot be
    copied ("cannot pickle '_thread.lock' object"). The copy builds its own."""
    import copy

    from oss_provider.operators.cleanup import OSSAbortStaleUploadsOperator
    from oss_provider.operators.upload import OSSMultipartUploadOperator
    from oss_provider.sensors.oss_object import OSSObjectSensor

    upload = OSSMultipartUploadOperator(
        task_id="upload", source=b"x" * 10, key="copy/x.bin", bucket_name=oss_bucket
    )
    upload.execute({})
    sweep = OSSAbortStaleUploadsOperator(task_id="sweep", bucket_name=oss_bucket, dry_run=True)
    sweep.execute({})
    sensor = OSSObjectSensor(task_id="wait", key="copy/x.bin", bucket_name=oss_bucket)
    assert sensor.poke({})
    for done in (upload, sweep, sensor):
        assert "hook" in done.__dict__  # it ran with a live hook
        twin = copy.deepcopy(done)
        assert "hook" not in twin.__dict__ and twin.hook is not done.hook
        assert "hook" in done.__dict__  # the original keeps its own
    twin = copy.deepcopy(sweep)
    assert twin.stop_event is not sweep.stop_event
