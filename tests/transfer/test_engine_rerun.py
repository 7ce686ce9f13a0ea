"""The whole-upload engine run again, against the emulator over real HTTP:

- a writer SIGKILLed while OSS applies its Complete: the rerun sees that the key already holds
  exactly the object this upload would write (multipart ETag of the same part layout, size,
  CRC-64, content type, metadata) and sends nothing; other bytes or other options upload again;
- two tries of one task at once (a zombie beside its retry) sharing one upload: the try whose
  parts the other replaced stops with a retryable error naming the overlap, leaving the upload to
  the other try; replaced parts that still hold this source's bytes are completed as they are.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from _logs import messages, records
from _writers import child_env

from oss_provider.client.api import OSSClient
from oss_provider.client.checksums import crc64
from oss_provider.client.errors import is_retryable
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.client.models import Credentials, UploadedPart
from oss_provider.transfer import upload as transfer
from oss_provider.transfer.sources import LocalFileSource

pytestmark = pytest.mark.timeout(180)

OWNER = "dag/run/task/-1"

CHILD = textwrap.dedent(
    """
    import os, sys
    from oss_provider.client.api import OSSClient
    from oss_provider.client.models import Credentials
    from oss_provider.transfer.upload import upload

    client = OSSClient(os.environ["EP"], Credentials(os.environ["AK"], os.environ["SK"]),
                       region=os.environ["REGION"])
    upload(client, os.environ["BUCKET"], os.environ["KEY"], sys.argv[1], owner=os.environ["OWNER"],
           part_size=int(os.environ["PART"]), content_type="text/csv", metadata={"run": "1"})
    """
)


def _data(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _source(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _uploads(client, bucket, key):
    return [u for u in client.iter_multipart_uploads(bucket, prefix=key) if u.key == key]


def _requests(emulator) -> dict[str, int]:
    return dict(emulator.stats()["requests"])


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --------------------------------------------------------------- item 8: rerun after a Complete


def _kill_while_complete_is_applied(emulator, client, bucket, key, path) -> None:
    """The child uploads ``path``; OSS holds its Complete 2 s, the child is SIGKILLed meanwhile,
    then OSS applies the Complete anyway."""
    emulator.reset_stats()
    emulator.fail_next(1, "slow", operation="CompleteMultipartUpload", delay_seconds=2.0)
    env = child_env(emulator, bucket, KEY=key, PART=str(P), OWNER=OWNER)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, path],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait(
            lambda: (
                _requests(emulator).get("CompleteMultipartUpload", 0) >= 1
                or child.poll() is not None
            ),
            90,
            "the child's Complete",
        )
        assert child.poll() is None, f"the child ended early: {child.stderr.read()[-3000:]!r}"
        time.sleep(0.3)  # the Complete is held by the server
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)
        child.stderr.close()
    _wait(lambda: not _uploads(client, bucket, key), 15, "the held Complete to be applied")


def test_a_writer_killed_while_its_complete_is_applied_sends_nothing_on_rerun(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    data = _data(6 * P + 321, seed=81)
    path = _source(tmp_path, "src.bin", data)
    _kill_while_complete_is_applied(oss_emulator, oss_client, oss_bucket, "rerun/k.bin", path)
    head = oss_client.head_object(oss_bucket, "rerun/k.bin")
    assert head.etag.endswith("-7") and head.size == len(data)  # the child's Complete applied

    oss_emulator.reset_stats()
    with records("oss_provider.transfer.upload") as caught:
        done = transfer.upload(
            oss_client, oss_bucket, "rerun/k.bin", path, owner=OWNER, part_size=P,
            content_type="text/csv", metadata={"run": "1"},
        )  # fmt: skip
    sent = _requests(oss_emulator)
    for operation in ("InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        assert sent.get(operation, 0) == 0, sent
    assert sent.get("HeadObject") == 1, sent  # one cheap look at the key
    assert (done.etag, done.size, done.crc64) == (head.etag, len(data), crc64(data))
    assert done.crc64 == head.crc64
    assert getattr(done, "already_written", False) is True
    assert any(
        "already written by this writer's earlier run; nothing sent" in m for m in messages(caught)
    )
    assert oss_client.get_object(oss_bucket, "rerun/k.bin") == data


def _first_upload(client, bucket, key, path, **options):
    done = transfer.upload(client, bucket, key, path, owner=OWNER, part_size=P, **options)
    assert not getattr(done, "already_written", False)
    return done


def test_a_rerun_with_other_bytes_of_the_same_size_uploads_them(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    first = _data(4 * P + 9, seed=82)
    second = _data(len(first), seed=83)
    _first_upload(oss_client, oss_bucket, "rerun/other.bin", _source(tmp_path, "a", first))
    oss_emulator.reset_stats()
    done = transfer.upload(
        oss_client, oss_bucket, "rerun/other.bin", _source(tmp_path, "b", second),
        owner=OWNER, part_size=P,
    )  # fmt: skip
    assert _requests(oss_emulator).get("UploadPart") == 5 + 2  # every part, plus the records
    assert not getattr(done, "already_written", False) and done.crc64 == crc64(second)
    assert oss_client.get_object(oss_bucket, "rerun/other.bin") == second


@pytest.mark.parametrize(
    ("before", "after", "parts"),
    [
        pytest.param({"content_type": "text/csv"}, {"content_type": "text/plain"}, 5, id="type"),
        pytest.param({"metadata": {"v": "1"}}, {"metadata": {"v": "2"}}, 5, id="metadata"),
        pytest.param({}, {"part_size": 2 * P}, 3, id="part-layout"),
        pytest.param(
            {}, {"initiate_kwargs": {"storage_class": "Standard"}}, 5, id="unverifiable-option"
        ),
    ],
)
def test_a_rerun_asking_for_another_object_uploads_again(
    oss_emulator, oss_client, oss_bucket, tmp_path, before, after, parts
):
    data = _data(4 * P + 9, seed=84)
    path = _source(tmp_path, "src.bin", data)
    _first_upload(oss_client, oss_bucket, "rerun/opts.bin", path, **before)
    oss_emulator.reset_stats()
    options = {"part_size": P, **after}
    done = transfer.upload(oss_client, oss_bucket, "rerun/opts.bin", path, owner=OWNER, **options)
    assert _requests(oss_emulator).get("UploadPart") == parts + 2
    assert not getattr(done, "already_written", False) and done.crc64 == crc64(data)
    head = oss_client.head_object(oss_bucket, "rerun/opts.bin")
    assert head.etag == done.etag and head.etag.endswith(f"-{parts}")
    if "content_type" in after:
        assert head.content_type == after["content_type"]
    if "metadata" in after:
        assert head.metadata == after["metadata"]


def test_a_rerun_of_an_identical_object_through_the_hook_sends_nothing(
    oss_emulator, oss_conn_env, oss_client, tmp_path
):
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    data = _data(3 * P + 1, seed=85)
    path = _source(tmp_path, "src.bin", data)
    hook = OSSMultipartHook()
    first = hook.upload_file(path, "rerun/hook.bin", part_size=P, owner=OWNER)
    oss_emulator.reset_stats()
    again = hook.upload_file(path, "rerun/hook.bin", part_size=P, owner=OWNER)
    assert "UploadPart" not in _requests(oss_emulator)
    assert again.already_written and (again.etag, again.crc64) == (first.etag, first.crc64)
    oss_client.delete_object("test-bucket", "rerun/hook.bin")


# --------------------------------------------------------------- item 11: overlapping tries


class _GatedFile(LocalFileSource):
    """A file whose upload stops right before its Complete until ``gate`` runs."""

    def __init__(self, path: str, gate) -> None:
        super().__init__(path)
        self._gate = gate
        self._gated = False

    def check_unchanged(self, expected=None) -> None:
        super().check_unchanged(expected)
        if expected is None and not self._gated:  # the engine's check right before Complete
            self._gated = True
            self._gate()


def _overlap(upload_a, upload_b):
    """Try A (the zombie) sends all its parts and waits before its Complete; try B (its retry)
    then resumes the same upload, sends the parts it finds missing or different, and waits
    before its Complete until A's Complete has been answered. Returns both outcomes."""
    a_ready, b_sent, a_done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def gate_a() -> None:
        a_ready.set()
        assert b_sent.wait(60)

    def gate_b() -> None:
        b_sent.set()
        assert a_done.wait(60)

    def run(name, fn, gate, done_event=None):
        try:
            outcome[name] = fn(gate)
        except BaseException as error:  # noqa: BLE001 - the outcome under test
            outcome[name] = error
        finally:
            if done_event is not None:
                done_event.set()
            b_sent.set()  # never leave the other one waiting

    a = threading.Thread(target=run, args=("a", upload_a, gate_a, a_done))
    a.start()
    assert a_ready.wait(60), "try A never reached its Complete"
    b = threading.Thread(target=run, args=("b", upload_b, gate_b))
    b.start()
    a.join(90)
    b.join(90)
    return outcome["a"], outcome["b"]


