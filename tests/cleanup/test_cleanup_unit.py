"""Pure-logic tests of the stale-upload sweep: argument parsing, the age rule, report capping,
the marker guard and bounded memory. A tiny in-test fake stands in for the three client methods;
behaviour against a real server is in ``test_cleanup_emulator.py``."""

from __future__ import annotations

import inspect
import json
import logging
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pendulum
import pytest

from oss_provider.cleanup import (
    CleanupOptions,
    abort_stale_uploads,
    format_age,
    key_selected,
    normalize_prefixes,
    parse_older_than,
)
from oss_provider.client.errors import OSSError
from oss_provider.client.models import PartInfo, UploadInfo, UploadsPage

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


class FakeClient:
    """The listing, ListParts and abort calls, driven by a page generator; ``parts`` maps an
    upload id to the LastModified times of its parts (no entry: no parts)."""

    def __init__(
        self,
        pages,
        abort_error: dict[str, Exception] | None = None,
        parts: dict[str, list[datetime]] | None = None,
    ) -> None:
        self._pages = pages
        self.abort_error = abort_error or {}
        self.parts = parts or {}
        self.aborted: list[str] = []
        self.parts_listed: list[str] = []

    def iter_multipart_upload_pages(self, bucket, *, prefix=None, page_size=1000):
        return iter(self._pages() if callable(self._pages) else self._pages)

    def abort_multipart_upload(self, bucket, key, upload_id):
        if upload_id in self.abort_error:
            raise self.abort_error[upload_id]
        self.aborted.append(upload_id)
        return True

    def iter_parts(self, bucket, key, upload_id):
        self.parts_listed.append(upload_id)
        for n, when in enumerate(self.parts.get(upload_id, []), start=1):
            yield PartInfo(n, f"etag{n}", 100, when)


class NoRequestClient:
    """Fails the test on any request: bad arguments must be refused before the first one."""

    def __getattr__(self, name):
        raise AssertionError(f"{name} was called: the arguments were not checked first")


def page(uploads, *, server_date=NOW, truncated=False, km="", um="", nkm="", num=""):
    return UploadsPage("b", list(uploads), [], km, um, nkm, num, 1000, truncated, server_date)


def up(key, uid, initiated):
    return UploadInfo(key, uid, initiated)


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("90m", timedelta(minutes=90)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d 12h 30m", timedelta(days=1, hours=12, minutes=30)),
        ("2 days 3 hours", timedelta(days=2, hours=3)),
        ("1w", timedelta(weeks=1)),
        ("45s", timedelta(seconds=45)),
        ("1.5h", timedelta(minutes=90)),
        ("3600", timedelta(hours=1)),
        ("P7D", timedelta(days=7)),
        ("PT36H", timedelta(hours=36)),
        (7200, timedelta(hours=2)),
        (timedelta(hours=5), timedelta(hours=5)),
        (pendulum.duration(days=2, hours=1), timedelta(days=2, hours=1)),
        (None, timedelta(hours=24)),
    ],
)
def test_parse_older_than(value, expected):
    parsed = parse_older_than(value)
    assert parsed == expected
    assert type(parsed) is timedelta


@pytest.mark.parametrize(
    "value", ["", "0h", "-1h", "abc", "5x", "24 parsecs", True, [1], "2026-01-01"]
)
def test_parse_older_than_rejects_bad_input_with_a_hint(value):
    with pytest.raises(ValueError, match=r"older_than=.*'24h'"):
        parse_older_than(value)


def test_options_reject_bad_values():
    with pytest.raises(ValueError, match="concurrency"):
        CleanupOptions.build(concurrency=0)
    with pytest.raises(ValueError, match="max_aborts"):
        CleanupOptions.build(max_aborts=-1)
    with pytest.raises(ValueError, match="page_size"):
        CleanupOptions.build(page_size=1001)
    with pytest.raises(TypeError, match="dry_run"):
        CleanupOptions.build(dry_run="yes")
    with pytest.raises(ValueError, match="active_within="):
        CleanupOptions.build(active_within="soon")


