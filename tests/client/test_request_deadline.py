"""One deadline per request, and one retry classifier, tried against a real misbehaving proxy
(``tests/_slow_proxy.py``) in front of the emulator, over real HTTP.

- A peer that trickles its answer, or accepts the body slowly, cannot hold a request past its
  deadline: the retry budget plus the body at 1 MiB/s (requests' read timeout is per socket read).
- Complete and Initiate resolve a lost answer with more requests, all under the one deadline
  (each re-send used to start a fresh budget).
- A proxy's HTML 502/503/504 page is retried like any 5xx, by every caller.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from oss_provider.client.api import OSSClient
from oss_provider.client.errors import OSSClientError, OSSTransportError, is_retryable
from oss_provider.client.models import Credentials
from oss_provider.emulator.process import stop_process_group

pytestmark = pytest.mark.timeout(120)

PROXY = ROOT / "tests" / "_slow_proxy.py"
BUDGET = 2.0
SLACK = 1.5  # scheduling and the last read timeout's rounding on a loaded 2-core machine


@pytest.fixture
def proxy(oss_emulator):
    """``proxy(rules)`` -> an ``OSSClient`` that reaches the emulator through the proxy."""
    started: list[subprocess.Popen] = []
    clients: list[OSSClient] = []
    upstream = oss_emulator.endpoint.rsplit(":", 1)[1]

    def start(rules: list[dict], **client_kwargs) -> OSSClient:
        proc = subprocess.Popen(
            [sys.executable, str(PROXY), upstream, json.dumps(rules)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )
        started.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        kwargs = {"retry_budget": BUDGET, "read_timeout": 1.5, "max_retries": 3} | client_kwargs
        client = OSSClient(
            f"http://127.0.0.1:{line.split()[1]}",
            Credentials(oss_emulator.access_key_id, oss_emulator.access_key_secret),
            region=oss_emulator.region,
            **kwargs,
        )
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for proc in started:
        stop_process_group(proc)


def _timed(call):
    started = time.monotonic()
    try:
        call()
    except OSSClientError as error:
        return time.monotonic() - started, error
    return time.monotonic() - started, None


def test_a_trickled_answer_ends_at_the_deadline(proxy, oss_client, oss_bucket):
    oss_client.put_object(oss_bucket, "k", b"x" * 1000)
    client = proxy([{"method": "GET", "action": "trickle", "interval": 0.05}], max_retries=0)
    # 1000 bytes of body plus the headers at 20 bytes/s would take over a minute
    seconds, error = _timed(lambda: client.get_object(oss_bucket, "k"))
    assert isinstance(error, OSSTransportError), error
    assert "deadline" in str(error)
    assert seconds < BUDGET + SLACK, seconds


def test_a_slowly_accepted_body_ends_at_the_deadline(proxy, oss_client, oss_bucket):
    body = os.urandom(4 * 1024 * 1024)  # deadline: the budget plus 4 s for the body
    client = proxy(
        [{"method": "PUT", "action": "slow_body", "chunk": 1024, "interval": 0.05}],
        max_retries=0,
    )
    seconds, error = _timed(lambda: client.put_object(oss_bucket, "slow.bin", body))
    assert isinstance(error, OSSTransportError), error
    assert seconds < BUDGET + 4 + SLACK, seconds
    assert oss_client.bucket_exists(oss_bucket)


def test_complete_resends_and_checks_share_one_deadline(proxy, oss_client, oss_bucket):
    uid = oss_client.start_multipart_upload(oss_bucket, "c.bin").upload_id
    part = oss_client.upload_part(oss_bucket, "c.bin", uid, 1, b"p" * 1000)
    # every Complete vanishes into a silent peer: each send waits its read timeout, the upload
    # stays, and Complete is sent again; ListParts and HEAD pass
    client = proxy([{"method": "POST", "query": "uploadId=", "action": "swallow"}])
    seconds, error = _timed(
        lambda: client.complete_multipart_upload(oss_bucket, "c.bin", uid, [part])
    )
    assert error is not None and is_retryable(error), error
    assert seconds < BUDGET + SLACK, seconds
    assert oss_client.upload_exists(oss_bucket, "c.bin", uid)  # nothing applied: a retry can
    oss_client.abort_multipart_upload(oss_bucket, "c.bin", uid)


def test_initiate_recovery_shares_one_deadline(proxy, oss_client, oss_bucket):
    from oss_provider.client.options import ObjectOptions
    from oss_provider.transfer.ownership import Writer, start_owned_upload

    client = proxy([{"method": "POST", "query": "uploads", "action": "swallow"}])
    options = ObjectOptions()
    writer = Writer.of("deadline-test", options)
    seconds, error = _timed(
        lambda: start_owned_upload(client, oss_bucket, "i.bin", writer, options)
    )
    assert error is not None and is_retryable(error), error
    assert seconds < BUDGET + SLACK, seconds
    assert [u.key for u in oss_client.iter_multipart_uploads(oss_bucket)] == []


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_a_proxy_error_page_is_retried(proxy, oss_client, oss_bucket, status):
    client = proxy([{"method": "PUT", "action": "html", "status": status, "count": 1}])
    client.put_object(oss_bucket, f"p{status}.bin", b"data")  # the second send goes through
    assert oss_client.get_object(oss_bucket, f"p{status}.bin") == b"data"


def test_a_proxy_error_page_that_persists_is_retryable_for_the_task(proxy, oss_bucket):
    from oss_provider.client.errors import OSSResponseError

    client = proxy([{"action": "html", "status": 502}], max_retries=1)
    _, error = _timed(lambda: client.put_object(oss_bucket, "x.bin", b"data"))
    assert is_retryable(error), error  # Airflow retries the task
    assert isinstance(error.__cause__ or error, OSSResponseError)
    client404 = proxy([{"action": "html", "status": 404}], max_retries=3)
    _, wrong_endpoint = _timed(lambda: client404.put_object(oss_bucket, "x.bin", b"data"))
    assert not is_retryable(wrong_endpoint), wrong_endpoint  # a wrong endpoint is a setting


def test_the_sweep_retries_a_proxy_error_page_like_everyone(
    proxy, oss_emulator, oss_client, oss_bucket
):
    from oss_provider.cleanup import abort_stale_uploads

    oss_client.start_multipart_upload(oss_bucket, "stale.bin")
    oss_emulator.set_clock_offset(700)  # the upload is now older than 10 minutes
    client = proxy([{"method": "DELETE", "action": "html", "status": 503, "count": 1}])
    report = abort_stale_uploads(client, oss_bucket, older_than="10m", skip_active=False)
    assert report.ok, report
    assert [u.key for u in oss_client.iter_multipart_uploads(oss_bucket)] == []


def test_the_deadline_watchdog_holds_only_what_is_in_flight():
    """Finished requests behind a long one (a big part's deadline) are dropped: the watchdog's
    memory follows what is in flight, not how many requests went by (100,000 small files)."""
    from oss_provider.client.deadline import WATCHDOG

    long_one = WATCHDOG.watch(time.monotonic() + 3600)  # an upload that stays in flight
    try:
        for _ in range(20_000):
            WATCHDOG.release(WATCHDOG.watch(time.monotonic() + 300))
        assert WATCHDOG.size() < 5_000
    finally:
        WATCHDOG.release(long_one)
