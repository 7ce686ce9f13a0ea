"""Progress: counted once per acknowledged part, logged at most every interval, honest ETA."""

from __future__ import annotations

import logging

import pytest

from oss_provider.transfer.progress import TransferProgress, describe
from oss_provider.units import format_bytes, format_duration

MiB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_logs_at_most_every_interval_and_once_at_finish(caplog):
    clock = Clock()
    seen = []
    progress = TransferProgress(
        40 * MiB, label="parts 1-8", interval=5.0, clock=clock, callback=seen.append
    )
    with caplog.at_level(logging.INFO, logger="oss_provider.transfer.progress"):
        for _ in range(4):
            clock.now += 1.0
            progress.part_sent(5 * MiB)  # 4 parts within 4 s: no line yet
        assert seen == []
        clock.now += 1.0
        progress.part_sent(5 * MiB)  # 5 s since start: one line
        assert len(seen) == 1
        snap = seen[0]
        assert snap.done == 25 * MiB and snap.percent == pytest.approx(62.5)
        assert snap.rate == pytest.approx(5 * MiB)  # 25 MiB in 5 s
        assert snap.eta == pytest.approx(3.0)
        progress.finish()
        progress.finish()
    assert len(seen) == 2
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "parts 1-8: 25.0 MiB of 40.0 MiB (62.5%), 5 parts, 5.0 MiB/s, ETA 0:00:03"
    assert len(lines) == 2


def test_kept_parts_count_toward_done_but_not_the_rate():
    clock = Clock()
    progress = TransferProgress(30, interval=0, clock=clock, logger=logging.getLogger("t"))
    progress.part_kept(10)
    clock.now += 2
    progress.part_sent(10)
    snap = progress.snapshot()
    assert (snap.done, snap.sent, snap.kept, snap.parts_done) == (20, 10, 10, 2)
    assert snap.rate == pytest.approx(5.0)
    assert "already on the server" in describe(snap)


def test_unknown_total_has_no_percent_or_eta():
    progress = TransferProgress(None, clock=Clock())
    progress.part_sent(3)
    snap = progress.snapshot()
    assert snap.percent is None and snap.eta is None
    assert describe(snap).startswith("3 B, 1 parts")
    assert format_duration(3725) == "1:02:05"


def test_sizes_are_in_binary_units():
    assert [format_bytes(n) for n in (512, 100 * 1024, 200 * MiB, 1536 * MiB)] == [
        "512 B",
        "100.0 KiB",
        "200.0 MiB",
        "1.5 GiB",
    ]


def test_bad_interval_is_rejected():
    with pytest.raises(ValueError, match="interval"):
        TransferProgress(1, interval=-1)