def test_prefixes_are_merged_so_nothing_is_counted_twice():
    assert normalize_prefixes(None) == ("",)
    assert normalize_prefixes([]) == ("",)
    assert normalize_prefixes(["a/", ""]) == ("",)
    assert normalize_prefixes(["x/y/", "x/", "b"]) == ("b", "x/")
    assert normalize_prefixes("logs/") == ("logs/",)


def test_globs_include_then_exclude():
    assert key_selected("a/b.csv", (), ())
    assert key_selected("a/b.csv", ("*.csv",), ())
    assert not key_selected("a/b.txt", ("*.csv",), ())
    assert not key_selected("a/tmp/b.csv", ("*.csv",), ("*/tmp/*",))
    assert not key_selected("A/B.CSV", ("*.csv",), ())  # keys are case-sensitive


def test_format_age():
    assert format_age(93784) == "1d 2h 3m"
    assert format_age(3700) == "1h 1m"
    assert format_age(59) == "59s"
    assert format_age(None) == "-"


# ------------------------------------------------------------------ the age rule


def test_age_boundary_is_strictly_older_than():
    threshold = timedelta(hours=24)
    uploads = [
        up("k", "exactly", NOW - threshold),
        up("k", "one-second-more", NOW - threshold - timedelta(seconds=1)),
        up("k", "one-second-less", NOW - threshold + timedelta(seconds=1)),
        up("k", "in-the-future", NOW + timedelta(hours=1)),
    ]
    client = FakeClient([page(uploads)])
    report = abort_stale_uploads(client, "b", older_than=threshold)
    assert client.aborted == ["one-second-more"]
    assert report.counts["seen"] == 4
    assert report.counts["fresh"] == 3
    assert report.counts["stale"] == report.counts["aborted"] == 1


def test_naive_initiated_is_taken_as_utc_and_missing_one_is_skipped_with_a_warning(caplog):
    uploads = [
        up("k", "naive", (NOW - timedelta(days=2)).replace(tzinfo=None)),
        up("k", "missing", None),
    ]
    with caplog.at_level(logging.WARNING, logger="oss_provider.cleanup"):
        report = abort_stale_uploads(FakeClient([page(uploads)]), "b")
    assert report.counts["aborted"] == 1
    assert report.counts["skipped_no_initiated"] == 1
    assert "Initiated time is missing or unparsable" in caplog.text
    assert [r["upload_id"] for r in report.rows if r["action"] == "skipped_no_initiated"] == [
        "missing"
    ]


def test_missing_date_header_falls_back_to_local_clock_and_says_so(caplog):
    old = datetime.now(UTC) - timedelta(days=3)
    with caplog.at_level(logging.WARNING, logger="oss_provider.cleanup"):
        report = abort_stale_uploads(FakeClient([page([up("k", "u", old)], server_date=None)]), "b")
    assert report.counts["aborted"] == 1
    assert report.clock_source == "local"
    assert "no usable Date header" in caplog.text


# ------------------------------------------------------------------ report


def test_rows_are_capped_failed_first_and_counts_stay_complete():
    old = NOW - timedelta(days=2)
    uploads = [up(f"k{i:03d}", f"u{i:03d}", old) for i in range(40)]
    errors = {f"u{i:03d}": OSSError(403, "AccessDenied", "no") for i in (5, 17, 33)}
    report = abort_stale_uploads(FakeClient([page(uploads)], errors), "b", max_rows=5)
    data = report.to_dict()
    json.dumps(data)  # JSON-able for XCom
    assert data["counts"]["aborted"] == 37
    assert data["counts"]["failed"] == 3
    assert len(data["rows"]) == 5
    assert sorted(r["upload_id"] for r in data["rows"][:3]) == ["u005", "u017", "u033"]
    assert all(r["action"] == "failed" for r in data["rows"][:3])
    assert "AccessDenied" in data["rows"][0]["error"]
    assert data["rows_omitted"] == 35
    assert data["ok"] is False
    table = report.format_table()
    assert "35 more rows not shown" in table and "failed 3" in table


