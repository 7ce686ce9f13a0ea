"""The stale-upload sweep against the OSS emulator over real HTTP.

Uploads are made stale by moving the emulator's clock (``set_clock_offset``): ``Initiated`` and the
``Date`` header both come from the server clock, so the tests also prove the worker's clock is not
used. The emulator checks request signatures against its clock (15 minutes of skew allowed), so
offsets stay within +-14 minutes and thresholds are minutes. Faults are injected with ``fail_next``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from oss_provider.cleanup import abort_stale_uploads

THRESHOLD = "10m"
LATER = 700  # clock offset that makes uploads initiated at offset 0 stale (> 10 min)


def initiate_many(client, bucket: str, keys: list[str], workers: int = 8) -> list[tuple[str, str]]:
    """Start one upload per key (keys may repeat); returns (key, upload_id) pairs."""
    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(lambda k: client.start_multipart_upload(bucket, k).upload_id, keys))
    return list(zip(keys, ids, strict=True))


def listed(client, bucket: str) -> set[tuple[str, str]]:
    return {(u.key, u.upload_id) for u in client.iter_multipart_uploads(bucket)}


def op_count(server, operation: str) -> int:
    stats = server.stats()
    counts = stats.get("requests") or stats.get("operations") or stats
    value = counts.get(operation, 0)
    return value if isinstance(value, int) else int(value.get("count", 0))


# ------------------------------------------------------------------ age by the server clock


def test_age_threshold_at_its_boundary_uses_the_server_clock(oss_emulator, oss_client, oss_bucket):
    (up,) = initiate_many(oss_client, oss_bucket, ["boundary/k"])
    # one minute short of the threshold by the server's clock: left alone
    oss_emulator.set_clock_offset(600 - 60)
    report = abort_stale_uploads(oss_client, oss_bucket, older_than="10m")
    assert report.counts["fresh"] == 1 and report.counts["stale"] == 0
    assert listed(oss_client, oss_bucket) == {up}
    # one minute past it: aborted (the worker's own clock still says the upload is brand new)
    oss_emulator.set_clock_offset(600 + 60)
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=timedelta(minutes=10))
    assert report.counts["aborted"] == 1, report.summary()
    assert report.clock_source == "server"
    (row,) = report.rows
    assert (row["key"], row["upload_id"], row["action"]) == (*up, "aborted")
    assert 600 < row["age_seconds"] <= 600 + 120
    assert listed(oss_client, oss_bucket) == set()


def test_old_and_new_uploads_side_by_side(oss_emulator, oss_client, oss_bucket):
    oss_emulator.set_clock_offset(-840)
    old = initiate_many(oss_client, oss_bucket, ["a/old-1", "a/old-2"])
    oss_emulator.set_clock_offset(0)
    new = initiate_many(oss_client, oss_bucket, ["a/new"])
    report = abort_stale_uploads(oss_client, oss_bucket, older_than="12m")
    assert report.counts["aborted"] == 2 and report.counts["fresh"] == 1
    assert listed(oss_client, oss_bucket) == set(new)
    assert {(r["key"], r["upload_id"]) for r in report.rows} == set(old)
    assert report.ok


# ------------------------------------------------------------------ selection


def test_prefixes_and_globs(oss_emulator, oss_client, oss_bucket):
    keys = ["logs/a.tmp", "logs/b.csv", "logs/keep/c.csv", "data/d.csv", "other/e.csv", "logsX.csv"]
    ups = dict(initiate_many(oss_client, oss_bucket, keys))
    oss_emulator.set_clock_offset(LATER)
    report = abort_stale_uploads(
        oss_client,
        oss_bucket,
        older_than=THRESHOLD,
        prefixes=["logs/", "data/", "logs/keep/"],  # the last is covered by the first
        include=["*.csv"],
        exclude=["logs/keep/*"],
    )
    assert report.counts["seen"] == 4  # logs/ (3) + data/ (1); other/ and logsX.csv not listed
    assert report.counts["filtered_out"] == 2
    assert report.counts["aborted"] == 2
    remaining = {k for k, _ in listed(oss_client, oss_bucket)}
    assert remaining == {"logs/a.tmp", "logs/keep/c.csv", "other/e.csv", "logsX.csv"}
    assert {r["key"] for r in report.rows} == {"logs/b.csv", "data/d.csv"}
    assert ups  # ids were issued


def test_more_than_a_thousand_uploads_across_pages_including_one_key(
    oss_emulator, oss_client, oss_bucket
):
    """3,000 uploads: 1,200 of one key (upload-id-marker paging) and 1,800 keys; small pages."""
    keys = ["same/key.bin"] * 1200 + [f"many/{i:05d}" for i in range(1800)]
    ups = set(initiate_many(oss_client, oss_bucket, keys))
    assert len(ups) == 3000
    oss_emulator.set_clock_offset(LATER)
    dry = abort_stale_uploads(
        oss_client, oss_bucket, older_than=THRESHOLD, dry_run=True, page_size=97, max_rows=0
    )
    assert dry.listing_complete and dry.pages == 31
    assert dry.counts["seen"] == dry.counts["would_abort"] == 3000
    assert dry.rows == [] and dry.rows_omitted == 3000
    report = abort_stale_uploads(
        oss_client, oss_bucket, older_than=THRESHOLD, max_rows=5000
    )  # default 1,000 per page
    assert report.counts["aborted"] == 3000, report.summary()
    assert report.pages == 3
    assert {(r["key"], r["upload_id"]) for r in report.rows} == ups
    assert listed(oss_client, oss_bucket) == set()


# ------------------------------------------------------------------ dry run and cap


def test_dry_run_changes_nothing(oss_emulator, oss_client, oss_bucket):
    ups = set(initiate_many(oss_client, oss_bucket, [f"d/{i}" for i in range(6)]))
    oss_emulator.set_clock_offset(LATER)
    aborts_before = op_count(oss_emulator, "AbortMultipartUpload")
    report = abort_stale_uploads(
        oss_client, oss_bucket, older_than=THRESHOLD, dry_run=True, list_parts=True
    )
    assert report.counts["would_abort"] == 6 and report.counts["aborted"] == 0
    assert report.to_dict()["bytes_would_free"] == 0
    assert {r["action"] for r in report.rows} == {"would_abort"}
    assert op_count(oss_emulator, "AbortMultipartUpload") == aborts_before
    assert listed(oss_client, oss_bucket) == ups


def test_max_aborts_caps_the_abort_requests(oss_emulator, oss_client, oss_bucket):
    initiate_many(oss_client, oss_bucket, [f"c/{i}" for i in range(10)])
    oss_emulator.set_clock_offset(LATER)
    report = abort_stale_uploads(
        oss_client, oss_bucket, older_than=THRESHOLD, max_aborts=4, concurrency=3
    )
    assert report.counts["aborted"] == 4
    assert report.counts["skipped_max_aborts"] == 6
    assert len(listed(oss_client, oss_bucket)) == 6
    assert report.ok  # a cap is a decision, not a failure


# ------------------------------------------------------------------ faults and races


def test_concurrent_aborts_with_faults_give_the_exact_failed_list(
    oss_emulator, oss_client, oss_bucket
):
    initiate_many(oss_client, oss_bucket, [f"f/{i:02d}" for i in range(40)])
    oss_emulator.set_clock_offset(LATER)
    oss_emulator.fail_next(3, "503", "AbortMultipartUpload")  # retried: no failure
    oss_emulator.fail_next(5, "AccessDenied", "AbortMultipartUpload")  # permanent: 5 failures
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD, concurrency=8)
    assert report.counts["failed"] == 5, report.summary()
    assert report.counts["aborted"] == 35
    assert not report.ok
    failed = {(r["key"], r["upload_id"]) for r in report.failed_rows}
    assert failed == listed(oss_client, oss_bucket)  # exactly the ones still on the server
    assert all("AccessDenied" in r["error"] for r in report.failed_rows)


def test_5xx_on_abort_and_listing_are_retried(oss_emulator, oss_client, oss_bucket):
    initiate_many(oss_client, oss_bucket, [f"r/{i}" for i in range(3)])
    oss_emulator.set_clock_offset(LATER)
    oss_emulator.fail_next(1, "503", "ListMultipartUploads")
    oss_emulator.fail_next(3, "500", "AbortMultipartUpload")  # healed by the client policy
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD, concurrency=1)
    assert report.ok, report.summary()
    assert report.counts["aborted"] == 3
    assert listed(oss_client, oss_bucket) == set()


class InterleavingClient:
    """The real client, but another actor completes or aborts some uploads right before our
    abort reaches them (the race between listing and abort, made deterministic)."""

    def __init__(self, client, bucket, complete: set[str], abort: set[str]) -> None:
        self._client = client
        self._bucket = bucket
        self._complete = complete
        self._abort = abort

    def __getattr__(self, name):
        return getattr(self._client, name)

    def abort_multipart_upload(self, bucket, key, upload_id):
        if upload_id in self._complete:
            part = self._client.upload_part(bucket, key, upload_id, 1, b"finished elsewhere")
            self._client.complete_multipart_upload(bucket, key, upload_id, [part])
        elif upload_id in self._abort:
            self._client.abort_multipart_upload(bucket, key, upload_id)
        return self._client.abort_multipart_upload(bucket, key, upload_id)


def test_uploads_completed_or_aborted_after_listing_count_as_gone(
    oss_emulator, oss_client, oss_bucket
):
    ups = initiate_many(oss_client, oss_bucket, [f"g/{i}" for i in range(6)])
    oss_emulator.set_clock_offset(LATER)
    completed, aborted = {ups[0][1], ups[1][1]}, {ups[2][1]}
    racing = InterleavingClient(oss_client, oss_bucket, completed, aborted)
    report = abort_stale_uploads(racing, oss_bucket, older_than=THRESHOLD, concurrency=4)
    assert report.ok, report.summary()
    assert report.counts["already_gone"] == 3
    assert report.counts["aborted"] == 3
    gone = {r["upload_id"] for r in report.rows if r["action"] == "already_gone"}
    assert gone == completed | aborted
    assert oss_client.get_object(oss_bucket, ups[0][0]) == b"finished elsewhere"
    assert listed(oss_client, oss_bucket) == set()


# ------------------------------------------------------------------ active-upload guard


def test_active_guard_skips_uploads_with_recent_parts(oss_emulator, oss_client, oss_bucket):
    oss_emulator.set_clock_offset(-840)
    (active, idle, empty) = initiate_many(oss_client, oss_bucket, ["act/a", "act/b", "act/c"])
    oss_client.upload_part(oss_bucket, idle[0], idle[1], 1, b"x" * 1000)
    oss_client.upload_part(oss_bucket, idle[0], idle[1], 2, b"y" * 500)
    oss_client.upload_part(oss_bucket, active[0], active[1], 1, b"z" * 300)  # old part...
    oss_emulator.set_clock_offset(0)
    oss_client.upload_part(oss_bucket, active[0], active[1], 2, b"z" * 300)  # ...and a new one
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD, skip_active=True)
    assert report.counts["stale"] == 3
    assert report.counts["skipped_active"] == 1
    assert report.counts["aborted"] == 2
    assert report.bytes_freed == 1500 and report.parts_freed == 2
    by_id = {r["upload_id"]: r for r in report.rows}
    assert by_id[active[1]]["action"] == "skipped_active"
    assert "newest part written" in by_id[active[1]]["error"]
    assert by_id[empty[1]]["action"] == "aborted" and by_id[empty[1]]["bytes"] == 0
    assert listed(oss_client, oss_bucket) == {active}
    # once its newest part is older than the activity window, the same upload is swept
    oss_emulator.set_clock_offset(60)
    report = abort_stale_uploads(
        oss_client, oss_bucket, older_than=THRESHOLD, skip_active=True, active_within="30s"
    )
    assert report.counts["aborted"] == 1 and report.bytes_freed == 600


@pytest.mark.parametrize("kind", ["AccessDenied"])
def test_list_parts_failure_leaves_the_upload_and_fails(oss_emulator, oss_client, oss_bucket, kind):
    (up,) = initiate_many(oss_client, oss_bucket, ["lp/a"])
    oss_emulator.set_clock_offset(LATER)
    oss_emulator.fail_next(1, kind, "ListParts")
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD, skip_active=True)
    assert report.counts["failed"] == 1 and not report.ok
    assert report.failed_rows[0]["error"].startswith("ListParts failed, not aborted")
    assert listed(oss_client, oss_bucket) == {up}


# ------------------------------------------------------------------ safe defaults


def test_by_default_an_old_upload_receiving_a_part_now_is_kept_and_an_idle_one_aborted(
    oss_emulator, oss_client, oss_bucket
):
    """No ``skip_active`` argument: the default must keep the upload being resumed (this test
    fails if the default were still False)."""
    oss_emulator.set_clock_offset(-840)  # both initiated 14 minutes ago by the server's clock
    (resumed, idle) = initiate_many(oss_client, oss_bucket, ["def/resumed", "def/idle"])
    oss_client.upload_part(oss_bucket, idle[0], idle[1], 1, b"i" * 400)
    oss_emulator.set_clock_offset(0)
    oss_client.upload_part(oss_bucket, resumed[0], resumed[1], 1, b"r" * 300)  # "now"
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD)
    assert report.options.skip_active is True
    assert report.counts["stale"] == 2, report.summary()
    assert report.counts["skipped_active"] == 1 and report.counts["aborted"] == 1
    by_id = {r["upload_id"]: r["action"] for r in report.rows}
    assert by_id == {resumed[1]: "skipped_active", idle[1]: "aborted"}
    assert report.bytes_freed == 400
    assert listed(oss_client, oss_bucket) == {resumed}


def test_an_upload_initiated_within_older_than_by_the_server_clock_is_never_aborted(
    oss_emulator, oss_client, oss_bucket
):
    """The server clock runs 14 minutes behind the worker's: by the worker's clock the upload is
    14 minutes old (stale at 10m), by the server's it was just initiated, so it stays."""
    oss_emulator.set_clock_offset(-840)
    (up,) = initiate_many(oss_client, oss_bucket, ["young/k"])
    aborts = op_count(oss_emulator, "AbortMultipartUpload")
    for skip_active in (True, False):
        report = abort_stale_uploads(
            oss_client, oss_bucket, older_than=THRESHOLD, skip_active=skip_active
        )
        assert report.counts["fresh"] == 1 and report.counts["stale"] == 0, report.summary()
    # nine minutes later by the server's clock: still within the threshold
    oss_emulator.set_clock_offset(-840 + 540)
    report = abort_stale_uploads(oss_client, oss_bucket, older_than=THRESHOLD, skip_active=False)
    assert report.counts["fresh"] == 1 and report.clock_source == "server"
    assert op_count(oss_emulator, "AbortMultipartUpload") == aborts
    assert listed(oss_client, oss_bucket) == {up}


