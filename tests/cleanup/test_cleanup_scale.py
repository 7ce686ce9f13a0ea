"""The sweep at scale, without timings: requests per upload, page-by-page listing, bounded
memory, a bounded report and a bounded log, whatever the number of uploads (issue 26: 100,000
stale uploads in one sweep).

Request counts come from the emulator's own counters (``stats()``), so a sweep that starts
listing parts twice, or sends a HEAD per upload, fails here before any benchmark sees it.
"""

from __future__ import annotations

import json
import logging
import threading
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from oss_provider.cleanup import abort_stale_uploads
from oss_provider.client.errors import OSSError
from oss_provider.client.models import UploadInfo, UploadsPage

THRESHOLD = "10m"
LATER = 700  # clock offset that makes uploads initiated at offset 0 stale (> 10 min)
NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=3)


def requests_by_operation(server) -> dict[str, int]:
    return dict(server.stats()["requests"])


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0)}


def initiate(client, bucket: str, n: int) -> list[tuple[str, str]]:
    keys = [f"scale/{i % 7:02d}/part.bin" for i in range(n)]  # several uploads per key
    return [(k, client.start_multipart_upload(bucket, k).upload_id) for k in keys]


# ------------------------------------------------------------------ requests per upload


def test_default_sweep_sends_one_list_parts_and_one_abort_per_stale_upload(
    oss_emulator, oss_client, oss_bucket
):
    ups = initiate(oss_client, oss_bucket, 25)
    key, upload_id = ups[0]
    oss_client.upload_part(oss_bucket, key, upload_id, 1, b"x" * 10)  # one with a part
    oss_emulator.set_clock_offset(LATER)
    before = requests_by_operation(oss_emulator)
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD, page_size=10)
    sent = delta(before, requests_by_operation(oss_emulator))
    assert report.ok and report.counts["aborted"] == 25, report.summary()
    assert report.pages == 3
    # nothing but the listing pages, one ListParts and one Abort per upload
    assert sent == {"ListMultipartUploads": 3, "ListParts": 25, "AbortMultipartUpload": 25}
    assert report.bytes_freed == 10


def test_without_skip_active_the_sweep_sends_one_abort_per_upload_and_no_list_parts(
    oss_emulator, oss_client, oss_bucket
):
    initiate(oss_client, oss_bucket, 12)
    oss_emulator.set_clock_offset(LATER)
    before = requests_by_operation(oss_emulator)
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD, skip_active=False)
    assert report.counts["aborted"] == 12
    assert delta(before, requests_by_operation(oss_emulator)) == {
        "ListMultipartUploads": 1,
        "AbortMultipartUpload": 12,
    }


def test_fresh_and_filtered_uploads_cost_no_request_beyond_the_listing(
    oss_emulator, oss_client, oss_bucket
):
    initiate(oss_client, oss_bucket, 9)
    before = requests_by_operation(oss_emulator)
    fresh = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD)
    oss_emulator.set_clock_offset(LATER)
    filtered = abort_stale_uploads(
        oss_client, oss_bucket, older_than=THRESHOLD, include="nothing/*"
    )
    assert fresh.counts["fresh"] == 9 and filtered.counts["filtered_out"] == 9
    assert delta(before, requests_by_operation(oss_emulator)) == {"ListMultipartUploads": 2}


# ------------------------------------------------------------------ page by page


class PagedClient:
    """``pages`` pages of ``per_page`` stale uploads, made on demand; records how far the aborts
    had got each time the sweep asked for the next page."""

    def __init__(self, pages: int, per_page: int, *, list_parts: bool = True) -> None:
        self.pages, self.per_page = pages, per_page
        self.lock = threading.Lock()
        self.done = 0
        self.done_when_page_asked: list[int] = []
        self.parts_calls = 0

    def iter_multipart_upload_pages(self, bucket, *, prefix=None, page_size=1000):
        for p in range(self.pages):
            with self.lock:
                self.done_when_page_asked.append(self.done)
            ups = [
                UploadInfo(f"k/{p:04d}/{i:04d}", f"{p:04d}{i:04d}" * 4, OLD)
                for i in range(self.per_page)
            ]
            last = ups[-1]
            yield UploadsPage(
                "b", ups, [], "", "", last.key, last.upload_id, 1000, p < self.pages - 1, NOW
            )

    def iter_parts(self, bucket, key, upload_id):
        with self.lock:
            self.parts_calls += 1
        return iter(())

    def abort_multipart_upload(self, bucket, key, upload_id):
        with self.lock:
            self.done += 1
        return True