def test_stale_outcomes_add_up_to_stale():
    old = NOW - timedelta(days=2)
    uploads = [up(f"k{i}", f"u{i}", old) for i in range(30)]
    errors = {"u3": OSSError(403, "AccessDenied", "no")}
    report = abort_stale_uploads(FakeClient([page(uploads)], errors), "b", max_aborts=10)
    c = report.counts
    outcomes = ("aborted", "already_gone", "failed", "skipped_active", "skipped_max_aborts")
    assert sum(c[k] for k in outcomes) + c["would_abort"] == c["stale"] == 30
    assert c["aborted"] + c["failed"] + c["already_gone"] == 10
    assert c["skipped_max_aborts"] == 20


# ------------------------------------------------------------------ listing guard and memory


def test_markers_that_do_not_advance_stop_the_listing_instead_of_looping():
    def endless() -> Iterator[UploadsPage]:
        while True:  # a broken server: same page, same markers, forever
            yield page([up("k", "u", NOW)], truncated=True, km="k", um="u", nkm="k", num="u")

    report = abort_stale_uploads(FakeClient(endless), "b")
    assert not report.listing_complete
    assert "did not advance" in report.listing_error
    assert report.ok is False
    assert report.pages == 1


def test_a_repeated_page_stops_the_listing():
    pages = [
        page([up("a", "1", NOW)], truncated=True, nkm="a", num="1"),
        page([up("b", "2", NOW)], truncated=True, km="a", um="1", nkm="b", num="2"),
        page([up("b", "2", NOW)], truncated=True, km="a", um="1", nkm="b", num="2"),
    ]
    report = abort_stale_uploads(FakeClient(pages), "b")
    assert "repeated a page" in report.listing_error


