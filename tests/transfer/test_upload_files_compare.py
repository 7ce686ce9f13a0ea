"""``compare="size_mtime"``: a rerun decides "unchanged" from one listing and a ``stat`` per file,
sending no GET or HEAD and reading no byte of an unchanged file; a changed file still goes up;
the documented miss is real. Against the emulator over real HTTP."""

from __future__ import annotations

import builtins
import os
import time

import pytest

from oss_provider.transfer.files import MTIME_KEY, upload_files

pytestmark = pytest.mark.timeout(120)


def _tree(root, count=20, size=3000):
    root.mkdir()
    for i in range(count):
        (root / f"d{i % 3}").mkdir(exist_ok=True)
        (root / f"d{i % 3}" / f"f{i}.bin").write_bytes(os.urandom(size + i))
    return root


def _actions(report):
    return sorted({r["action"] for r in report.rows})


def test_an_unchanged_rerun_sends_no_get_or_head_and_reads_nothing(
    oss_emulator, oss_client, oss_bucket, tmp_path, monkeypatch
):
    tree = _tree(tmp_path / "tree")
    first = upload_files(oss_client, oss_bucket, str(tree), prefix="cmp", compare="size_mtime")
    assert _actions(first) == ["uploaded"]
    stored = oss_client.head_object(oss_bucket, "cmp/d0/f0.bin")
    assert float(stored.metadata[MTIME_KEY]) == pytest.approx(
        (tree / "d0" / "f0.bin").stat().st_mtime
    )

    opened = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):  # a read of a source file would show here
        if str(file).startswith(str(tree)):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def spy_os_open(path, *args, **kwargs):  # the engine's pread sources open with os.open
        if str(path).startswith(str(tree)):
            opened.append(str(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    oss_emulator.reset_stats()
    again = upload_files(oss_client, oss_bucket, str(tree), prefix="cmp", compare="size_mtime")
    requests = oss_emulator.stats()["requests"]
    assert _actions(again) == ["skipped"] and len(again.rows) == 20
    assert set(requests) == {"ListObjectsV2"}, requests  # no GET, HEAD or PUT per file
    assert opened == []


def test_a_changed_file_goes_up_and_the_miss_is_what_the_docs_say(oss_client, oss_bucket, tmp_path):
    tree = _tree(tmp_path / "tree", count=3)
    upload_files(oss_client, oss_bucket, str(tree), prefix="chg", compare="size_mtime")
    time.sleep(1.1)  # a later second than the objects' Last-Modified
    bigger, rewritten, restored = (
        tree / "d0" / "f0.bin",
        tree / "d1" / "f1.bin",
        tree / "d2" / "f2.bin",
    )
    bigger.write_bytes(os.urandom(9999))  # another size
    rewritten.write_bytes(os.urandom(rewritten.stat().st_size))  # same size, newer mtime
    old = restored.stat().st_mtime - 3600
    restored.write_bytes(os.urandom(restored.stat().st_size))
    os.utime(restored, (old, old))  # same size, an mtime older than the object: the miss
    report = upload_files(oss_client, oss_bucket, str(tree), prefix="chg", compare="size_mtime")
    by_file = {r["file"]: r["action"] for r in report.rows}
    assert by_file == {"d0/f0.bin": "uploaded", "d1/f1.bin": "uploaded", "d2/f2.bin": "skipped"}
    # the checksum mode, which reads the bytes, catches the restored file
    checked = upload_files(oss_client, oss_bucket, str(tree), prefix="chg")
    assert {r["file"]: r["action"] for r in checked.rows}["d2/f2.bin"] == "uploaded"


def test_a_bad_compare_mode_is_refused_before_any_request(
    oss_emulator, oss_client, oss_bucket, tmp_path
):
    tree = _tree(tmp_path / "tree", count=1)
    oss_emulator.reset_stats()
    with pytest.raises(ValueError, match="compare must be one of checksum, size_mtime"):
        upload_files(oss_client, oss_bucket, str(tree), compare="mtime")
    assert oss_emulator.stats()["requests"] == {}
