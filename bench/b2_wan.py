"""B2 upload out of the box over a stand-in WAN link: emulator latency + a per-connection cap.

The emulator adds the latency to every request (``--latency-ms``); it has no bandwidth option,
so ``bench.proxy`` sits in front of it and caps every TCP connection on its own.
"""

from __future__ import annotations

from bench.common import MiB
from bench.harness import (
    Context,
    ScenarioResult,
    Target,
    emulator,
    run_upload,
    throttling_proxy,
    tool_args,
)

TOOLS = ("oss_provider", "oss2", "oss-v2")


def run(ctx: Context) -> ScenarioResult:
    size, latency, mbit = ctx.sizes["b2_size"], ctx.sizes["b2_latency_ms"], ctx.sizes["b2_mbit"]
    path, crc = ctx.source(size)
    res = ScenarioResult(
        "B2",
        "Upload out of the box, WAN-like link",
        f"{size / MiB:.0f} MiB file, {latency:g} ms latency per request, {mbit:g} Mbit/s per "
        "connection (throttling proxy), every tool with its own default part size and concurrency",
    )
    with (
        emulator(latency_ms=latency) as srv,
        throttling_proxy(f"{srv.host}:{srv.port}", mbit) as ep,
    ):
        for tool in TOOLS:
            args = tool_args(
                srv, ep, key=f"b2/{tool}.bin", source=str(path), size=size, mode="file"
            )
            res.rows.append(run_upload("B2", tool, srv, args, crc))
    ours, oss2, v2 = (res.row(t) for t in TOOLS)
    rss_peer = res.best_peer("peak_rss_mib")
    ok = ours is not None and ours.ok

    def speedup(peer):
        return peer.wall_s / ours.wall_s if ok and peer is not None and peer.ok else None

    res.targets = [
        Target("speed-up vs oss2 defaults", speedup(oss2), 3.0, op="ge", unit="x"),
        Target("speed-up vs oss-v2 defaults", speedup(v2), 1.2, op="ge", unit="x"),
        Target(
            f"peak RSS above the best peer's ({rss_peer.tool if rss_peer else '-'}), MiB",
            ours.peak_rss_mib - rss_peer.peak_rss_mib if ok and rss_peer else None,
            16,
        ),
    ]
    return res