def test_a_zombie_whose_parts_its_retry_replaced_stops_retryably_through_the_hook(
    oss_emulator, oss_conn_env, oss_client, tmp_path
):
    """The retry regenerated the file (same size, new bytes): the zombie's Complete meets the
    retry's parts (InvalidPart), and stops with an error Airflow retries, not a permanent one."""
    from oss_provider._compat import AirflowException, AirflowFailException
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    bucket, key = "test-bucket", "overlap/regenerated.bin"
    old, new = _data(5 * P + 77, seed=86), _data(5 * P + 77, seed=87)
    old_path, new_path = _source(tmp_path, "old", old), _source(tmp_path, "new", new)

    hook = OSSMultipartHook()

    def zombie(gate):
        return hook.upload_file(
            _GatedFile(old_path, gate), key, bucket, part_size=P, owner=OWNER, concurrency=2
        )

    def retry(gate):
        return transfer.upload(
            oss_client, bucket, key, _GatedFile(new_path, gate), part_size=P, owner=OWNER
        )

    with records("oss_provider.transfer.upload") as caught:
        a, b = _overlap(zombie, retry)
    assert isinstance(a, AirflowException) and not isinstance(a, AirflowFailException), repr(a)
    cause = a.__cause__ or a.__context__
    assert type(cause).__name__ == "OverlappingTryError" and is_retryable(cause), repr(cause)
    assert "another try of this task is writing upload" in str(a)
    assert f"oss://{bucket}/{key}" in str(a)
    assert any("this try stops; the next one resumes" in m for m in messages(caught)), messages(
        caught
    )
    # the retry completes its own bytes; nothing stays open
    assert not isinstance(b, BaseException), repr(b)
    assert b.crc64 == crc64(new)
    assert oss_client.get_object(bucket, key) == new
    assert _uploads(oss_client, bucket, key) == []
    oss_client.delete_object(bucket, key)


