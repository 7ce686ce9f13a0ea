"""B4 cleanup: N stale uploads behind 20 ms of latency; the cleanup operator vs a sequential
oss2 list-and-abort loop, then this project alone at 10x N (CPU per abort, flat memory, a bounded
report).

The stale uploads are written straight into the emulator's store before the server starts (its
``Store`` API, no HTTP: 100,000 in about 20 s instead of minutes of InitiateMultipartUpload
calls), initiated two days ago by the server's clock, so every one is older than the 24 h default;
the emulator then serves them with the latency on. The 10x run has a store of its own, so the
N-upload rows list exactly what they did before.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from typing import Any

from bench.common import Measurement, MiniOSS, run_child
from bench.harness import OURS, Context, ScenarioResult, Target, emulator, log, tool_args

TOOLS = {"oss_provider": "bench.tool_ours", "oss2": "bench.tool_oss2"}
BUCKETS = {"oss_provider": "b4-ours", "oss2": "b4-oss2"}
BIG_BUCKET = "b4-ours-big"
TWO_DAYS = 2 * 86400
CPU_PER_ABORT_MS = 0.5  # issue 26: client CPU per aborted upload
RSS_GROWTH = 1.2  # peak RSS at 10x N over peak RSS at N
REPORT_BYTES = 256 * 1024  # the operator's report (its XCom value): max_rows rows, whatever N


def _populate(data_dir: str, uploads: dict[str, int]) -> None:
    """Create ``uploads[bucket]`` stale uploads per bucket in the store under ``data_dir``."""
    from oss_provider.emulator.store import Store

    store = Store(data_dir)
    initiated = time.time() - TWO_DAYS
    for bucket, n in uploads.items():
        store.create_bucket(bucket, initiated)
        keys = n // 4 or 1  # a few keys with many uploads each, like retried jobs leave behind
        for i in range(n):
            store.initiate(bucket, f"stale/{i % keys:05d}/part.bin", initiated)


def _sweep(ctx: Context, srv: Any, tool: str, label: str, bucket: str) -> Measurement:
    """One tool's sweep of ``bucket`` in its own child process; checks nothing is left."""
    args = tool_args(srv, mode="cleanup", older_than_s=86400)
    args["bucket"] = bucket
    env = {
        "AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": srv.connection_uri_json(bucket),
        "AIRFLOW_HOME": str(ctx.workdir / "airflow-home-b4"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    srv.reset_stats()
    m = run_child("B4", label, TOOLS[tool], args, env=env, timeout=3600)
    requests = sum(srv.stats()["requests"].values())
    aborted = m.extra.get("aborted") or 0
    if aborted:
        m.extra["requests/upload"] = round(requests / aborted, 3)
        m.extra["CPU ms/abort"] = round(m.cpu_s / aborted * 1000, 3)
    left = MiniOSS(srv.endpoint, srv.access_key_id, srv.access_key_secret).count_uploads(bucket)
    m.extra["left"] = left
    if m.ok and left:
        m.ok, m.error = False, f"{left} uploads left after the sweep"
    log(
        f"  B4 {label:<22} {'ok ' if m.ok else 'FAIL'} wall {m.wall_s:7.2f} s  "
        f"cpu {m.cpu_s:6.2f} s  rss {m.peak_rss_mib:7.1f} MiB  {m.extra}"
        + (f"  {m.error[-400:]}" if m.error else "")
    )
    return m


def _cpu_per_abort_ms(m: Measurement | None) -> float | None:
    aborted = m.extra.get("aborted") if m is not None and m.ok else None
    return m.cpu_s / aborted * 1000 if aborted else None


def run(ctx: Context) -> ScenarioResult:
    n, latency = ctx.sizes["b4_uploads"], ctx.sizes["b4_latency_ms"]
    big = ctx.sizes["b4_big_uploads"]
    big_label = f"{OURS}, {big:,}"
    res = ScenarioResult(
        "B4",
        "Stale-upload cleanup",
        f"{n:,} stale uploads per tool, {latency:g} ms latency per request; ours: "
        "OSSAbortStaleUploadsOperator with its defaults (skip_active: one ListParts and one "
        f"Abort per upload); oss2: sequential list-and-abort loop; then ours alone on {big:,}",
    )
    for size, buckets in ((n, BUCKETS), (big, {OURS: BIG_BUCKET})):
        data_dir = tempfile.mkdtemp(prefix="bench-b4-", dir=ctx.workdir)
        try:
            t0 = time.perf_counter()
            _populate(data_dir, dict.fromkeys(buckets.values(), size))
            log(
                f"  B4 created {size * len(buckets):,} uploads in the store in "
                f"{time.perf_counter() - t0:.1f} s"
            )
            with emulator(
                data_dir=data_dir, buckets=(), latency_ms=latency, startup_timeout=600
            ) as srv:
                for tool, bucket in buckets.items():
                    label = big_label if bucket == BIG_BUCKET else tool
                    res.rows.append(_sweep(ctx, srv, tool, label, bucket))
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)

    ours, oss2, ours_big = res.row(OURS), res.row("oss2"), res.row(big_label)
    ok = bool(ours and ours.ok and oss2 and oss2.ok)
    both = bool(ours and ours.ok and ours_big and ours_big.ok)
    res.targets = [
        Target(
            "wall / sequential oss2 loop",
            ours.wall_s / oss2.wall_s if ok else None,
            0.1,
            unit="x",
            cause=(
                f"CPU: ours sends {ours.extra.get('requests/upload')} requests per upload "
                f"(skip_active's ListParts, then Abort) against oss2's "
                f"{oss2.extra.get('requests/upload')}, and used {ours.cpu_s:.1f} s of client CPU "
                f"in {ours.wall_s:.1f} s of wall on 2 cores shared with the emulator"
                if ok
                else ""
            ),
        ),
    ]
    for label, m in ((f"{n:,}", ours), (f"{big:,}", ours_big)):
        value = _cpu_per_abort_ms(m)
        target = Target(f"client CPU per abort at {label}", value, CPU_PER_ABORT_MS, unit=" ms")
        if value is not None and not target.met and m is not None:
            target.cause = (
                f"{m.extra.get('requests/upload')} requests per upload (ListParts for "
                "skip_active, then Abort): the per-request cost of the HTTP stack dominates"
            )
        res.targets.append(target)
    res.targets.append(
        Target(
            f"peak RSS at {big:,} / at {n:,}",
            ours_big.peak_rss_mib / ours.peak_rss_mib if both else None,
            RSS_GROWTH,
            unit="x",
        )
    )
    report_bytes = ours_big.extra.get("report_bytes") if ours_big and ours_big.ok else None
    res.targets.append(Target(f"report JSON bytes at {big:,}", report_bytes, REPORT_BYTES))
    if ours and ours.extra.get("via"):
        res.notes.append(f"ours ran through {ours.extra['via']}")
    if ours and ours_big and ours.ok and ours_big.ok:
        res.notes.append(
            f"report JSON {ours.extra.get('report_bytes')} bytes at {n:,}, "
            f"{ours_big.extra.get('report_bytes')} at {big:,} (rows capped at max_rows, counts "
            "complete)"
        )
    if ok:
        seconds = oss2.wall_s * big / n
        estimate = f"about {seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} s"
    else:
        estimate = "ten times its time at N"
    res.notes.append(
        f"oss2 is not run at {big:,}: its sequential list-and-abort loop would take {estimate}; "
        f"the {big:,} row checks this project's CPU per abort and memory at 10x"
    )
    return res
