"""Child process: the ceiling. Plain ``requests`` PUTs of the same parts at the same concurrency.

No per-request signing (URLs are presigned with one HMAC each, microseconds), no MD5, no CRC:
what moving the bytes alone costs with the same HTTP stack the other Python tools use.
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.common import child_main, presign_v1


def main(a: dict[str, Any]) -> dict[str, Any]:
    ep, ak, sk, bucket, key = a["endpoint"], a["ak"], a["sk"], a["bucket"], a["key"]
    size, part_size, concurrency = a["size"], a["part_size"], a["concurrency"]
    init = requests.post(presign_v1(ep, ak, sk, "POST", bucket, key, {"uploads": ""}), timeout=60)
    init.raise_for_status()
    upload_id = re.search(r"<UploadId>([^<]+)</UploadId>", init.text).group(1)
    n_parts = max(1, -(-size // part_size))
    local = threading.local()
    fd = os.open(a["source"], os.O_RDONLY)

    def put(n: int) -> tuple[int, str]:
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        url = presign_v1(
            ep, ak, sk, "PUT", bucket, key, {"partNumber": str(n), "uploadId": upload_id}
        )
        offset = (n - 1) * part_size
        body = os.pread(fd, min(part_size, size - offset), offset)
        r = s.put(url, data=body, timeout=300)
        r.raise_for_status()
        return n, r.headers["ETag"]

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            etags = list(pool.map(put, range(1, n_parts + 1)))
    finally:
        os.close(fd)
    xml = (
        "<CompleteMultipartUpload>"
        + "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in etags)
        + "</CompleteMultipartUpload>"
    )
    url = presign_v1(ep, ak, sk, "POST", bucket, key, {"uploadId": upload_id})
    done = requests.post(url, data=xml.encode(), timeout=300)
    done.raise_for_status()
    return {"bytes": size}


if __name__ == "__main__":
    child_main(main)
