"""Progress: counted once per acknowledged part, logged at most every interval, honest ETA."""

from __future__ import annotations

import logging

import pytest

from oss_provider.client.progress import TransferProgress, describe, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_logs_at_most_every_interval_and_once_at_finish(caplog):
    clock = Clock()
    seen = []
    progress = TransferProgress(
        40_000_000, label="oss://b/k", interval=5.0, clock=clock, callback=seen.append
    )
    with caplog.at_level(logging.INFO, logger="oss_provider.client.progress"):
        for _ in range(4):
            clock.now += 1.0
            progress.part_sent(5_000_000)  # 4 parts within 4 s: no line yet
        assert seen == []
        clock.now += 1.0
        progress.part_sent(5_000_000)  # 5 s since start: one line
        assert len(seen) == 1
        snap = seen[0]
        assert snap.done == 25_000_000 and snap.percent == pytest.approx(62.5)
        assert snap.rate == pytest.approx(5_000_000)  # 25 MB in 5 s
        assert snap.eta == pytest.approx(3.0)
        progress.finish()
        progress.finish()
    assert len(seen) == 2
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "oss://b/k: 25.0 MB of 40.0 MB (62.5%), 5 parts, 5.0 MB/s, ETA 0:00:03"
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


def test_bad_interval_is_rejected():
    with pytest.raises(ValueError, match="interval"):
        TransferProgress(1, interval=-1)