def test_a_retry_with_another_part_layout_over_its_zombie_stops_retryably(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    """The same file, split in another part size by the other try: the parts of one number
    differ, the zombie's Complete is refused, the zombie stops retryably and the retry wins."""
    data = _data(6 * P + 5, seed=88)
    path = _source(tmp_path, "src.bin", data)
    key = "overlap/relaid.bin"

    def zombie(gate):
        src = _GatedFile(path, gate)
        return transfer.upload(oss_client, oss_bucket, key, src, part_size=P, owner=OWNER)

    def retry(gate):
        src = _GatedFile(path, gate)
        return transfer.upload(oss_client, oss_bucket, key, src, part_size=2 * P, owner=OWNER)

    oss_emulator.reset_stats()
    a, b = _overlap(zombie, retry)
    assert type(a).__name__ == "OverlappingTryError" and is_retryable(a), repr(a)
    assert "parts 1, 2, 3, 4 of it now hold other bytes" in str(a)  # no longer this try's
    assert not isinstance(b, BaseException), repr(b)
    assert b.crc64 == crc64(data) and b.etag.endswith("-4")
    assert oss_client.get_object(oss_bucket, key) == data
    assert _uploads(oss_client, oss_bucket, key) == []
    requests = _requests(oss_emulator)
    assert requests.get("AbortMultipartUpload", 0) == 0  # the zombie left the upload alone
    assert requests.get("InitiateMultipartUpload") == 1  # the retry resumed it


class _UnseenETagClient(OSSClient):
    """A client that did not see the ETag of part 2's last send (as when another try sent the
    same bytes again): its Complete names an ETag the upload no longer has."""

    def upload_part(self, bucket, key, upload_id, part_number, data, **kw):
        part = super().upload_part(bucket, key, upload_id, part_number, data, **kw)
        if part_number == 2:
            return UploadedPart(part.part_number, "0" * 32, part.size, part.crc64)
        return part


def test_replaced_parts_that_still_hold_this_sources_bytes_are_completed(
    oss_emulator, oss_bucket, tmp_path
):
    data = _data(3 * P + 3, seed=89)
    path = _source(tmp_path, "src.bin", data)
    client = _UnseenETagClient(
        oss_emulator.endpoint,
        Credentials(oss_emulator.access_key_id, oss_emulator.access_key_secret),
        region=oss_emulator.region,
    )
    try:
        oss_emulator.reset_stats()
        with records("oss_provider.transfer.upload") as caught:
            done = transfer.upload(client, oss_bucket, "overlap/same.bin", path, part_size=P)
        assert done.crc64 == crc64(data) and done.etag.endswith("-4")
        assert client.get_object(oss_bucket, "overlap/same.bin") == data
        assert _requests(oss_emulator)["CompleteMultipartUpload"] == 2
        assert any("completing with the server's parts" in m for m in messages(caught)), messages(
            caught
        )
    finally:
        client.close()


def test_a_retry_beside_a_zombie_that_stored_only_its_last_part_keeps_its_part_layout(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    """The same file, the default part size (8 MiB): the zombie has stored only its short last
    part when its retry starts. The retry keeps the zombie's layout (it used to take the short
    part's size for the part size, splitting the file differently, so the two tries' parts of
    one number differed), keeps that part, and completes; the zombie, whose upload is gone,
    finds the identical object at the key and sends nothing more."""
    mib = 1024 * 1024
    data = _data(16 * mib + 200 * 1024, seed=90)
    path = _source(tmp_path, "src.bin", data)
    key = "overlap/last-part-first.bin"
    hold = threading.Event()

    class HeldFullParts(LocalFileSource):  # the zombie's 8 MiB parts wait; its last goes first
        def read(self, offset, length):
            if offset < 16 * mib:  # parts 1 and 2, however they are read (whole, or in chunks)
                assert hold.wait(60)
            return super().read(offset, length)

    outcome: dict[str, object] = {}

    def zombie():
        try:
            outcome["a"] = transfer.upload(
                oss_client, oss_bucket, key, HeldFullParts(path), owner=OWNER, concurrency=3
            )
        except BaseException as error:  # noqa: BLE001 - the outcome under test
            outcome["a"] = error

    a = threading.Thread(target=zombie)
    a.start()
    try:

        def last_part_stored() -> bool:
            return any(
                p.part_number == 3
                for u in _uploads(oss_client, oss_bucket, key)
                for p in oss_client.iter_parts(oss_bucket, key, u.upload_id)
            )

        _wait(last_part_stored, 60, "the zombie's last part")
        oss_emulator.reset_stats()
        with records("oss_provider.transfer.upload") as caught:
            b = transfer.upload(oss_client, oss_bucket, key, path, owner=OWNER)
        assert b.etag.endswith("-3") and b.crc64 == crc64(data), b  # the zombie's layout
        assert _requests(oss_emulator).get("UploadPart") == 2, messages(caught)  # part 3 was kept
    finally:
        hold.set()
        a.join(90)
    assert not isinstance(outcome["a"], BaseException), repr(outcome["a"])
    assert outcome["a"].already_written and outcome["a"].etag == b.etag
    assert oss_client.get_object(oss_bucket, key) == data
    assert _uploads(oss_client, oss_bucket, key) == []
