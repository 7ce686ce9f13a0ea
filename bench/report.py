"""Turn scenario results into the console table, ``bench/RESULTS.md`` and a PNG chart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.harness import OURS, ScenarioResult, Target

BENCH_DIR = Path(__file__).resolve().parent


def _ratio(ours: float, peer: float) -> str:
    return f"{ours / peer:.2f}x" if peer else "-"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _missed(r: ScenarioResult) -> list[Target]:
    return [t for t in r.targets if t.met is False]


def table(results: list[ScenarioResult]) -> str:
    """Plain-text table: one line per tool, then ratios (ours / best peer) and the targets."""
    lines: list[str] = []
    width = max([14] + [len(m.tool) + 2 for r in results for m in r.rows])
    hdr = f"{'tool':<{width}}{'wall s':>9}{'MB/s':>9}{'CPU s':>9}{'peak RSS MiB':>14}  note"
    for r in results:
        took = f" [{_duration(r.elapsed_s)}]" if r.elapsed_s else ""
        lines += ["", f"{r.key} {r.title}{took}: {r.settings}", hdr, "-" * len(hdr)]
        for m in r.rows:
            note = "" if m.ok else f"FAILED: {m.error[:120]}"
            if m.ok and m.extra:
                note = ", ".join(
                    f"{k}={v}" for k, v in m.extra.items() if k not in ("via", "all_wall_s")
                )
            lines.append(
                f"{m.tool:<{width}}{m.wall_s:>9.2f}{(m.mb_per_s or 0):>9.1f}{m.cpu_s:>9.2f}"
                f"{m.peak_rss_mib:>14.1f}  {note}"
            )
        ours = r.row(OURS)
        peers = [m for m in r.rows if m.ok and m.tool in ("oss2", "oss-v2")]
        if ours and ours.ok and peers:
            bw = min(peers, key=lambda m: m.wall_s)
            bc = min(peers, key=lambda m: m.cpu_s)
            br = min(peers, key=lambda m: m.peak_rss_mib)
            lines.append(
                f"ratio ours/best peer: wall {_ratio(ours.wall_s, bw.wall_s)} ({bw.tool}), "
                f"CPU {_ratio(ours.cpu_s, bc.cpu_s)} ({bc.tool}), "
                f"RSS {_ratio(ours.peak_rss_mib, br.peak_rss_mib)} ({br.tool})"
            )
        for t in r.targets:
            lines.append("target " + t.text() + (f" (cause: {t.cause})" if t.cause else ""))
        for n in r.notes:
            lines.append("note: " + n)
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _md_rows(r: ScenarioResult) -> list[str]:
    out = [
        "| tool | wall s | MB/s | client CPU s | peak RSS MiB | process CPU s | status |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for m in r.rows:
        status = "ok" if m.ok else f"FAILED: {m.error[:200]}"
        if m.ok and m.extra:
            status += " (" + ", ".join(f"{k}: {v}" for k, v in m.extra.items()) + ")"
        rate = f"{m.mb_per_s:.1f}" if m.bytes else "-"  # a cleanup sweep moves no payload
        out.append(
            f"| {_md_cell(m.tool)} | {m.wall_s:.2f} | {rate} | {m.cpu_s:.2f} | "
            f"{m.peak_rss_mib:.1f} | {m.process_cpu_s:.2f} | {_md_cell(status)} |"
        )
    return out


def _anchor(r: ScenarioResult) -> str:
    """GitHub's anchor for the scenario's ``## B6: title`` heading."""
    text = f"{r.key}: {r.title}".lower()
    kept = "".join(c for c in text if c.isalnum() or c in " -_")
    return "#" + kept.replace(" ", "-")


