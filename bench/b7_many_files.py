"""B7 many small files: 100,000 files of 1-64 KiB in a deep tree, in one task.

This project's ``upload_files`` runs on the whole tree and on a tenth of it (the first 10,000
files, hard links into a second tree), each in a child process of its own, into an empty prefix
(with ``skip_unchanged`` on, its default: the listing of the prefix is merged with the walk). Peak
RSS must not grow with the file count (the walk, the listing and the report are streamed or
capped), a progress line must come at least every 30 s, and the report (the XCom value) must stay
small (its rows are capped, its counts complete). The best peer, a user's oss2 thread-pool loop (16 threads, ``resumable_upload`` per
file), uploads the 100,000 files too, given 600 s. Every run is checked afterwards: the objects
under the prefix (count and sizes) and the MD5 of every 97th.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

from bench.common import MiB, run_child
from bench.harness import Context, ScenarioResult, Target, emulator, log, tool_args

OURS = "oss_provider"
OSS2 = "oss2"
PREFIX = "b7/"
CONCURRENCY = 16
PART = 8 * MiB  # every file is far below it: one PUT each
PEER_TIMEOUT = 600.0
MIN_SIZE, MAX_SIZE = 1024, 64 * 1024
GAP_LIMIT = 30.0  # seconds between progress lines, at most
RSS_GROWTH = 1.2  # peak RSS at the full count / at a tenth, at most
XCOM_LIMIT = 64 * 1024  # bytes: the counts and at most 100 rows of ~200 B, whatever the count


def _rel(i: int) -> str:
    """A deep tree: four levels of ten directories, ten files in each leaf at 100,000."""
    return f"l{i % 10}/m{i // 10 % 10}/n{i // 100 % 10}/o{i // 1000 % 10}/f{i:06d}.bin"


def make_tree(root: Path, count: int) -> dict[str, int]:
    """``count`` files, sizes log-uniform in 1-64 KiB (mean ~15 KiB), every file's bytes
    different (its index first); returns ``{relative path: size}``."""
    rng = random.Random(7)
    base = hashlib.shake_256(b"b7").digest(MAX_SIZE)
    layout: dict[str, int] = {}
    made: set[Path] = set()
    for i in range(count):
        rel = _rel(i)
        size = int(MIN_SIZE * (MAX_SIZE / MIN_SIZE) ** rng.random())
        path = root / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, (i.to_bytes(8, "little") + base[8:])[:size])
        finally:
            os.close(fd)
        layout[rel] = size
    return layout


def link_tree(src: Path, dst: Path, rels: list[str]) -> None:
    """A second tree of hard links to some of ``src``'s files (no bytes written)."""
    made: set[Path] = set()
    for rel in rels:
        target = dst / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        os.link(src / rel, target)


def _verify(client: Any, bucket: str, root: Path, layout: dict[str, int], rels: list[str]) -> str:
    stored = {o["key"]: o for o in client.list_objects(bucket, prefix=PREFIX)}
    if len(stored) != len(rels):
        return f"{len(stored)} objects stored, {len(rels)} files"
    for n, rel in enumerate(rels):
        obj = stored.get(PREFIX + rel)
        if obj is None or obj["size"] != layout[rel]:
            return f"{rel}: missing or wrong size"
        if not n % 97:
            md5 = hashlib.md5((root / rel).read_bytes()).hexdigest().upper()
            if (obj["etag"] or "").upper() != md5:
                return f"{rel}: MD5 differs"
    return ""


