"""Child process: the oss2 SDK (``resumable_upload``, and a sequential list-and-abort loop)."""

from __future__ import annotations

import tempfile
from email.utils import parsedate_to_datetime
from typing import Any

import oss2

from bench.common import child_main


def _bucket(a: dict[str, Any]) -> oss2.Bucket:
    # V4 signing, like the other tools; enable_crc=True is oss2's default (crcmod C extension).
    auth = oss2.AuthV4(a["ak"], a["sk"])
    return oss2.Bucket(auth, a["endpoint"], a["bucket"], region=a["region"])


def upload_file(a: dict[str, Any]) -> dict[str, Any]:
    bucket = _bucket(a)
    kwargs: dict[str, Any] = {}
    if a.get("part_size"):
        kwargs["part_size"] = a["part_size"]
        kwargs["multipart_threshold"] = a["part_size"]
    if a.get("concurrency"):
        kwargs["num_threads"] = a["concurrency"]
    with tempfile.TemporaryDirectory(prefix="bench-oss2-") as store_dir:
        store = oss2.ResumableStore(root=store_dir)  # oss2's default root is ~/.py-oss-upload
        oss2.resumable_upload(bucket, a["key"], a["source"], store=store, **kwargs)
    return {"bytes": a["size"]}


def cleanup_loop(a: dict[str, Any]) -> dict[str, Any]:
    """What a user writes with oss2: list a page, abort the stale ones one by one, next page."""
    bucket = _bucket(a)
    older_than = a["older_than_s"]
    key_marker = upload_id_marker = ""
    aborted = seen = 0
    while True:
        page = bucket.list_multipart_uploads(
            key_marker=key_marker, upload_id_marker=upload_id_marker, max_uploads=1000
        )
        now = parsedate_to_datetime(page.headers["date"]).timestamp()  # the server's clock
        for u in page.upload_list:
            seen += 1
            if now - u.initiation_date > older_than:
                bucket.abort_multipart_upload(u.key, u.upload_id)
                aborted += 1
        if not page.is_truncated:
            break
        key_marker, upload_id_marker = page.next_key_marker, page.next_upload_id_marker
    return {"seen": seen, "aborted": aborted}


def main(a: dict[str, Any]) -> dict[str, Any]:
    return {"file": upload_file, "cleanup": cleanup_loop}[a["mode"]](a)


if __name__ == "__main__":
    child_main(main)
