"""B4 cleanup: N stale uploads behind 20 ms of latency; the cleanup operator vs a sequential
oss2 list-and-abort loop.

The uploads are created on a fast emulator (no latency) whose clock is set two days back (so every
upload is stale, older than the 24 h default, by the server's clock); the emulator is then
restarted on the same data directory with the latency on and its clock back to normal (a clock
moved ahead would make the server reject every client's request as skewed).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import MiniOSS, run_child
from bench.harness import OURS, Context, ScenarioResult, Target, emulator, log, tool_args

TOOLS = {"oss_provider": "bench.tool_ours", "oss2": "bench.tool_oss2"}
BUCKETS = {"oss_provider": "b4-ours", "oss2": "b4-oss2"}
TWO_DAYS = 2 * 86400


def _populate(srv, bucket: str, n: int) -> None:
    local = threading.local()

    def one(i: int) -> None:
        mini = getattr(local, "mini", None)
        if mini is None:
            mini = local.mini = MiniOSS(
                srv.endpoint, srv.access_key_id, srv.access_key_secret, clock_offset=-TWO_DAYS
            )
        # a few keys with many uploads each, like retried jobs leave behind
        mini.initiate(bucket, f"stale/{i % (n // 4 or 1):05d}/part.bin")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def run(ctx: Context) -> ScenarioResult:
    n, latency = ctx.sizes["b4_uploads"], ctx.sizes["b4_latency_ms"]
    res = ScenarioResult(
        "B4",
        "Stale-upload cleanup",
        f"{n:,} stale uploads per tool, {latency:g} ms latency per request; ours: "
        "OSSAbortStaleUploadsOperator with its defaults; oss2: sequential list-and-abort loop",
    )
    data_dir = tempfile.mkdtemp(prefix="bench-b4-", dir=ctx.workdir)
    try:
        t0 = time.perf_counter()
        with emulator(data_dir=data_dir, buckets=tuple(BUCKETS.values())) as fast:
            fast.set_clock_offset(-TWO_DAYS)
            for bucket in BUCKETS.values():
                _populate(fast, bucket, n)
        log(f"  B4 created {2 * n:,} uploads in {time.perf_counter() - t0:.1f} s")
        with emulator(data_dir=data_dir, buckets=(), latency_ms=latency) as srv:
            mini = MiniOSS(srv.endpoint, srv.access_key_id, srv.access_key_secret)
            for tool, module in TOOLS.items():
                bucket = BUCKETS[tool]
                args = tool_args(srv, mode="cleanup", older_than_s=86400)
                args["bucket"] = bucket
                env = {
                    "AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": srv.connection_uri_json(bucket),
                    "AIRFLOW_HOME": str(ctx.workdir / "airflow-home-b4"),
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                }
                m = run_child("B4", tool, module, args, env=env, timeout=3600)
                left = mini.count_uploads(bucket)
                m.extra["left"] = left
                if m.ok and left:
                    m.ok, m.error = False, f"{left} uploads left after the sweep"
                log(
                    f"  B4 {tool:<13} {'ok ' if m.ok else 'FAIL'} wall {m.wall_s:7.2f} s  "
                    f"cpu {m.cpu_s:6.2f} s  rss {m.peak_rss_mib:7.1f} MiB  {m.extra}"
                    + (f"  {m.error[-400:]}" if m.error else "")
                )
                res.rows.append(m)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    ours, oss2 = res.row(OURS), res.row("oss2")
    ok = ours and ours.ok and oss2 and oss2.ok
    res.targets = [
        Target(
            "wall / sequential oss2 loop", ours.wall_s / oss2.wall_s if ok else None, 0.1, unit="x"
        )
    ]
    if ours and ours.extra.get("via"):
        res.notes.append(f"ours ran through {ours.extra['via']}")
    return res
