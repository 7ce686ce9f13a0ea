"""The scenario runner's shared state: sizes (full or smoke), servers, results and targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, Measurement, MiB, MiniOSS, make_source_file, run_child, verify_object
from oss_provider.emulator.process import stop_process_group

OURS = "oss_provider"
FLOOR = "floor (PUT+MD5+CRC-64)"  # bare PUT + this project's integrity checks (B1)
TOOL_MODULES = {
    "oss_provider": "bench.tool_ours",
    "ours, no MD5": "bench.tool_ours",  # diagnostic: what Content-MD5 costs (CRC-64 still on)
    "oss2": "bench.tool_oss2",
    "oss-v2": "bench.tool_v2",
    "bare PUT": "bench.tool_bare",
    FLOOR: "bench.tool_bare",
}


_OPS = {
    "le": ("<=", lambda v, lim: v <= lim),
    "lt": ("<", lambda v, lim: v < lim),
    "ge": (">=", lambda v, lim: v >= lim),
    "gt": (">", lambda v, lim: v > lim),
}


@dataclass
class Target:
    """One goal from the issue: ``value`` compared with ``limit`` (``le``: value <= limit).

    ``limit=None`` makes it a ratio reported for information (``met`` is None: neither MET nor
    MISSED). ``cause``: what a run measured about why a target was missed (the report shows it
    beside the target; without one it keeps a marked place for it).
    """

    name: str
    value: float | None
    limit: float | None
    op: str = "le"
    unit: str = ""
    cause: str = ""

    @property
    def met(self) -> bool | None:
        if self.limit is None:
            return None
        if self.value is None:
            return False
        return _OPS[self.op][1](self.value, self.limit)

    @property
    def result(self) -> str:
        return {True: "MET", False: "MISSED", None: "info"}[self.met]

    def measured(self) -> str:
        """``name: value (target <= limit)`` without the verdict."""
        val = "n/a" if self.value is None else f"{self.value:.3g}{self.unit}"
        if self.limit is None:
            return f"{self.name}: {val}"
        return f"{self.name}: {val} (target {_OPS[self.op][0]} {self.limit:.3g}{self.unit})"

    def text(self) -> str:
        return f"{self.measured()} {self.result}"


@dataclass
class ScenarioResult:
    key: str  # "B1"
    title: str
    settings: str
    rows: list[Measurement] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0  # the whole scenario (sources, servers and every tool), set by __main__

    def row(self, tool: str) -> Measurement | None:
        return next((r for r in self.rows if r.tool == tool), None)

    def best_peer(
        self, attr: str, peers: tuple[str, ...] = ("oss2", "oss-v2")
    ) -> Measurement | None:
        ok = [r for r in self.rows if r.tool in peers and r.ok]
        return min(ok, key=lambda r: getattr(r, attr)) if ok else None


@dataclass
class Context:
    """What every scenario gets: the mode, a work directory and the shared source file."""

    smoke: bool
    workdir: Path
    sizes: dict[str, Any]
    repeat: int = 1
    _sources: dict[int, tuple[Path, int]] = field(default_factory=dict)

    def source(self, size: int) -> tuple[Path, int]:
        """A file of ``size`` random bytes (made once, shared by every tool); (path, CRC-64)."""
        if size not in self._sources:
            path = self.workdir / f"source-{size}.bin"
            t0 = time.perf_counter()
            crc = make_source_file(path, size)
            log(
                f"  source {path.name}: {size / MiB:.0f} MiB written in {time.perf_counter() - t0:.1f} s"
            )
            self._sources[size] = (path, crc)
        return self._sources[size]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def emulator(**kwargs: Any):
    """An emulator process (``oss_provider.emulator.process.EmulatorServer``) with the bench bucket."""
    from oss_provider.emulator.process import EmulatorServer

    kwargs.setdefault("buckets", ("bench",))
    return EmulatorServer(**kwargs)


def tool_args(srv: Any, endpoint: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": endpoint or srv.endpoint,
        "ak": srv.access_key_id,
        "sk": srv.access_key_secret,
        "region": srv.region,
        "bucket": "bench",
        **extra,
    }


def run_upload(
    scenario: str,
    tool: str,
    srv: Any,
    args: dict[str, Any],
    crc: int | None,
    *,
    stdin_file: Path | None = None,
) -> Measurement:
    """Run one upload child, check the stored object (size, CRC-64), delete it."""
    module = TOOL_MODULES[tool]
    if stdin_file is not None:
        with open(stdin_file, "rb") as f:
            # a pipe, so the child sees a non-seekable stream; ``cat`` is not counted in its rusage
            producer = subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)
            try:
                m = run_child(scenario, tool, module, args, stdin=producer.stdout)
            finally:
                producer.stdout.close()
                producer.kill()
                producer.wait()
    else:
        m = run_child(scenario, tool, module, args)
    mini = MiniOSS(srv.endpoint, srv.access_key_id, srv.access_key_secret)
    if m.ok:
        problem = verify_object(mini, args["bucket"], args["key"], args["size"], crc)
        if problem:
            m.ok, m.error = False, problem
    try:
        mini.delete(args["bucket"], args["key"])
    except RuntimeError:
        pass
    log(
        f"  {scenario} {tool:<22} {'ok ' if m.ok else 'FAIL'} wall {m.wall_s:7.2f} s  "
        f"cpu {m.cpu_s:6.2f} s  rss {m.peak_rss_mib:7.1f} MiB  {m.mb_per_s:7.1f} MB/s"
        + (f"  {m.error[-400:]}" if m.error else "")
    )
    return m


def best_of(runs: list[Measurement]) -> Measurement:
    """The run with the lowest wall time among the successful ones (else the last)."""
    ok = [r for r in runs if r.ok]
    best = min(ok, key=lambda r: r.wall_s) if ok else runs[-1]
    if len(runs) > 1:
        best.extra["all_wall_s"] = [round(r.wall_s, 2) for r in runs]
    return best


@contextmanager
def throttling_proxy(upstream: str, mbit: float) -> Iterator[str]:
    """``bench.proxy`` in front of ``upstream`` (host:port); yields the proxy's endpoint."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.proxy", "--upstream", upstream, "--mbit", str(mbit)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    try:
        line = proc.stdout.readline().decode()
        if "listening on" not in line:
            raise RuntimeError(f"the throttling proxy did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        stop_process_group(proc)
        proc.stdout.close()


def dump(results: list[ScenarioResult]) -> str:
    return json.dumps(
        [
            {
                "key": r.key,
                "title": r.title,
                "settings": r.settings,
                "rows": [m.to_dict() for m in r.rows],
                "targets": [
                    {"text": t.text(), "met": t.met, "value": t.value, "cause": t.cause}
                    for t in r.targets
                ],
                "notes": r.notes,
                "elapsed_s": round(r.elapsed_s, 1),
            }
            for r in results
        ],
        indent=1,
    )
