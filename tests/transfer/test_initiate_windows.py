"""A lost Initiate's upload is aborted only when it is provably unclaimed, and even when the server
applies the Initiate after the client gave up; another writer's fresh upload is never touched.
Against the emulator over real HTTP, its Initiate held longer than the client waits."""

from __future__ import annotations

import os
import threading
import time

import pytest

from oss_provider.client.api import OSSClient
from oss_provider.client.checksums import crc64
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.client.models import Credentials
from oss_provider.transfer import upload as transfer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def impatient(oss_emulator):
    """A client that waits 1 s for an answer (the emulator will hold Initiate for longer)."""
    client = OSSClient(
        oss_emulator.endpoint,
        Credentials(oss_emulator.access_key_id, oss_emulator.access_key_secret),
        region=oss_emulator.region,
        read_timeout=1.0,
    )
    yield client
    client.close()


def _uploads(client, bucket, key):
    return [u.upload_id for u in client.iter_multipart_uploads(bucket) if u.key == key]


def test_an_initiate_applied_after_the_client_gave_up_leaves_no_orphan(
    oss_emulator, oss_client, oss_bucket, impatient, tmp_path
):
    data = os.urandom(2 * P + 5)
    (tmp_path / "src.bin").write_bytes(data)
    # the server holds the Initiate 2.5 s, then makes the upload: the client gave up at 1 s
    oss_emulator.fail_next(1, "slow", operation="InitiateMultipartUpload", delay_seconds=2.5)
    started = time.monotonic()
    done = transfer.upload(
        impatient, oss_bucket, "late.bin", str(tmp_path / "src.bin"), part_size=P
    )
    assert done.crc64 == crc64(data)
    assert oss_client.get_object(oss_bucket, "late.bin") == data
    time.sleep(max(0.0, started + 3.5 - time.monotonic()))  # past the server's late apply
    assert _uploads(oss_client, oss_bucket, "late.bin") == []  # the late upload was found too


def test_another_writers_fresh_upload_in_the_window_is_never_touched(
    oss_emulator, oss_client, oss_bucket, impatient, tmp_path
):
    """Another tool (oss2, ossutil) initiates the same key during our lost Initiate and stores
    its first part a little later: its upload survives and it completes it."""
    data = os.urandom(2 * P + 5)
    (tmp_path / "src.bin").write_bytes(data)
    theirs: dict = {}

    def other_writer():
        time.sleep(0.3)  # inside our held Initiate
        uid = oss_client.start_multipart_upload(oss_bucket, "shared.bin").upload_id
        theirs["uid"] = uid
        time.sleep(1.5)  # after we gave up on our Initiate and looked for its upload
        try:
            part = oss_client.upload_part(oss_bucket, "shared.bin", uid, 1, b"t" * 100)
            theirs["done"] = oss_client.complete_multipart_upload(
                oss_bucket, "shared.bin", uid, [part]
            )
        except Exception as error:  # noqa: BLE001 - reported to the test
            theirs["error"] = error

    oss_emulator.fail_next(1, "slow", operation="InitiateMultipartUpload", delay_seconds=1.5)
    thread = threading.Thread(target=other_writer)
    thread.start()
    transfer.upload(impatient, oss_bucket, "shared.bin", str(tmp_path / "src.bin"), part_size=P)
    thread.join(30)
    assert "error" not in theirs, theirs.get("error")
    assert theirs["done"].size == 100
    assert _uploads(oss_client, oss_bucket, "shared.bin") == []  # and ours left nothing either
