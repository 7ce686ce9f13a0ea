"""B1 upload, equal settings: same file, part size and concurrency for every tool; integrity on."""

from __future__ import annotations

import re

from bench.common import MiB
from bench.harness import (
    FLOOR,
    OURS,
    Context,
    ScenarioResult,
    Target,
    best_of,
    emulator,
    run_upload,
    tool_args,
)

TOOLS = ("oss_provider", "oss2", "oss-v2", "bare PUT", FLOOR, "ours, no MD5")


def run(ctx: Context) -> ScenarioResult:
    size, part, conc = ctx.sizes["b1_size"], ctx.sizes["b1_part"], ctx.sizes["b1_conc"]
    path, crc = ctx.source(size)
    res = ScenarioResult(
        "B1",
        "Upload, equal settings",
        f"{size / MiB:.0f} MiB file, {part / MiB:g} MiB parts, {conc} connections, integrity "
        "checks on (ours: Content-MD5 + CRC-64; oss2: CRC-64 via crcmod; v2: default CRC-64); "
        "bare PUT: no signing, no hashing; floor: the bare PUT plus this project's integrity "
        "checks on the same bytes (per part: MD5 sent as Content-MD5, CRC-64 with the same fastcrc "
        "over 1 MiB chunks, compared with the server's; combined CRC-64 checked at Complete), the "
        "limit of the engine's own checks; 'ours, no MD5': this project with content_md5=False "
        "(CRC-64 still checked), a diagnostic row, not a peer",
    )
    runs: dict[str, list] = {t: [] for t in TOOLS}
    with emulator() as srv:
        for rep in range(ctx.repeat):
            for tool in TOOLS:
                args = tool_args(
                    srv,
                    key=f"b1/{re.sub('[^a-z0-9]+', '-', tool.lower())}-{rep}.bin",
                    source=str(path),
                    size=size,
                    part_size=part,
                    concurrency=conc,
                    mode="file",
                    content_md5=tool != "ours, no MD5",
                    integrity=tool == FLOOR,
                )
                runs[tool].append(run_upload("B1", tool, srv, args, crc))
    res.rows = [best_of(runs[t]) for t in TOOLS]
    ours, bare, floor = res.row(OURS), res.row("bare PUT"), res.row(FLOOR)
    wall_peer, cpu_peer = res.best_peer("wall_s"), res.best_peer("cpu_s")
    rss_peer = res.best_peer("peak_rss_mib")
    ok = ours is not None and ours.ok
    floor_ok = ok and floor is not None and floor.ok
    res.targets = [
        Target(
            f"wall / best peer ({wall_peer.tool if wall_peer else '-'})",
            ours.wall_s / wall_peer.wall_s if ok and wall_peer else None,
            0.9,
            unit="x",
        ),
        Target(
            "throughput / bare-PUT ceiling",
            bare.wall_s / ours.wall_s if ok and bare and bare.ok else None,
            0.8,
            op="ge",
            unit="x",
            cause=(
                f"the integrity checks: the floor (bare PUT + the same MD5 and CRC-64, nothing "
                f"else) reaches {bare.wall_s / floor.wall_s:.0%} of the ceiling "
                f"({floor.cpu_s:.2f} s of CPU against {bare.cpu_s:.2f} s) and this project "
                f"{ours.wall_s / floor.wall_s:.2f}x the floor's wall"
                if floor_ok and bare and bare.ok
                else ""
            ),
        ),
        Target(
            f"client CPU / best peer ({cpu_peer.tool if cpu_peer else '-'})",
            ours.cpu_s / cpu_peer.cpu_s if ok and cpu_peer else None,
            0.6,
            unit="x",
        ),
        Target(
            "peak RSS (MiB)",
            ours.peak_rss_mib if ok else None,
            64 + conc * part / MiB,
        ),
        Target(
            f"peak RSS above the best peer's ({rss_peer.tool if rss_peer else '-'}), MiB",
            ours.peak_rss_mib - rss_peer.peak_rss_mib if ok and rss_peer else None,
            16,
        ),
        # information, no limit: how far the engine is from the cost of its own checks
        Target("wall / floor", ours.wall_s / floor.wall_s if floor_ok else None, None, unit="x"),
        Target(
            "client CPU / floor", ours.cpu_s / floor.cpu_s if floor_ok else None, None, unit="x"
        ),
    ]
    no_md5 = res.row("ours, no MD5")
    if ok and bare and bare.ok and no_md5 is not None and no_md5.ok:
        res.notes.append(
            f"without Content-MD5 (CRC-64 still checked per part and for the object) this "
            f"project reaches {bare.wall_s / no_md5.wall_s:.0%} of the bare-PUT ceiling and uses "
            f"{no_md5.cpu_s:.2f} s of CPU; Content-MD5 costs {ours.cpu_s - no_md5.cpu_s:.2f} s of "
            "CPU per run, and on a 2-core machine it competes with the emulator for the cores"
        )
    if floor_ok and bare and bare.ok:
        res.notes.append(
            f"floor: the same bytes with this project's checks and nothing else take "
            f"{floor.wall_s:.2f} s and {floor.cpu_s:.2f} s of CPU (bare PUT {bare.wall_s:.2f} s, "
            f"{bare.cpu_s:.2f} s); this project takes {ours.wall_s / floor.wall_s:.2f}x the "
            f"floor's wall and {ours.cpu_s / floor.cpu_s:.2f}x its CPU"
        )
    return res
