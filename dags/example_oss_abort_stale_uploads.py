"""Daily sweep of stale incomplete multipart uploads (they are invisible in listings and billed).

Safe to unpause: until you opt in, every run is a **dry run** that lists what it would abort and
aborts nothing. Opt in for the scheduled runs with the Airflow Variable

    airflow variables set oss_abort_stale_uploads_dry_run false

or for one run with ``airflow dags trigger example_oss_abort_stale_uploads -c '{"dry_run": false}'``
(the ``dry_run`` param, when given, wins over the Variable). Params: ``bucket`` (default: the
connection's bucket), ``prefixes`` (list; ``[""]`` = whole bucket), ``older_than`` ("24h", "7d",
"1d12h", "P7D", ...; at most 100 years) and ``dry_run``. Ages are measured with the OSS server's
clock: an upload initiated within ``older_than`` is never aborted, and (``skip_active``, the
default) neither is an older one whose newest part was written within ``older_than``, so a slow or
resumed upload that started days ago is not cut off. A bad param fails the task before any
request, without retries. The report (counts, bytes freed, per-upload rows) goes to XCom and the
task log.
"""

from __future__ import annotations

from datetime import datetime

# common-compat maps each name to where the running Airflow keeps it (2.11 and every 3.x)
from airflow.providers.common.compat.sdk import DAG, Param

from oss_provider.operators.cleanup import OSSAbortStaleUploadsOperator

DRY_RUN_VARIABLE = "oss_abort_stale_uploads_dry_run"
# The run's dry_run param when given, else the Variable, else True: nothing is aborted until a
# user says so.
DRY_RUN = (
    "{{ params.dry_run if params.dry_run is not none "
    f"else var.value.get('{DRY_RUN_VARIABLE}', 'true') }}}}"
)

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
        # null: follow the Variable below (a dry run unless it says "false")
        "dry_run": Param(
            None,
            type=["null", "boolean"],
            description=f"empty: the Variable {DRY_RUN_VARIABLE} decides (default: true)",
        ),
    },
) as dag:
    OSSAbortStaleUploadsOperator(
        task_id="abort_stale_uploads",
        bucket_name="{{ params.bucket }}",
        prefixes="{{ params.prefixes }}",
        older_than="{{ params.older_than }}",
        dry_run=DRY_RUN,
        skip_active=True,  # the default, spelled out: keep old uploads that are being resumed
        max_aborts=100_000,
    )
