"""OpenLineage: a real DAG run emits events whose inputs/outputs are the upload's datasets; the
``oss`` asset normaliser and OpenLineage converter.

The DAG run happens in a fresh Python process (``dag.test()``) so the OpenLineage provider reads
its file-transport settings from the environment there (it caches its config per process).
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import pytest

from oss_provider._compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS
from oss_provider.client.limits import MIN_PART_SIZE

pytestmark = pytest.mark.timeout(180)

DAG_ID = "oss_lineage"
BUCKET = "test-bucket"
# An upper-case bucket shows the normaliser at work. Airflow 3.0's dag.test() fails every task
# with an Asset outlet (AirflowInactiveAssetInInletOrOutletException: only its scheduler marks
# assets active), so on 3.0 the task announces nothing and the converter is checked on its own.
ASSET_OUTLETS = AIRFLOW_V_3_1_PLUS or not AIRFLOW_V_3_0_PLUS
DAG_FILE = textwrap.dedent(
    f'''
    from airflow.providers.common.compat.sdk import DAG, Asset, task

    from oss_provider.operators.multipart import (
        OSSCompleteMultipartUploadOperator,
        OSSInitiateMultipartUploadOperator,
        OSSPlanMultipartUploadOperator,
        OSSUploadPartsOperator,
    )
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    SRC = "{{{{ dag_run.conf['source'] }}}}"

    with DAG("{DAG_ID}", schedule=None, catchup=False):
        whole = OSSMultipartUploadOperator(task_id="upload", source=SRC, key="lineage/whole.bin")

        @task(outlets=[Asset("oss://{BUCKET.upper()}/lineage/whole.bin")] if {ASSET_OUTLETS} else [])
        def announce():
            return "done"

        whole >> announce()

        init = OSSInitiateMultipartUploadOperator(task_id="initiate", key="lineage/steps.bin")
        plan = OSSPlanMultipartUploadOperator(
            task_id="plan", source=SRC, part_size={MIN_PART_SIZE}, batches=2
        )
        parts = OSSUploadPartsOperator.partial(
            task_id="upload_parts", key="lineage/steps.bin", source=SRC,
            upload_id=init.output["upload_id"],
        ).expand(batch=plan.output)
        OSSCompleteMultipartUploadOperator(
            task_id="complete", key="oss://{BUCKET}/lineage/steps.bin",
            upload_id=init.output["upload_id"], parts=parts.output,
        )
    '''
)

RUNNER = textwrap.dedent(
    f"""
    import sys
    from airflow.utils import db
    from oss_provider._compat import dag_bag

    db.resetdb()
    bag = dag_bag(sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    run = bag.get_dag("{DAG_ID}").test(run_conf={{"source": sys.argv[2]}})
    states = {{(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}}
    print("STATES", states)
    sys.exit(0 if str(run.state).endswith("success") else 1)
    """
)


def _events(path: pathlib.Path) -> dict[str, dict]:
    """The COMPLETE event of each task, by task id."""
    done = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        job = event["job"]["name"]
        if event["eventType"] == "COMPLETE" and job.startswith(f"{DAG_ID}."):
            done[job[len(DAG_ID) + 1 :]] = event
    return done


def _openlineage_provider() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(x) for x in version("apache-airflow-providers-openlineage").split(".")[:2])


def _datasets(event: dict, side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event[side]]


def test_a_real_run_reports_sources_and_objects(oss_emulator, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "lineage_dag.py").write_text(DAG_FILE)
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(2 * MIN_PART_SIZE + 7))
    events_file = tmp_path / "ol-events.jsonl"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": oss_emulator.connection_uri_json(),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "oss-provider-tests",
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(events_file), "append": True}
            ),
            "PYTHONWARNINGS": "ignore",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(dags), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert events_file.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    events = _events(events_file)

    local = (f"file://{socket.gethostname()}", str(source))
    assert _datasets(events["upload"], "inputs") == [local]
    assert _datasets(events["upload"], "outputs") == [(f"oss://{BUCKET}", "lineage/whole.bin")]
    # Complete has no source of its own: it reports its upstream tasks' (rendered) source
    assert _datasets(events["complete"], "inputs") == [local]
    assert _datasets(events["complete"], "outputs") == [(f"oss://{BUCKET}", "lineage/steps.bin")]
    # an Asset("oss://...") outlet goes through the provider's normaliser and converter. The
    # openlineage provider reports a TaskFlow task's outlets only in newer releases (seen: not
    # 2.12, the 2.11 and 3.1 locks; yes 2.17 and 2.20); the converter it would call is checked
    # on every line by test_translate_airflow_asset_uses_the_registered_converter.
    announced = _datasets(events["announce"], "outputs")
    reported = ASSET_OUTLETS and _openlineage_provider() >= (2, 17)
    assert announced == ([(f"oss://{BUCKET}", "lineage/whole.bin")] if reported else [])


# -- units ------------------------------------------------------------------------------------


def test_oss_asset_uris_are_normalised():
    from oss_provider._compat import Asset

    assert Asset("oss://My-Bucket/dir/file.csv/").uri == "oss://my-bucket/dir/file.csv"
    assert Asset("oss://b/a%20b.csv#frag").uri == "oss://b/a%20b.csv"
    for uri, reason in (("oss:///key", "must contain a bucket name"),
                        ("oss://bucket:9000/key", "not a host:port")):  # fmt: skip
        if AIRFLOW_V_3_0_PLUS:
            with pytest.raises(ValueError, match=reason):
                Asset(uri)
        else:  # Airflow 2 warns unless [core] strict_dataset_uri_validation is on
            with pytest.warns(UserWarning, match=reason):
                Asset(uri)


def test_asset_factory_and_openlineage_converter():
    from oss_provider._compat import Asset
    from oss_provider.lineage import convert_asset_to_openlineage, create_asset

    asset = create_asset(bucket="b", key="/exports/x.parquet", extra={"k": "v"})
    assert asset.uri == "oss://b/exports/x.parquet" and asset.extra == {"k": "v"}
    dataset = convert_asset_to_openlineage(Asset("oss://b/exports/x.parquet"), None)
    assert (dataset.namespace, dataset.name) == ("oss://b", "exports/x.parquet")
    bucket_only = convert_asset_to_openlineage(Asset("oss://b"), None)
    assert (bucket_only.namespace, bucket_only.name) == ("oss://b", "/")


def test_translate_airflow_asset_uses_the_registered_converter():
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset

    from oss_provider._compat import Asset

    dataset = translate_airflow_asset(Asset("oss://B/k/v.json"), None)
    assert (dataset.namespace, dataset.name) == ("oss://b", "k/v.json")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("s3://src-bucket/in/data.bin", ("s3://src-bucket", "in/data.bin")),
        ("s3a://src-bucket/in/data.bin", ("s3://src-bucket", "in/data.bin")),
        ("gcs://g/x", ("gs://g", "x")),
        ("oss://other/a/b", ("oss://other", "a/b")),
        ("file:///data/in.bin", (f"file://{socket.gethostname()}", "/data/in.bin")),
        ("file://nas01/data/in.bin", ("file://nas01", "/data/in.bin")),
        ("https://example.org/files/x.bin", ("https://example.org", "files/x.bin")),
        ("sftp://user:pw@host:22/home/x", ("sftp://host:22", "home/x")),
        ("/abs/path.bin", (f"file://{socket.gethostname()}", "/abs/path.bin")),
        # file:// and http(s):// paths are percent-encoded URLs: named decoded
        ("file:///data/my%20file.csv", (f"file://{socket.gethostname()}", "/data/my file.csv")),
        ("file://nas01/d/%E6%95%B0%25.csv", ("file://nas01", "/d/数%.csv")),
        ("https://example.org/f/my%20x.bin", ("https://example.org", "f/my x.bin")),
        # object-store keys are taken literally by fsspec: named as written, '#' and '?' too
        ("s3://b/dir/a#1.csv", ("s3://b", "dir/a#1.csv")),
        ("gs://g/q?x=1%20.csv", ("gs://g", "q?x=1%20.csv")),
        ("oss://other/dir/a#1.csv", ("oss://other", "dir/a#1.csv")),
        ("/abs/my%20file.bin", (f"file://{socket.gethostname()}", "/abs/my%20file.bin")),
    ],
)
def test_source_datasets(source, expected):
    from oss_provider.lineage import source_dataset

    dataset = source_dataset(source)
    assert (dataset.namespace, dataset.name) == expected


def test_source_dataset_of_paths_and_streams(tmp_path):
    import io

    from oss_provider._compat import ObjectStoragePath
    from oss_provider.lineage import source_dataset

    host = socket.gethostname()
    relative = source_dataset("rel/x.bin")
    assert (relative.namespace, relative.name) == (f"file://{host}", os.path.abspath("rel/x.bin"))
    local = source_dataset(tmp_path / "x.bin")
    assert (local.namespace, local.name) == (f"file://{host}", str(tmp_path / "x.bin"))
    remote = source_dataset(ObjectStoragePath("s3://b/dir/k.bin", conn_id="aws_src"))
    assert (remote.namespace, remote.name) == ("s3://b", "dir/k.bin")  # no conn id in it
    hostile = source_dataset(ObjectStoragePath("s3://b/dir/my file#1.csv", conn_id="aws_src"))
    assert (hostile.namespace, hostile.name) == ("s3://b", "dir/my file#1.csv")
    literal = source_dataset(ObjectStoragePath(f"file://{tmp_path}/my%20file.bin"))
    assert (literal.namespace, literal.name) == (f"file://{host}", f"{tmp_path}/my%20file.bin")
    assert source_dataset(io.BytesIO(b"stream")) is None
