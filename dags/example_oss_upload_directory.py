"""Upload a directory (or a glob, or a remote prefix) to OSS, spread over mapped tasks.

plan -> upload (mapped: one task per batch of files, balanced by bytes; inside a task small files
go up in one PUT each and big ones in parallel parts, with one shared bound on requests and
memory) -> summary. ``skip_unchanged`` is on, so a rerun, or a retried task, sends only what is
missing or changed; a failed file fails its task at the end, naming it, with nothing
half-uploaded left behind.

Params: ``source`` (a directory every worker can read, a glob such as ``/data/**/*.csv``, or an
fsspec URL such as ``s3://bucket/exports/``), ``prefix`` (destination key prefix), ``bucket``
(default: the connection's bucket), ``include`` / ``exclude`` (glob lists), ``batches`` (mapped
tasks, at most 1024) and ``concurrency`` (requests in flight per task; memory per task is at most
concurrency x part size).
"""

from __future__ import annotations

from datetime import datetime, timedelta

# common-compat maps each name to where the running Airflow keeps it (2.11 and every 3.x)
from airflow.providers.common.compat.sdk import DAG, Param, task

from oss_provider.operators.files import OSSPlanUploadFilesOperator, OSSUploadFilesOperator

with DAG(
    dag_id="example_oss_upload_directory",
    description="Upload a directory to OSS in byte-balanced mapped batches, skipping unchanged files",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,  # params keep their types (lists, ints, None)
    default_args={"retries": 2, "retry_delay": timedelta(seconds=3)},
    tags=["oss", "example"],
    params={
        "source": Param("", type="string", description="directory, glob or fsspec URL"),
        "prefix": Param("uploads/directory", type="string", description="destination prefix"),
        "bucket": Param(None, type=["null", "string"], description="default: connection bucket"),
        "include": Param(None, type=["null", "array"], description='e.g. ["*.parquet"]'),
        "exclude": Param(None, type=["null", "array"], description='e.g. ["_tmp/*"]'),
        "batches": Param(4, type="integer", minimum=1, maximum=1024, description="mapped tasks"),
        "concurrency": Param(
            8, type="integer", minimum=1, maximum=64, description="requests in flight per task"
        ),
    },
) as dag:
    plan = OSSPlanUploadFilesOperator(
        task_id="plan",
        source="{{ params.source }}",
        include="{{ params.include }}",
        exclude="{{ params.exclude }}",
        batches="{{ params.batches }}",
    )
    upload = OSSUploadFilesOperator.partial(
        task_id="upload",
        source="{{ params.source }}",
        prefix="{{ params.prefix }}",
        bucket_name="{{ params.bucket }}",
        concurrency="{{ params.concurrency }}",
        map_index_template="batch {{ task.batch.batch }}: {{ task.batch.count }} files",
    ).expand(batch=plan.output)

    @task
    def summary(reports: list[dict]) -> dict:
        """Totals over the mapped tasks' reports (each already capped)."""
        total = {"tasks": 0, "files": 0, "uploaded": 0, "skipped": 0, "exists": 0, "bytes": 0}
        for i in range(len(reports)):  # by index: iterating a lazy XCom list reads one past
            report = reports[i]
            total["tasks"] += 1
            for name in ("files", "uploaded", "skipped", "exists"):
                total[name] += report[name]
            total["bytes"] += report["bytes_uploaded"]
        print(f"Uploaded {total['uploaded']} of {total['files']} files in {total['tasks']} tasks")
        return total

    summary(upload.output)
