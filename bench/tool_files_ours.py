"""Child process: this project's many-files engine (``oss_provider.transfer.files.upload_files``)."""

from __future__ import annotations

from typing import Any

from bench.common import child_main
from oss_provider.client.api import OSSClient
from oss_provider.client.models import Credentials


def main(a: dict[str, Any]) -> dict[str, Any]:
    from oss_provider.transfer.files import upload_files

    client = OSSClient(a["endpoint"], Credentials(a["ak"], a["sk"]), region=a["region"])
    with client:
        report = upload_files(
            client,
            a["bucket"],
            a["root"],
            prefix=a["prefix"],
            part_size=a["part_size"],
            concurrency=a["concurrency"],
            skip_unchanged=a.get("skip_unchanged", True),
            compare=a.get("compare", "checksum"),
            files=a.get("files"),  # only these relative paths (B6's changed files alone)
        ).to_dict()
    return {
        "bytes": report["bytes_uploaded"],
        "sent": report["uploaded"],
        "skipped": report["skipped"],
    }


if __name__ == "__main__":
    import oss_provider.transfer.files  # noqa: F401 - imported before the clock starts

    child_main(main)
