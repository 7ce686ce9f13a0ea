"""Hot-path costs of the client, one process, no server: checksums, CRC combine, signing.

    .venv/bin/python -m bench.micro

CRC-64 must run at memory speed (a pure-Python CRC runs at ~17 MB/s), MD5 is what Content-MD5
costs, combining 10,000 part CRCs happens once per Complete, and every request is signed.
"""

from __future__ import annotations

import hashlib
import os
import time

from oss_provider.client.checksums import combine_part_crcs, crc64
from oss_provider.client.models import Credentials
from oss_provider.client.signing import sign_headers

MiB = 1024 * 1024


def _best_rate(fn, data: bytes, rounds: int = 5) -> float:
    """Best MB/s (10^6 bytes) over a few rounds: the machine's speed, not its noise."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn(data)
        best = min(best, time.perf_counter() - started)
    return len(data) / best / 1e6


def _sign_many(version: str, count: int) -> float:
    creds = Credentials("LTAI-bench-key", "bench-secret-not-real", "bench-sts-token")
    started = time.perf_counter()
    for n in range(count):
        sign_headers(
            "PUT",
            "bench-bucket",
            f"exports/2026/part-{n}.bin",
            [("partNumber", str(n % 10000 + 1)), ("uploadId", "0004B9894A22E5B1888A1E29F823")],
            {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "Content-Type": "application/octet-stream"},
            creds,
            version=version,
            region="cn-hangzhou",
            when=time.time(),
        )
    return time.perf_counter() - started


def main() -> None:
    data = os.urandom(256 * MiB)
    print(f"CRC-64 (fastcrc)     {_best_rate(crc64, data) / 1000:8.1f} GB/s on 256 MiB")
    print(f"MD5 (hashlib)        {_best_rate(lambda d: hashlib.md5(d).digest(), data):8.0f} MB/s")
    parts = [(crc64(data[i * MiB : (i + 1) * MiB]), MiB) for i in range(16)] * 625
    started = time.perf_counter()
    combine_part_crcs(parts)
    print(f"CRC combine          {time.perf_counter() - started:8.3f} s for 10,000 parts")
    for version in ("v4", "v1"):
        print(f"sign 10,000 ({version})     {_sign_many(version, 10_000):8.3f} s")


if __name__ == "__main__":
    main()