def test_hundred_thousand_uploads_in_bounded_memory():
    """100,000 listed uploads (100 pages), streamed: memory stays far below holding them all."""
    old = NOW - timedelta(days=9)

    def pages() -> Iterator[UploadsPage]:
        for p in range(100):
            ups = [up(f"data/{p:03d}/{i:04d}.bin", f"{p:03d}{i:04d}" * 4, old) for i in range(1000)]
            yield page(ups, truncated=p < 99, nkm=f"data/{p:03d}/0999.bin", num=f"{p:03d}0999")

    tracemalloc.start()
    try:
        report = abort_stale_uploads(
            FakeClient(pages), "b", dry_run=True, max_rows=100, skip_active=False
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.counts["seen"] == report.counts["would_abort"] == 100_000
    assert report.pages == 100 and report.listing_complete
    assert len(report.rows) == 100
    # one page of 1,000 entries is ~0.5 MB; all 100,000 would be ~50 MB
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


# ------------------------------------------------------------------ safe defaults


def test_skip_active_is_the_default_everywhere():
    from oss_provider.cleanup import abort_stale_uploads

    assert inspect.signature(CleanupOptions.build).parameters["skip_active"].default is True
    assert CleanupOptions().skip_active is True and CleanupOptions.build().skip_active is True
    client = FakeClient([page([])])
    assert abort_stale_uploads(client, "b").options.skip_active is True  # options default too


def test_by_default_an_old_upload_with_a_recent_part_is_kept_and_an_idle_one_aborted():
    old = NOW - timedelta(days=3)
    uploads = [
        up("k/resumed", "resumed", old),
        up("k/idle", "idle", old),
        up("k/empty", "empty", old),
    ]
    parts = {
        "resumed": [old, NOW - timedelta(minutes=5)],  # being resumed right now
        "idle": [old + timedelta(hours=1)],  # last part two days ago
    }
    client = FakeClient([page(uploads)], parts=parts)
    report = abort_stale_uploads(client, "b")  # no skip_active argument
    assert sorted(client.aborted) == ["empty", "idle"]
    assert report.counts["skipped_active"] == 1 and report.counts["aborted"] == 2
    # active_within narrows the window: a part 5 minutes old is no longer "active" within 1 min
    client = FakeClient([page(uploads)], parts=parts)
    abort_stale_uploads(client, "b", active_within="1m")
    assert sorted(client.aborted) == ["empty", "idle", "resumed"]
    # the old behaviour stays available explicitly, without any ListParts
    client = FakeClient([page(uploads)], parts=parts)
    abort_stale_uploads(client, "b", skip_active=False)
    assert sorted(client.aborted) == ["empty", "idle", "resumed"] and client.parts_listed == []


@pytest.mark.parametrize("skip_active", [True, False])
def test_an_upload_initiated_within_older_than_is_never_aborted_or_listed(skip_active):
    threshold = timedelta(hours=1)
    uploads = [
        up("k", "just-now", NOW),
        up("k", "almost", NOW - threshold + timedelta(milliseconds=1)),
        up("k", "exactly", NOW - threshold),
        up("k", "future", NOW + timedelta(minutes=10)),  # server clock behind its own stamp
    ]
    client = FakeClient([page(uploads)])
    report = abort_stale_uploads(client, "b", older_than=threshold, skip_active=skip_active)
    assert client.aborted == [] and client.parts_listed == []
    assert report.counts["fresh"] == 4 and report.counts["stale"] == 0


# ------------------------------------------------------------------ bad input, before any request

BAD_INPUTS = [
    ("older_than", float("inf"), ValueError, r"older_than=inf .*infinite.*'24h'.*100 years"),
    ("older_than", float("-inf"), ValueError, r"older_than=-inf .*positive"),
    ("older_than", float("nan"), ValueError, r"older_than=nan .*not a number.*'24h'"),
    ("older_than", "99999999999d", ValueError, r"older_than='99999999999d' .*100 years"),
    ("older_than", 10**20, ValueError, r"older_than=100000000000000000000 .*100 years"),
    ("older_than", 10**400, ValueError, r"older_than=1000.*\.\.\. .*100 years"),
    ("older_than", "9" * 400, ValueError, r"older_than=.*100 years"),
    ("older_than", "P99999999999D", ValueError, r"older_than='P99999999999D'.*'24h'"),
    ("older_than", timedelta.max, ValueError, r"older_than=.*100 years"),
    ("active_within", float("nan"), ValueError, r"active_within=nan .*not a number"),
    ("active_within", "99999999999d", ValueError, r"active_within='99999999999d' .*100 years"),
    ("prefixes", 5, TypeError, r"prefixes must be a string or a list/tuple of strings.*got 5"),
    ("prefixes", {"a": 1}, TypeError, r"prefixes must be a string or a list/tuple.*\{'a': 1\}"),
    ("prefixes", {"a/"}, TypeError, r"prefixes must be .*\(set\)"),
    ("prefixes", [b"a/"], TypeError, r"prefixes must be .*item b'a/'"),
    ("include", 5, TypeError, r"include must be a string or a list/tuple of strings.*got 5"),
    ("include", {"*.csv": 1}, TypeError, r"include must be .*\(dict\)"),
    ("exclude", 5, TypeError, r"exclude must be a string or a list/tuple of strings.*got 5"),
    ("exclude", ["*.tmp", 3], TypeError, r"exclude must be .*item 3"),
    ("concurrency", "abc", ValueError, r"concurrency must be a whole number between 1 and 256"),
    ("skip_active", "yes", TypeError, r"skip_active must be True or False"),
]


@pytest.mark.parametrize(("name", "value", "error", "message"), BAD_INPUTS)
def test_bad_input_is_refused_before_any_request(name, value, error, message):
    with pytest.raises(error, match=message):
        abort_stale_uploads(NoRequestClient(), "b", **{name: value})
    with pytest.raises(error, match=message):
        CleanupOptions.build(**{name: value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(days=36_525), timedelta(days=36_525)),  # the maximum itself is accepted
        ("100w", timedelta(weeks=100)),
        (0.5, timedelta(milliseconds=500)),
    ],
)
def test_long_and_short_but_sane_ages_are_accepted(value, expected):
    assert parse_older_than(value) == expected


def test_prefixes_and_globs_accept_a_string_a_list_or_a_tuple():
    options = CleanupOptions.build(prefixes=("a/", "b/"), include="*.csv", exclude=["*.tmp"])
    assert options.prefixes == ("a/", "b/")
    assert options.include == ("*.csv",) and options.exclude == ("*.tmp",)
