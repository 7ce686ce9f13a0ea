"""B3 non-seekable stream: peak RSS of this project and of the v2 SDK's stream upload."""

from __future__ import annotations

from bench.common import MiB
from bench.harness import OURS, Context, ScenarioResult, Target, emulator, run_upload, tool_args

TOOLS = ("oss_provider", "oss-v2")


def run(ctx: Context) -> ScenarioResult:
    size, part, conc = ctx.sizes["b3_size"], ctx.sizes["b3_part"], ctx.sizes["b3_conc"]
    path, crc = ctx.source(size)
    res = ScenarioResult(
        "B3",
        "Non-seekable stream",
        f"{size / MiB:.0f} MiB through a pipe (stdin), {part / MiB:g} MiB parts, {conc} connections",
    )
    with emulator() as srv:
        for tool in TOOLS:
            args = tool_args(
                srv,
                key=f"b3/{tool}.bin",
                size=size,
                part_size=part,
                concurrency=conc,
                mode="stream",
            )
            res.rows.append(run_upload("B3", tool, srv, args, crc, stdin_file=path))
    res.notes.append(
        "oss-v2 `upload_from` crashes on a real pipe (`OSError: Illegal seek`: its "
        "`guess_content_length` calls `tell()` and catches only `io.UnsupportedOperation`), so it "
        "gets the pipe wrapped in an object with only `read()`; ours gets `sys.stdin.buffer` as is"
    )
    ours = res.row(OURS)
    res.targets = [
        Target(
            "peak RSS (MiB)",
            ours.peak_rss_mib if ours and ours.ok else None,
            (conc + 1) * part / MiB + 64,
        )
    ]
    return res
