"""A worker killed with SIGKILL loses only its in-flight parts: the re-run sends only the rest."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from _writers import child_env

from oss_provider.client.checksums import crc64
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.transfer import upload as transfer
from oss_provider.transfer.ownership import RECORD_PART_NUMBERS

pytestmark = pytest.mark.timeout(120)

PARTS = 12

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from oss_provider.client.api import OSSClient
    from oss_provider.client.models import Credentials
    from oss_provider.transfer.sources import LocalFileSource
    from oss_provider.transfer.upload import upload

    class SlowFile(LocalFileSource):  # a slow disk: parts finish one by one
        def read(self, offset, length):
            time.sleep(0.25)
            return super().read(offset, length)

    client = OSSClient(os.environ["EP"], Credentials(os.environ["AK"], os.environ["SK"]),
                       region=os.environ["REGION"])
    upload(client, os.environ["BUCKET"], "killed", SlowFile(sys.argv[1]),
           part_size=int(os.environ["PART"]), concurrency=2)
    """
)


def test_sigkilled_upload_resumes_with_only_the_missing_parts(
    tmp_path, oss_emulator, oss_client, oss_bucket
):
    data = random.Random(5).randbytes(PARTS * P)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    env = child_env(oss_emulator, oss_bucket, PART=str(P))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        stored = []
        while time.monotonic() < deadline and len(stored) < 4:
            time.sleep(0.1)
            uploads = [
                u for u in oss_client.iter_multipart_uploads(oss_bucket) if u.key == "killed"
            ]
            if uploads:
                stored = [
                    p
                    for p in oss_client.iter_parts(oss_bucket, "killed", uploads[0].upload_id)
                    if p.part_number not in RECORD_PART_NUMBERS
                ]
        assert child.poll() is None, "the child finished before it could be killed"
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
    time.sleep(0.3)  # requests whose body had fully arrived may still land
    (upload,) = [u for u in oss_client.iter_multipart_uploads(oss_bucket) if u.key == "killed"]
    stored = oss_client.iter_parts(oss_bucket, "killed", upload.upload_id)
    kept = len([p for p in stored if p.part_number not in RECORD_PART_NUMBERS])  # data parts only
    assert 4 <= kept < PARTS
    oss_emulator.reset_stats()
    # the part size is found on the server; below 8 MiB it would otherwise be one PUT
    done = transfer.upload(oss_client, oss_bucket, "killed", path, multipart_threshold=0)
    assert done.crc64 == crc64(data)
    assert oss_emulator.stats()["requests"].get("UploadPart", 0) == PARTS - kept
    assert oss_client.get_object(oss_bucket, "killed") == data
