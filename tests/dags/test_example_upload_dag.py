"""The example upload DAG through real Airflow (``dag.test()``) against the emulator."""

from __future__ import annotations

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from oss_provider.client.checksums import crc64
from oss_provider.client.limits import MIN_PART_SIZE as P

pytestmark = pytest.mark.timeout(180)

KEY = "dag/example.bin"


@pytest.fixture(scope="module")
def dag(airflow_db, example_dag):
    return example_dag(
        "example_oss_multipart_upload.py", "example_oss_multipart_upload", register=True
    )


@pytest.fixture
def source(make_source):
    return make_source(9 * P + 5, seed=21)


def _conf(path, **extra):
    return {"source": path, "key": KEY, "part_size": P, "batches": 3, "concurrency": 2, **extra}


def _states(run):
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}


def _pending(client):
    return [u for u in client.iter_multipart_uploads("test-bucket") if u.key == KEY]


def test_example_dag_uploads_and_verifies(airflow_db, oss_conn_env, oss_client, dag, source, capfd):
    from airflow_deployment import provider_warnings

    path, data = source
    run = dag.test(run_conf=_conf(path))
    states = _states(run)
    assert str(run.state).endswith("success"), states
    # no warning from this provider, nor the masking / past-the-end XCom ones it used to cause
    assert provider_warnings(capfd.readouterr().out) == []
    assert sum(1 for t, _ in states if t == "upload_parts") == 3
    assert states[("abort", -1)].endswith("skipped")
    assert oss_client.get_object("test-bucket", KEY) == data
    head = oss_client.head_object("test-bucket", KEY)
    assert head.crc64 == crc64(data)
    ti = next(t for t in run.get_task_instances() if t.task_id == "complete")
    assert ti.xcom_pull(task_ids="complete")["crc64"] == crc64(data)
    # the object is announced as an asset through the DAG's AssetAlias
    from airflow.utils.session import create_session

    from oss_provider._compat import asset_event_tables

    event, asset, asset_column = asset_event_tables()
    with create_session() as session:
        events = (
            session.query(event)
            .join(asset, getattr(event, asset_column) == asset.id)
            .filter(asset.uri == f"oss://test-bucket/{KEY}")
            .all()
        )
        assert events and events[-1].extra["crc64"] == crc64(data)


def test_injected_faults_are_healed(
    airflow_db, oss_conn_env, oss_emulator, oss_client, dag, source
):
    path, data = source
    oss_emulator.fail_next(2, "503", "UploadPart")
    oss_emulator.fail_next(1, "reset", "InitiateMultipartUpload")
    run = dag.test(run_conf=_conf(path, key=KEY))
    assert str(run.state).endswith("success"), _states(run)
    assert oss_client.get_object("test-bucket", KEY) == data


def test_a_part_that_keeps_failing_takes_the_abort_path(
    airflow_db, oss_conn_env, oss_emulator, oss_client, dag, source
):
    path, _ = source
    oss_emulator.fail_next(10_000, "InvalidArgument", "UploadPart")
    try:
        run = dag.test(run_conf=_conf(path, key="dag/failing.bin"))
    finally:
        oss_emulator.clear_faults()
    states = _states(run)
    assert str(run.state).endswith("failed"), states
    assert states[("abort", -1)].endswith("success")
    assert states[("complete", -1)].endswith("upstream_failed")
    assert [
        u for u in oss_client.iter_multipart_uploads("test-bucket") if u.key == "dag/failing.bin"
    ] == []


class FlakyMemoryFS(MemoryFileSystem):
    """A remote filesystem whose connection drops once, after a few ranged reads: the first
    attempt of the part task dies part-way, like a killed worker."""

    protocol = "flakymem"
    root_marker = "/"
    reads_before_failure = 2
    failed = False
    reads = 0

    @classmethod
    def _strip_protocol(cls, path):
        path = path.removeprefix("flakymem://")
        return super()._strip_protocol(path)

    def cat_file(self, path, start=None, end=None, **kwargs):
        cls = type(self)
        cls.reads += 1
        if not cls.failed and cls.reads > cls.reads_before_failure:
            cls.failed = True
            raise ConnectionResetError("connection to the source dropped")
        return super().cat_file(path, start=start, end=end, **kwargs)


def test_a_retried_part_task_sends_only_the_missing_parts(
    airflow_db, oss_conn_env, oss_emulator, oss_client, dag, source
):
    _, data = source
    fsspec.register_implementation("flakymem", FlakyMemoryFS, clobber=True)
    FlakyMemoryFS.store = {}
    FlakyMemoryFS().pipe_file("/src/data.bin", data)
    oss_emulator.reset_stats()
    run = dag.test(
        run_conf=_conf("flakymem:///src/data.bin", key="dag/retried.bin", batches=1, concurrency=1)
    )
    assert str(run.state).endswith("success"), _states(run)
    assert FlakyMemoryFS.failed
    (ti,) = [t for t in run.get_task_instances() if t.task_id == "upload_parts"]
    assert ti.try_number == 2
    # 10 parts: 2 sent by the dead attempt and kept, 8 sent by the retry; none sent twice;
    # plus the 2 owner records the initiate task stores when it claims the upload
    assert oss_emulator.stats()["requests"]["UploadPart"] == 10 + 2
    assert oss_client.get_object("test-bucket", "dag/retried.bin") == data
