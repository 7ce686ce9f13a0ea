"""Child process: this project (``oss_provider.transfer.upload.upload`` and the cleanup sweep)."""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.common import child_main
from oss_provider.client.api import OSSClient
from oss_provider.client.models import Credentials


def _client(a: dict[str, Any]) -> OSSClient:
    return OSSClient(a["endpoint"], Credentials(a["ak"], a["sk"]), region=a["region"])


def upload(a: dict[str, Any]) -> dict[str, Any]:
    from oss_provider.transfer import upload as transfer

    kwargs: dict[str, Any] = {}
    if a.get("part_size"):
        kwargs["part_size"] = a["part_size"]
    if a.get("concurrency"):
        kwargs["concurrency"] = a["concurrency"]
    if a.get("content_md5") is False:
        kwargs["content_md5"] = False
    source: Any = a["source"] if a["mode"] == "file" else sys.stdin.buffer
    with _client(a) as client:
        transfer.upload(client, a["bucket"], a["key"], source, **kwargs)
    return {"bytes": a["size"]}


_prepared: dict[str, Any] = {}


def prepare(a: dict[str, Any]) -> None:
    """Untimed: import Airflow and build the cleanup operator (defaults) before the clock starts."""
    if a["mode"] != "cleanup":
        from oss_provider.transfer import upload as transfer  # noqa: F401

        return
    try:
        from oss_provider.hooks.oss_multipart import OSSMultipartHook  # noqa: F401 - untimed import
        from oss_provider.operators.cleanup import OSSAbortStaleUploadsOperator
    except ImportError:
        return
    op = OSSAbortStaleUploadsOperator(task_id="bench_cleanup", bucket_name=a["bucket"])
    _prepared["operator"] = op


def cleanup(a: dict[str, Any]) -> dict[str, Any]:
    """The cleanup operator with its defaults (falls back to the sweep it wraps if no hook yet)."""
    op = _prepared.get("operator")
    if op is not None:
        report = op.execute({})
        via = "OSSAbortStaleUploadsOperator.execute"
    else:
        from oss_provider.cleanup import abort_stale_uploads

        with _client(a) as client:
            report = abort_stale_uploads(client, a["bucket"]).to_dict()
        via = "oss_provider.cleanup.abort_stale_uploads"
    counts = report.get("counts", {})
    return {
        "seen": counts.get("seen"),
        "aborted": counts.get("aborted"),
        "via": via,
        # the XCom value: must stay the same size whatever the number of uploads
        "report_bytes": len(json.dumps(report)),
        "report_rows": len(report.get("rows", [])),
    }


def main(a: dict[str, Any]) -> dict[str, Any]:
    return cleanup(a) if a["mode"] == "cleanup" else upload(a)


if __name__ == "__main__":
    child_main(main, prepare)
