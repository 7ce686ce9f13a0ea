"""Test-wide setup. Airflow reads its config on first import, so the environment is set here first."""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import tempfile
from collections.abc import Callable

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_HOME = tempfile.mkdtemp(prefix="oss-provider-af-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# Keep real keys of the developer's shell out of tests.
for _name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh metadata DB for tests that run DAGs (``dag.test()``); others need none."""
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture
def make_source(tmp_path) -> Callable[..., tuple[str, bytes]]:
    """Writes a source file of ``size`` random bytes (repeatable with ``seed``) under the test's
    tmp_path and returns ``(path, data)``: the one way tests make an upload source."""

    def make(size: int, *, seed: int | None = None, name: str = "source.bin") -> tuple[str, bytes]:
        data = random.Random(seed).randbytes(size) if seed is not None else os.urandom(size)
        path = tmp_path / name
        path.write_bytes(data)
        return str(path), data

    return make


@pytest.fixture(scope="session")
def example_dag() -> Callable[..., object]:
    """Parses one of ``dags/`` as the DAG processor would (``register``: also records its
    asset aliases, needed before ``dag.test()`` on 2.11) and returns the DAG."""

    def load(file_name: str, dag_id: str, *, register: bool = False):
        from oss_provider._compat import dag_bag, register_dags
        from oss_provider.hooks import oss_multipart  # noqa: F401 - import before parsing

        bag = dag_bag(str(ROOT / "dags" / file_name))
        assert not bag.import_errors, bag.import_errors
        if register:
            register_dags(bag)
        return bag.get_dag(dag_id)

    return load


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)
