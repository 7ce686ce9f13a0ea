"""How fast does the emulator ingest parts? (It must not be the bottleneck when clients are compared.)

Starts the emulator as a separate process, then N threads each send 8 MiB UploadPart requests
(V1-signed, raw http.client so the client side costs almost nothing) over keep-alive connections.
Prints MB/s (1 MB = 10^6 bytes) of part bodies accepted, MD5 and CRC-64 computed and on disk.

    .venv/bin/python bench/emulator_ingest.py [--threads 4] [--part-mib 8] [--parts 96]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import os
import re
import statistics
import threading
import time
from email.utils import formatdate

from oss_provider.emulator.process import EmulatorServer

BUCKET = "bench-bucket"
KEY = "ingest.bin"


def _sign(sk: str, method: str, resource: str, date: str, content_md5: str = "") -> str:
    sts = f"{method}\n{content_md5}\n\n{date}\n{resource}"
    return base64.b64encode(hmac.new(sk.encode(), sts.encode(), hashlib.sha1).digest()).decode()


def _call(conn, srv, method, key, query, body=b"", content_md5=""):
    date = formatdate(usegmt=True)
    sub = "&".join(sorted(q for q in query.split("&") if q))
    resource = f"/{BUCKET}/{key}" + (f"?{sub}" if sub else "")
    headers = {
        "Date": date,
        "Authorization": f"OSS {srv.access_key_id}:{_sign(srv.access_key_secret, method, resource, date, content_md5)}",
        "Content-Length": str(len(body)),
    }
    if content_md5:
        headers["Content-MD5"] = content_md5
    conn.request(method, f"/{BUCKET}/{key}?{query}", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {query}: HTTP {resp.status} {data[:300]!r}")
    return resp, data


def _one_round(srv: EmulatorServer, threads: int, parts: int, payload: bytes, md5: str) -> float:
    """Upload ``parts`` parts with ``threads`` connections; MB/s of part bodies."""
    host, port = srv.host, srv.port
    conn = http.client.HTTPConnection(host, port, timeout=120)
    _, data = _call(conn, srv, "POST", KEY, "uploads")
    upload_id = re.search(rb"<UploadId>(\w+)</UploadId>", data).group(1).decode()
    counter = iter(range(1, parts + 1))
    lock = threading.Lock()
    errors: list[Exception] = []

    def worker() -> None:
        c = http.client.HTTPConnection(host, port, timeout=120)
        try:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                query = f"partNumber={n}&uploadId={upload_id}"
                _call(c, srv, "PUT", KEY, query, payload, md5)
        except Exception as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        finally:
            c.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    _call(conn, srv, "DELETE", KEY, f"uploadId={upload_id}")
    conn.close()
    return parts * len(payload) / elapsed / 1e6


def run(threads: int, part_mib: int, parts: int, content_md5: bool, rounds: int) -> list[float]:
    payload = os.urandom(part_mib * 1024 * 1024)
    md5 = base64.b64encode(hashlib.md5(payload).digest()).decode() if content_md5 else ""
    with EmulatorServer(buckets=(BUCKET,)) as srv:
        return [_one_round(srv, threads, parts, payload, md5) for _ in range(rounds)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--part-mib", type=int, default=8)
    p.add_argument("--parts", type=int, default=96)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-content-md5", action="store_true", help="do not send Content-MD5")
    args = p.parse_args()
    speeds = run(args.threads, args.part_mib, args.parts, not args.no_content_md5, args.rounds)
    print(
        f"emulator ingest: {args.threads} threads x {args.part_mib} MiB parts, {args.parts} parts "
        f"per round: "
        + ", ".join(f"{s:.0f}" for s in speeds)
        + f" MB/s (median {statistics.median(speeds):.0f} MB/s)"
    )


if __name__ == "__main__":
    main()
