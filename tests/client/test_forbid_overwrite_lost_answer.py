"""``forbid_overwrite`` makes a PUT non-idempotent: after a lost answer the outcome is settled by
looking at the key (this body's MD5 ETag, size, CRC-64, written since the first send), never by
sending it again blind (which met our own object and failed with FileAlreadyExists)."""

from __future__ import annotations

import pytest

from oss_provider.client.errors import FileAlreadyExists

pytestmark = pytest.mark.timeout(120)


def _requests(emulator, operation):
    return emulator.stats()["requests"].get(operation, 0)


def test_a_lost_answer_to_our_put_is_settled_as_ours(oss_emulator, oss_client, oss_bucket):
    oss_emulator.reset_stats()
    oss_emulator.fail_next(1, "lose_response", operation="PutObject")
    info = oss_client.put_object(oss_bucket, "f/a.csv", b"a,b\n1,2\n", forbid_overwrite=True)
    assert info.size == 8
    assert oss_client.get_object(oss_bucket, "f/a.csv") == b"a,b\n1,2\n"
    assert _requests(oss_emulator, "PutObject") == 1  # settled by one HEAD, not a re-send
    assert _requests(oss_emulator, "HeadObject") == 1


def test_a_put_that_did_not_land_is_sent_again(oss_emulator, oss_client, oss_bucket):
    oss_emulator.fail_next(1, "reset", operation="PutObject")  # cut mid-body: nothing stored
    oss_client.put_object(oss_bucket, "f/b.csv", b"x" * 5000, forbid_overwrite=True)
    assert oss_client.get_object(oss_bucket, "f/b.csv") == b"x" * 5000


def test_another_writers_object_is_still_refused(oss_emulator, oss_client, oss_bucket):
    oss_client.put_object(oss_bucket, "f/c.csv", b"theirs")
    with pytest.raises(FileAlreadyExists):
        oss_client.put_object(oss_bucket, "f/c.csv", b"ours", forbid_overwrite=True)
    oss_emulator.fail_next(1, "lose_response", operation="PutObject")
    with pytest.raises(FileAlreadyExists, match="another object"):
        oss_client.put_object(oss_bucket, "f/c.csv", b"ours", forbid_overwrite=True)
    assert oss_client.get_object(oss_bucket, "f/c.csv") == b"theirs"


def test_an_older_identical_object_is_not_taken_for_ours(oss_emulator, oss_client, oss_bucket):
    oss_emulator.set_clock_offset(-30)  # the key's object is 30 s older than our send
    oss_client.put_object(oss_bucket, "f/d.csv", b"same")
    oss_emulator.set_clock_offset(0)
    oss_emulator.fail_next(1, "lose_response", operation="PutObject")
    with pytest.raises(FileAlreadyExists):
        oss_client.put_object(oss_bucket, "f/d.csv", b"same", forbid_overwrite=True)


def test_upload_files_reports_uploaded_not_exists(oss_emulator, oss_client, oss_bucket, tmp_path):
    from oss_provider.transfer.files import upload_files

    (tmp_path / "one.csv").write_bytes(b"1\n")
    oss_emulator.fail_next(1, "lose_response", operation="PutObject")
    report = upload_files(oss_client, oss_bucket, str(tmp_path), prefix="f/set",
                          forbid_overwrite=True)  # fmt: skip
    assert [(r["key"], r["action"]) for r in report.rows] == [("f/set/one.csv", "uploaded")]
    assert oss_client.get_object(oss_bucket, "f/set/one.csv") == b"1\n"
