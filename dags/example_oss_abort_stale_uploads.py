"""Daily sweep of stale incomplete multipart uploads (they are invisible in listings and billed).

Trigger it by hand with ``{"dry_run": true}`` first to see what it would abort. Params:
``bucket`` (default: the connection's bucket), ``prefixes`` (list; ``[""]`` = whole bucket),
``older_than`` ("24h", "7d", "1d12h", "P7D", ...; at most 100 years) and ``dry_run``. Ages are
measured with the OSS server's clock: an upload initiated within ``older_than`` is never aborted,
and (``skip_active``, the default) neither is an older one whose newest part was written within
``older_than``, so a slow or resumed upload that started days ago is not cut off. A bad param
fails the task before any request, without retries. The report (counts, bytes freed, per-upload
rows) goes to XCom and the task log.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models.param import Param

from oss_provider.operators.cleanup import OSSAbortStaleUploadsOperator

with DAG(
    dag_id="example_oss_abort_stale_uploads",
    description="Abort incomplete OSS multipart uploads older than a threshold (server clock)",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # params keep their types (list, bool, None)
    tags=["oss", "cleanup", "example"],
    params={
        "bucket": Param(None, type=["null", "string"], description="default: connection bucket"),
        "prefixes": Param([""], type="array", items={"type": "string"}),
        "older_than": Param("24h", type="string", description='e.g. "24h", "7d", "1d12h"'),
        "dry_run": Param(False, type="boolean"),
    },
) as dag:
    OSSAbortStaleUploadsOperator(
        task_id="abort_stale_uploads",
        bucket_name="{{ params.bucket }}",
        prefixes="{{ params.prefixes }}",
        older_than="{{ params.older_than }}",
        dry_run="{{ params.dry_run }}",
        skip_active=True,  # the default, spelled out: keep old uploads that are being resumed
        max_aborts=100_000,
    )