# ------------------------------------------------------------------ bad input, before any request


def total_requests(server) -> int:
    return sum(server.stats()["requests"].values())


@pytest.mark.parametrize(
    ("name", "value", "error", "message"),
    [
        ("older_than", float("inf"), ValueError, r"older_than=inf .*infinite"),
        ("older_than", float("nan"), ValueError, r"older_than=nan .*not a number"),
        ("older_than", "99999999999d", ValueError, r"older_than='99999999999d' .*100 years"),
        ("older_than", 10**20, ValueError, r"older_than=100000000000000000000 .*100 years"),
        ("prefixes", 5, TypeError, r"prefixes must be a string or a list/tuple of strings"),
        ("prefixes", {"a": 1}, TypeError, r"prefixes must be a string or a list/tuple"),
        ("include", 5, TypeError, r"include must be a string or a list/tuple of strings"),
        ("exclude", {"*.tmp": 1}, TypeError, r"exclude must be a string or a list/tuple"),
    ],
)
def test_bad_input_raises_before_any_request_reaches_the_server(
    oss_emulator, oss_client, oss_bucket, name, value, error, message
):
    initiate_many(oss_client, oss_bucket, ["bad/k"])
    oss_emulator.set_clock_offset(LATER)
    before = total_requests(oss_emulator)
    with pytest.raises(error, match=message) as caught:
        abort_stale_uploads(oss_client, oss_bucket, **{"older_than": THRESHOLD, name: value})
    assert "'24h'" in str(caught.value) or "e.g." in str(caught.value)  # says what to write
    assert total_requests(oss_emulator) == before
    assert len(listed(oss_client, oss_bucket)) == 1
