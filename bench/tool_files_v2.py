"""Child process: the alibabacloud-oss-v2 SDK's ``Uploader`` per file on a thread pool (one
PutObject below a part, parallel parts above)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import alibabacloud_oss_v2 as oss

from bench.common import child_main


def main(a: dict[str, Any]) -> dict[str, Any]:
    cfg = oss.config.load_default()  # V4, CRC-64 checks on (the SDK's defaults)
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(a["ak"], a["sk"])
    cfg.region = a["region"]
    cfg.endpoint = a["endpoint"]
    cfg.use_path_style = True
    client = oss.Client(cfg)
    uploader = oss.Uploader(client, part_size=a["part_size"], parallel_num=a["part_threads"])
    root = a["root"]
    paths = [os.path.join(d, f) for d, _, names in os.walk(root) for f in names]
    total = sum(os.path.getsize(p) for p in paths)

    def one(path: str) -> None:
        key = a["prefix"] + os.path.relpath(path, root).replace(os.sep, "/")
        uploader.upload_file(oss.PutObjectRequest(bucket=a["bucket"], key=key), filepath=path)

    with ThreadPoolExecutor(a["concurrency"]) as pool:
        list(pool.map(one, paths))
    return {"bytes": total, "sent": len(paths)}


if __name__ == "__main__":
    child_main(main)
