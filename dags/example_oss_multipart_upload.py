"""Upload one large file to OSS as a multipart upload spread over mapped tasks.

initiate -> plan -> upload_parts (mapped: one task per batch of parts, parallel inside)
-> complete; ``abort`` runs only when something failed (a teardown, so the run still ends
failed) and leaves no upload behind. A retried ``upload_parts`` task keeps the parts the server
already has (same size and CRC-64) and sends only the rest.

Params: ``source`` (a path every worker can read, or an fsspec URL such as ``s3://...``,
``gs://...``, ``https://...``, or ``oss://bucket/key`` for a server-side copy), ``bucket``
(default: the connection's bucket), ``key``, ``part_size`` (bytes; default 8 MiB, grown to fit
10,000 parts), ``batches`` (mapped tasks; the plan never exceeds 1024, Airflow's default
``max_map_length``) and ``concurrency`` (parts in flight per task; memory per task is at most
concurrency x part size). Every uploaded object is announced as the asset ``oss://bucket/key``
through the alias ``oss_multipart_uploads``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# common-compat maps each name to where the running Airflow keeps it (2.11 and every 3.x)
from airflow.providers.common.compat.sdk import DAG, AssetAlias, Param

from oss_provider.operators.multipart import (
    OSSAbortMultipartUploadOperator,
    OSSCompleteMultipartUploadOperator,
    OSSInitiateMultipartUploadOperator,
    OSSPlanMultipartUploadOperator,
    OSSUploadPartsOperator,
)

TARGET = {"bucket_name": "{{ params.bucket }}", "key": "{{ params.key }}"}

with DAG(
    dag_id="example_oss_multipart_upload",
    description="Parallel, verified, resumable multipart upload to OSS with mapped part batches",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,  # params keep their types (int, None)
    default_args={"retries": 2, "retry_delay": timedelta(seconds=3)},
    tags=["oss", "multipart", "example"],
    params={
        "source": Param("", type="string", description="path, fsspec URL or oss://bucket/key"),
        "bucket": Param(None, type=["null", "string"], description="default: connection bucket"),
        "key": Param("uploads/example.bin", type="string", minLength=1),
        "part_size": Param(
            None,
            type=["null", "integer"],
            minimum=102_400,
            maximum=5 * 1024**3,
            description="bytes, e.g. 16777216 = 16 MiB; empty: 8 MiB, grown to fit 10,000 parts",
        ),
        "batches": Param(4, type="integer", minimum=1, maximum=1024, description="mapped tasks"),
        "concurrency": Param(
            4, type="integer", minimum=1, maximum=64, description="parts in flight per task"
        ),
    },
) as dag:
    initiate = OSSInitiateMultipartUploadOperator(task_id="initiate", **TARGET)
    plan = OSSPlanMultipartUploadOperator(
        task_id="plan",
        source="{{ params.source }}",
        part_size="{{ params.part_size }}",
        batches="{{ params.batches }}",
    )
    upload_parts = OSSUploadPartsOperator.partial(
        task_id="upload_parts",
        **TARGET,
        upload_id=initiate.output["upload_id"],
        source="{{ params.source }}",
        concurrency="{{ params.concurrency }}",
        map_index_template="parts {{ task.batch.first_part }}-{{ task.batch.last_part }}",
    ).expand(batch=plan.output)
    complete = OSSCompleteMultipartUploadOperator(
        task_id="complete",
        **TARGET,
        upload_id=initiate.output["upload_id"],
        parts=upload_parts.output,
        expected_size="{{ ti.xcom_pull(task_ids='plan')[0]['total_size'] }}",
        outlets=[AssetAlias("oss_multipart_uploads")],
    )
    abort = OSSAbortMultipartUploadOperator(
        task_id="abort",
        **TARGET,
        upload_id="{{ ti.xcom_pull(task_ids='initiate', key='upload_id') }}",
    )
    [upload_parts, complete] >> abort
    # A teardown does not decide the run's state, so a failed upload still fails the run; it
    # runs only when an upstream task failed (no upload is left behind).
    abort.as_teardown(setups=initiate)
    abort.trigger_rule = "one_failed"
