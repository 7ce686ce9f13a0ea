"""``python -m bench``: every scenario (B1..B7) against the official SDKs; ``--smoke``: tiny sizes.

Writes ``bench/RESULTS.md`` and ``bench/results.png`` (a smoke run writes files only when ``--out``
says where), prints the table, and exits non-zero if a tool failed.
A missed target is reported, not an error: the numbers are what they are.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import GiB, MiB, machine_info
from bench.harness import Context, Measurement, ScenarioResult, dump, log
from bench.report import BENCH_DIR, chart, table, write_results_md

SCENARIOS = {
    "B1": "bench.b1_equal",
    "B2": "bench.b2_wan",
    "B3": "bench.b3_stream",
    "B4": "bench.b4_cleanup",
    "B5": "bench.b5_airflow",
    "B6": "bench.b6_files",
    "B7": "bench.b7_many_files",
}

FULL = {
    "b1_size": 1 * GiB,
    "b1_part": 8 * MiB,
    "b1_conc": 4,
    "b2_size": 1 * GiB,
    "b2_latency_ms": 30,
    "b2_mbit": 200,
    "b3_size": 1 * GiB,
    "b3_part": 8 * MiB,
    "b3_conc": 4,
    "b4_uploads": 10_000,
    "b4_latency_ms": 20,
    "b4_big_uploads": 100_000,  # ours alone, at 10x: CPU per abort and flat memory
    "b5_parts": 10_000,
    "b5_part": 100 * 1024,  # the OSS minimum part size: 10,000 parts = 977 MiB
    "b6_files": 2000,
    "b6_small_max": 16 * MiB,
    "b6_big_files": 4,
    "b6_big_size": 256 * MiB,
    "b6_part": 8 * MiB,
    "b6_conc": 16,
    "b7_files": 100_000,  # small files (1-64 KiB) in a deep tree
    "b7_files_small": 10_000,  # the same tree at 1/10: memory must not grow with the count
}
SMOKE = {
    "b1_size": 3 * MiB,
    "b1_part": 256 * 1024,
    "b1_conc": 4,
    "b2_size": 2 * MiB,
    "b2_latency_ms": 30,
    "b2_mbit": 200,
    "b3_size": 2 * MiB,
    "b3_part": 256 * 1024,
    "b3_conc": 4,
    "b4_uploads": 40,
    "b4_latency_ms": 20,
    "b4_big_uploads": 80,
    "b5_parts": 12,
    "b5_part": 100 * 1024,
    "b6_files": 40,
    "b6_small_max": 64 * 1024,
    "b6_big_files": 1,
    "b6_big_size": 1 * MiB,
    "b6_part": 256 * 1024,
    "b6_conc": 4,
    "b7_files": 300,
    "b7_files_small": 30,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness in seconds")
    p.add_argument("--only", default="", help="comma-separated scenarios, e.g. B1,B3")
    p.add_argument("--repeat", type=int, default=None, help="B1 runs per tool, best wall kept")
    p.add_argument("--out", default=None, help="directory for RESULTS.md and results.png")
    p.add_argument("--json", default=None, help="also write the raw results as JSON here")
    args = p.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the emulator, the proxy and a running tool are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    keys = [k.strip().upper() for k in args.only.split(",") if k.strip()] or list(SCENARIOS)
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    workdir = Path(tempfile.mkdtemp(prefix="oss-bench-"))
    out = Path(args.out) if args.out else (None if args.smoke else BENCH_DIR)
    repeat = args.repeat or (1 if args.smoke else 2)
    ctx = Context(
        smoke=args.smoke, workdir=workdir, sizes=SMOKE if args.smoke else FULL, repeat=repeat
    )
    machine = machine_info()
    started = time.perf_counter()
    results: list[ScenarioResult] = []
    try:
        for key in keys:
            log(f"== {key} ({'smoke' if args.smoke else 'full'})")
            t0 = time.perf_counter()
            try:
                result = importlib.import_module(SCENARIOS[key]).run(ctx)
            except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others
                traceback.print_exc()
                result = ScenarioResult(key, "(scenario crashed)", "")
                result.rows.append(
                    Measurement(key, "harness", ok=False, error=f"{type(exc).__name__}: {exc}")
                )
            result.elapsed_s = time.perf_counter() - t0
            results.append(result)
            log(f"   {key} took {result.elapsed_s:.1f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the 1 GiB sources go, whatever happens
    elapsed = time.perf_counter() - started
    print(table(results))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        png = chart(results, out / "results.png")
        md = out / "RESULTS.md"
        write_results_md(results, machine, smoke=args.smoke, chart=png, path=md, elapsed_s=elapsed)
        print(f"\nwrote {md}" + (f" and {png}" if png else ""))
    if args.json:
        Path(args.json).write_text(dump(results))
    failed = [f"{r.key}/{m.tool}" for r in results for m in r.rows if not m.ok]
    if failed:
        print(f"FAILED runs: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