def write_results_md(
    results: list[ScenarioResult],
    machine: dict[str, Any],
    *,
    smoke: bool,
    chart: Path | None,
    path: Path,
    elapsed_s: float,
) -> None:
    pk = machine["packages"]
    keys = ",".join(r.key for r in results)
    lines = [
        "# Benchmark results" + (" (SMOKE RUN: tiny sizes, numbers mean nothing)" if smoke else ""),
        "",
        (
            f"Written by `python -m bench{' --smoke' if smoke else ''}` (scenarios {keys}) on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the run took "
            f"{_duration(elapsed_s)} ("
            + ", ".join(f"{r.key} {_duration(r.elapsed_s)}" for r in results)
            + "). Every tool runs in its own child process against the same local emulator "
            "(`python -m oss_provider.emulator`, on the same machine), with the same source file."
        ),
        "",
        "## Machine",
        "",
        (
            f"- CPU: {machine['cpu']}, {machine['cores']} cores; RAM {machine['ram_gib']} GiB; "
            f"{machine['os']}; Python {machine['python']}"
        ),
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in pk.items()),
        "",
        "## How it is measured",
        "",
        (
            "- **wall s**: the operation alone, timed inside the child after its imports "
            "(initiate to complete, or the whole sweep)."
        ),
        "- **client CPU s**: user+sys CPU of the child during the operation (all its threads).",
        "- **peak RSS MiB**: `VmHWM` of the child process (its peak resident set, imports included).",
        "- **process CPU s**: user+sys of the whole child process, from `os.wait4`.",
        (
            "- Ratios are this project / best peer (oss2 or alibabacloud-oss-v2); every stored object "
            "is checked (size and CRC-64) after each upload."
        ),
        (
            "- The emulator and the client share the machine's cores, so absolute MB/s are "
            "a loopback figure, not a network one."
        ),
        (
            "- Targets: MET or MISSED against the issue's limit; `info` is a ratio reported "
            "without a limit. A missed target's measured cause is under its scenario."
        ),
        "",
    ]
    if chart is not None:
        lines += [f"![chart]({chart.name})", ""]
    lines += [
        "## Targets",
        "",
        "| scenario | target | result | cause, if missed |",
        "|---|---|---|---|",
    ]
    for r in results:
        for t in r.targets:
            cause = t.cause or (f"see [{r.key}]({_anchor(r)})" if t.met is False else "")
            lines.append(f"| {r.key} | {_md_cell(t.measured())} | {t.result} | {_md_cell(cause)} |")
    lines.append("")
    for r in results:
        lines += [f"## {r.key}: {r.title}", ""]
        if r.elapsed_s:
            lines += [
                f"Scenario time: {_duration(r.elapsed_s)} (setup, servers and every tool).",
                "",
            ]
        lines += [r.settings, ""] + _md_rows(r) + [""]
        for n in r.notes:
            lines.append(f"- {n}")
        if r.notes:
            lines.append("")
        missed = _missed(r)
        if missed:
            lines += ["Missed targets, as measured:", ""]
            for t in missed:
                cause = t.cause or "_cause not measured in this run_"
                lines.append(f"- {t.measured()}: {cause}")
            lines.append("")
    path.write_text("\n".join(lines))


def chart(results: list[ScenarioResult], path: Path) -> Path | None:
    """Bars of wall time, CPU and peak RSS per tool for the upload scenarios."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = [
        (r, attr, label)
        for r in results
        if r.key in ("B1", "B2", "B3", "B4", "B6", "B7")
        for attr, label in (
            ("wall_s", "wall s"),
            ("cpu_s", "CPU s"),
            ("peak_rss_mib", "peak RSS MiB"),
        )
        if not (r.key == "B3" and attr == "wall_s")
    ]
    if not panels:
        return None
    cols = 3
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (r, attr, label) in zip(axes.flat, panels, strict=False):
        rows_ok = [m for m in r.rows if m.ok]
        names = [m.tool for m in rows_ok]
        vals = [getattr(m, attr) for m in rows_ok]
        colors = [
            "tab:green"
            if n.startswith(OURS)
            else ("tab:blue" if n.split(",")[0] in ("oss2", "oss-v2") else "tab:gray")
            for n in names
        ]
        bars = ax.bar(names, vals, color=colors)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_title(f"{r.key} {label}", fontsize=10)
        ax.tick_params(axis="x", labelsize=7, rotation=20)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    fig.suptitle(
        "oss_provider (green) vs oss2 / alibabacloud-oss-v2 (blue), ceiling and diagnostics "
        "(gray); lower is better"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