def run(ctx: Context) -> ScenarioResult:
    from oss_provider.client.api import OSSClient
    from oss_provider.client.models import Credentials

    full, small = ctx.sizes["b7_files"], ctx.sizes["b7_files_small"]
    peer_timeout = 60.0 if ctx.smoke else PEER_TIMEOUT
    tree, tenth = ctx.workdir / "b7" / "tree", ctx.workdir / "b7" / "tenth"
    layout = make_tree(tree, full)
    rels = sorted(layout)
    first = [_rel(i) for i in range(small)]
    link_tree(tree, tenth, first)
    total = sum(layout.values())
    log(f"  B7 tree: {full:,} files, {total / MiB:.0f} MiB; a tenth: {small:,} files")
    res = ScenarioResult(
        "B7",
        "Many small files: one task, flat memory",
        f"{full:,} files of 1-64 KiB (log-uniform, {total / MiB:.0f} MiB) in a tree four "
        f"directories deep; local emulator, no added latency; {CONCURRENCY} requests at a time. "
        f"Ours: upload_files (skip_unchanged on, empty prefix) on the whole tree and on its "
        f"first {small:,} files; oss2: a 16-thread resumable_upload loop over the whole tree, "
        f"given {peer_timeout:.0f} s",
    )
    runs = [
        (f"{OURS}, {small:,} files", "bench.tool_many_ours", tenth, sorted(first), 1800.0),
        (f"{OURS}, {full:,} files", "bench.tool_many_ours", tree, rels, 3600.0),
        (f"{OSS2}, {full:,} files", "bench.tool_files_oss2", tree, rels, peer_timeout),
    ]
    with emulator() as srv:
        client = OSSClient(srv.endpoint, Credentials(srv.access_key_id, srv.access_key_secret),
                           region=srv.region)  # fmt: skip
        for n, (name, module, root, files, timeout) in enumerate(runs):
            # a bucket per run: removing one of 100,000 objects takes the emulator minutes
            bucket = f"b7-run-{n}"
            srv.create_bucket(bucket)
            srv.reset_stats()
            args = tool_args(
                srv, root=str(root), prefix=PREFIX, part_size=PART, concurrency=CONCURRENCY,
                part_threads=4,
            )  # fmt: skip
            args["bucket"] = bucket
            m = run_child("B7", name, module, args, timeout=timeout)
            stats = srv.stats()
            requests = sum(stats["requests"].values())
            if not m.ok and m.process_wall_s >= timeout - 1:
                m.error = f"did not finish within {timeout:.0f} s (stopped)"
                m.extra["stored_when_stopped"] = stats["requests"].get("PutObject", 0)
            elif m.ok:
                problem = _verify(client, bucket, root, layout, files)
                if problem:
                    m.ok, m.error = False, problem
            m.extra.update(
                files=len(files),
                requests=requests,
                **{"req/file": round(requests / len(files), 3)},
                **{"CPU ms/file": round(1000 * m.cpu_s / len(files), 3)},
            )
            if module == "bench.tool_many_ours" or m.ok:
                res.rows.append(m)
            log(
                f"  B7 {m.tool:<24} {'ok ' if m.ok else 'FAIL'} wall {m.wall_s:7.2f} s  "
                f"cpu {m.cpu_s:6.2f} s  rss {m.peak_rss_mib:7.1f} MiB  "
                f"{ {k: v for k, v in m.extra.items() if k != 'stderr_tail'} }"
                + (f"  {m.error[-300:]}" if m.error else "")
            )
            if module != "bench.tool_many_ours" and not m.ok:
                res.notes.append(f"{m.tool}: {m.error}; no row (its numbers are not comparable)")
        client.close()
    res.targets = _targets(res, small, full, peer_timeout)
    return res


def _targets(res: ScenarioResult, small: int, full: int, peer_timeout: float) -> list[Target]:
    tenth = res.row(f"{OURS}, {small:,} files")
    whole = res.row(f"{OURS}, {full:,} files")
    peer = res.row(f"{OSS2}, {full:,} files")
    both = tenth is not None and tenth.ok and whole is not None and whole.ok
    gaps = [m.extra.get("max_log_gap_s") for m in (tenth, whole) if m is not None and m.ok]
    ratio = lambda attr: getattr(whole, attr) / getattr(peer, attr) if whole and peer else None
    return [
        Target(
            f"peak RSS at {full:,} / at {small:,} files",
            whole.peak_rss_mib / tenth.peak_rss_mib if both else None,
            RSS_GROWTH,
            unit="x",
        ),
        Target(
            "longest stretch without a progress line, s",
            max(gaps) if gaps else None,
            GAP_LIMIT,
            unit=" s",
        ),
        Target(
            f"report (XCom) bytes at {full:,} files",
            float(whole.extra["xcom_bytes"]) if whole is not None and whole.ok else None,
            XCOM_LIMIT,
        ),
        Target(
            f"{OSS2} finished {full:,} files within {peer_timeout:.0f} s (1 = yes)",
            1.0 if peer is not None and peer.ok else 0.0,
            None,
        ),
        Target(f"wall, ours / {OSS2} at {full:,} files", ratio("wall_s"), None, unit="x"),
        Target(f"client CPU, ours / {OSS2} at {full:,} files", ratio("cpu_s"), None, unit="x"),
    ]


__all__ = ["make_tree", "run"]