def test_the_listing_is_consumed_page_by_page_never_far_ahead_of_the_aborts():
    per_page, concurrency = 100, 4
    client = PagedClient(30, per_page)
    report = abort_stale_uploads(
        client, "b", page_size=per_page, concurrency=concurrency, max_rows=10
    )
    assert report.counts["aborted"] == 3000 and report.pages == 30 and report.listing_complete
    assert client.parts_calls == 3000  # one ListParts per upload, none twice
    # when page p is asked for, p pages were handed out and at most one page (the backlog
    # bound) plus one upload per worker is still unprocessed: the listing never runs ahead
    for p, done in enumerate(client.done_when_page_asked):
        assert done >= p * per_page - per_page - concurrency, (p, done)


def test_hundred_thousand_stale_uploads_aborted_in_bounded_memory_with_a_bounded_report():
    """The threaded path (ListParts + abort per upload), not only the dry run: the backlog, the
    rows and the counts must not grow with the number of uploads."""
    client = PagedClient(100, 1000)
    tracemalloc.start()
    try:
        report = abort_stale_uploads(client, "b", max_rows=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.counts["aborted"] == report.counts["stale"] == 100_000, report.summary()
    assert report.ok and report.pages == 100
    # two pages of candidates (~1 MB) at most; holding all 100,000 would be ~50 MB
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    data = report.to_dict()
    assert len(data["rows"]) == 100 and data["rows_omitted"] == 99_900
    assert len(json.dumps(data)) < 40_000


@pytest.mark.parametrize("n", [2_000, 20_000])
def test_report_size_does_not_depend_on_the_number_of_uploads(n):
    report = abort_stale_uploads(PagedClient(n // 1000, 1000), "b", max_rows=50)
    size = len(json.dumps(report.to_dict()))
    assert report.counts["aborted"] == n
    assert 5_000 < size < 16_000  # 50 rows of ~200 bytes, plus the counts


def test_many_failed_aborts_log_twenty_lines_and_count_them_all(caplog):
    class Denied(PagedClient):
        def abort_multipart_upload(self, bucket, key, upload_id):
            raise OSSError(403, "AccessDenied", "no")

    with caplog.at_level(logging.WARNING, logger="oss_provider.cleanup"):
        report = abort_stale_uploads(Denied(3, 100), "b", max_rows=5)
    assert report.counts["failed"] == 300 and not report.ok
    assert len(report.failed_rows) == 5
    lines = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    more = [line for line in lines if "the report counts them all" in line]
    assert len(lines) == 21 and len(more) == 1  # twenty, and one "more are not logged" line


def test_stop_event_mid_listing_reports_every_listed_upload_and_stops_listing():
    stop = threading.Event()

    class Stopping(PagedClient):
        def abort_multipart_upload(self, bucket, key, upload_id):
            stop.set()  # the first abort cancels the sweep
            return super().abort_multipart_upload(bucket, key, upload_id)

    client = Stopping(50, 100)
    report = abort_stale_uploads(client, "b", stop_event=stop, concurrency=2)
    c = report.counts
    assert not report.listing_complete and "cancelled" in report.listing_error
    assert report.pages < 50
    # every listed stale upload has exactly one outcome: the cancelled ones are failures
    assert c["stale"] == c["aborted"] + c["failed"] == report.pages * 100
    assert c["aborted"] == client.done >= 1


def test_a_listing_error_after_some_pages_still_processes_what_was_listed():
    class Broken(PagedClient):
        def iter_multipart_upload_pages(self, bucket, *, prefix=None, page_size=1000):
            for page in super().iter_multipart_upload_pages(bucket):
                yield replace(page, is_truncated=True)
            raise OSSError(500, "InternalError", "listing broke")

    client = Broken(3, 50)
    report = abort_stale_uploads(client, "b", concurrency=3)
    assert report.counts["aborted"] == 150 and client.done == 150
    assert "listing broke" in report.listing_error and not report.ok
