"""Helpers for tests that race or kill writer processes: the environment a child writer reads
its emulator and bucket from, and what a key's in-progress uploads hold."""

from __future__ import annotations

import os

from oss_provider.transfer.ownership import RECORD_PART_NUMBERS


def child_env(emulator, bucket: str, **extra: str) -> dict[str, str]:
    """``os.environ`` plus ``EP``/``AK``/``SK``/``REGION``/``BUCKET`` for ``emulator``."""
    return dict(
        os.environ,
        EP=emulator.endpoint,
        AK=emulator.access_key_id,
        SK=emulator.access_key_secret,
        REGION=emulator.region,
        BUCKET=bucket,
        **extra,
    )


def data_parts(client, bucket: str, key: str) -> dict[str, int]:
    """upload id -> data parts stored (owner records left out), per in-progress upload of ``key``."""
    return {
        u.upload_id: sum(
            1
            for p in client.iter_parts(bucket, key, u.upload_id)
            if p.part_number not in RECORD_PART_NUMBERS
        )
        for u in client.iter_multipart_uploads(bucket, prefix=key)
        if u.key == key
    }
