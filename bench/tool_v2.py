"""Child process: the alibabacloud-oss-v2 SDK's ``Uploader`` (file and stream)."""

from __future__ import annotations

import sys
from typing import Any

import alibabacloud_oss_v2 as oss

from bench.common import child_main


def _client(a: dict[str, Any]) -> oss.Client:
    cfg = oss.config.load_default()  # V4, CRC-64 checks on (the SDK's defaults)
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(a["ak"], a["sk"])
    cfg.region = a["region"]
    cfg.endpoint = a["endpoint"]
    cfg.use_path_style = True
    return oss.Client(cfg)


class ReadOnly:
    """Only ``read``: the v2 SDK calls ``tell()`` on anything with ``seek``/``tell`` and catches
    only ``io.UnsupportedOperation``, so a real pipe (``tell`` -> ``OSError: Illegal seek``) crashes
    ``upload_from``; a reader without ``seek`` is how a user gets past it."""

    def __init__(self, raw: Any) -> None:
        self.read = raw.read


def main(a: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if a.get("part_size"):
        kwargs["part_size"] = a["part_size"]
    if a.get("concurrency"):
        kwargs["parallel_num"] = a["concurrency"]
    uploader = oss.Uploader(_client(a), **kwargs)
    request = oss.PutObjectRequest(bucket=a["bucket"], key=a["key"])
    if a["mode"] == "file":
        uploader.upload_file(request, filepath=a["source"])
    elif a["mode"] == "stream":
        uploader.upload_from(request, reader=ReadOnly(sys.stdin.buffer))
    else:
        raise ValueError(f"unknown mode {a['mode']!r}")
    return {"bytes": a["size"]}


if __name__ == "__main__":
    child_main(main)
