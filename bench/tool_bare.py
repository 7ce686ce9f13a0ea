"""Child process: the ceiling. Plain ``requests`` PUTs of the same parts at the same concurrency.

No per-request signing (URLs are presigned with one HMAC each, microseconds), no MD5, no CRC:
what moving the bytes alone costs with the same HTTP stack the other Python tools use.

``integrity=True`` (B1's "floor" row) adds exactly this project's integrity work on the same
bytes and nothing else: each part's MD5 (``hashlib``, sent as ``Content-MD5``, so the server
checks it as it does for ours) and CRC-64 (the ``fastcrc`` function of
``oss_provider.client.checksums``), both computed over 1 MiB chunks as the engine reads a file
range; each part's CRC-64 is compared with the server's ``x-oss-hash-crc64ecma``, and the part
CRCs are combined and compared with the whole object's at Complete. That is the limit of the
engine's own checks: what it would cost with no scheduling, signing or bookkeeping at all.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.common import child_main, presign_v1
from oss_provider.client.bodies import CHUNK
from oss_provider.client.checksums import combine_part_crcs, crc64


def _digests(body: bytes) -> tuple[str, int]:
    """(Content-MD5, CRC-64) of a part, read in the engine's 1 MiB chunks."""
    md5, crc = hashlib.md5(), 0
    view = memoryview(body)
    for start in range(0, len(body), CHUNK):
        chunk = view[start : start + CHUNK]
        md5.update(chunk)
        crc = crc64(chunk, crc)
    return base64.b64encode(md5.digest()).decode(), crc


def main(a: dict[str, Any]) -> dict[str, Any]:
    ep, ak, sk, bucket, key = a["endpoint"], a["ak"], a["sk"], a["bucket"], a["key"]
    size, part_size, concurrency = a["size"], a["part_size"], a["concurrency"]
    integrity = bool(a.get("integrity"))
    init = requests.post(presign_v1(ep, ak, sk, "POST", bucket, key, {"uploads": ""}), timeout=60)
    init.raise_for_status()
    upload_id = re.search(r"<UploadId>([^<]+)</UploadId>", init.text).group(1)
    n_parts = max(1, -(-size // part_size))
    local = threading.local()
    fd = os.open(a["source"], os.O_RDONLY)

    def put(n: int) -> tuple[int, str, int, int]:
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        offset = (n - 1) * part_size
        body = os.pread(fd, min(part_size, size - offset), offset)
        headers, crc = {}, 0
        if integrity:
            headers["Content-MD5"], crc = _digests(body)
        params = {"partNumber": str(n), "uploadId": upload_id}
        url = presign_v1(
            ep, ak, sk, "PUT", bucket, key, params, content_md5=headers.get("Content-MD5", "")
        )
        r = s.put(url, data=body, headers=headers, timeout=300)
        r.raise_for_status()
        if integrity and int(r.headers["x-oss-hash-crc64ecma"]) != crc:
            raise RuntimeError(f"part {n}: stored CRC-64 differs from the part's")
        return n, r.headers["ETag"], crc, len(body)

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            parts = list(pool.map(put, range(1, n_parts + 1)))
    finally:
        os.close(fd)
    xml = (
        "<CompleteMultipartUpload>"
        + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e, *_ in parts
        )
        + "</CompleteMultipartUpload>"
    )
    url = presign_v1(ep, ak, sk, "POST", bucket, key, {"uploadId": upload_id})
    done = requests.post(url, data=xml.encode(), timeout=300)
    done.raise_for_status()
    if integrity:
        whole = combine_part_crcs((crc, length) for _, _, crc, length in parts)
        stored = done.headers.get("x-oss-hash-crc64ecma")
        if stored is not None and int(stored) != whole:
            raise RuntimeError(f"object CRC-64 {stored} differs from the parts' combined {whole}")
    return {"bytes": size}


if __name__ == "__main__":
    child_main(main)
