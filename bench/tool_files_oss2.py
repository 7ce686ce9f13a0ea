"""Child process: a user's oss2 loop over a directory on a thread pool (``resumable_upload`` per
file: one ``put_object`` below the threshold, threaded multipart above it)."""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import oss2

from bench.common import child_main


def main(a: dict[str, Any]) -> dict[str, Any]:
    oss2.defaults.connection_pool_size = a["concurrency"] * 2  # a pool as wide as the threads
    auth = oss2.AuthV4(a["ak"], a["sk"])
    bucket = oss2.Bucket(auth, a["endpoint"], a["bucket"], region=a["region"])
    root = a["root"]
    paths = [os.path.join(d, f) for d, _, names in os.walk(root) for f in names]
    total = sum(os.path.getsize(p) for p in paths)
    with tempfile.TemporaryDirectory(prefix="bench-oss2-") as store_dir:
        store = oss2.ResumableStore(root=store_dir)

        def one(path: str) -> None:
            key = a["prefix"] + os.path.relpath(path, root).replace(os.sep, "/")
            oss2.resumable_upload(
                bucket, key, path, store=store, multipart_threshold=a["part_size"],
                part_size=a["part_size"], num_threads=a["part_threads"],
            )  # fmt: skip

        with ThreadPoolExecutor(a["concurrency"]) as pool:
            list(pool.map(one, paths))
    return {"bytes": total, "sent": len(paths)}


if __name__ == "__main__":
    child_main(main)
