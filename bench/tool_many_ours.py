"""Child process: this project's many-files engine (``upload_files``) on a large tree, for B7.

Besides the upload it reports what B7 checks: the size of the XCom value the upload task would
push (``OSSUploadFilesOperator`` returns ``report.to_dict()`` as is: its JSON length), the rows the
report kept, and the progress lines the run logged (how many, and the longest stretch without
one, counted from the operation's start to its end).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from typing import Any

from bench.common import child_main
from oss_provider.client.api import OSSClient
from oss_provider.client.models import Credentials


class _LineClock(logging.Handler):
    """Times the engine's log lines (progress, counting, start and end)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: list[float] = []
        self.progress = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.times.append(time.monotonic())
        if record.getMessage().startswith("files "):
            self.progress += 1


def main(a: dict[str, Any]) -> dict[str, Any]:
    from oss_provider.transfer.files import upload_files

    clock = _LineClock()
    logger = logging.getLogger("oss_provider.transfer.files")
    logger.addHandler(clock)
    logger.setLevel(logging.INFO)
    started = time.monotonic()
    client = OSSClient(a["endpoint"], Credentials(a["ak"], a["sk"]), region=a["region"])
    with client:
        report = upload_files(
            client,
            a["bucket"],
            a["root"],
            prefix=a["prefix"],
            part_size=a["part_size"],
            concurrency=a["concurrency"],
        ).to_dict()
    ended = time.monotonic()
    marks = [started, *clock.times, ended]
    return {
        "bytes": report["bytes_uploaded"],
        "files": report["files"],
        "sent": report["uploaded"],
        "failed": report["failed"],
        "rows": len(report["rows"]),
        "xcom_bytes": len(json.dumps(report)),
        "progress_lines": clock.progress,
        "log_lines": len(clock.times),
        "max_log_gap_s": round(max(b - a for a, b in itertools.pairwise(marks)), 2),
    }


if __name__ == "__main__":
    import oss_provider.transfer.files  # noqa: F401 - imported before the clock starts

    child_main(main)
