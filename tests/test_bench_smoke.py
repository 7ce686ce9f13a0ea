"""The benchmark harness still works: ``python -m bench --smoke`` runs every scenario on tiny sizes.

Only the harness is checked here (every tool uploads, every stored object matches its source,
the report and chart are written); speed is measured by ``make bench``, never in tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH_EXTRA = ("oss2", "alibabacloud_oss_v2", "psutil", "matplotlib")
_missing = [m for m in BENCH_EXTRA if importlib.util.find_spec(m) is None]

pytestmark = pytest.mark.skipif(
    bool(_missing),
    reason=f"the 'bench' extra is not installed (missing {', '.join(_missing)}): "
    "pip install -e '.[test,bench]'",
)


def test_bench_smoke_runs_every_scenario(tmp_path: Path) -> None:
    from bench.__main__ import SCENARIOS

    out = tmp_path / "out"
    raw = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--json", str(raw)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    results = json.loads(raw.read_text())
    assert [r["key"] for r in results] == list(SCENARIOS)
    by_key = {r["key"]: r for r in results}
    tools = {k: {row["tool"] for row in r["rows"]} for k, r in by_key.items()}
    assert tools["B1"] == {
        "oss_provider",
        "oss2",
        "oss-v2",
        "bare PUT",
        "floor (PUT+MD5+CRC-64)",
        "ours, no MD5",
    }
    assert tools["B2"] == {"oss_provider", "oss2", "oss-v2"}
    assert tools["B3"] == {"oss_provider", "oss-v2"}
    assert {"oss_provider", "oss2"} <= tools["B4"]  # and ours again at a larger count
    assert tools["B5"] == {"oss_provider"}
    assert tools["B6"] == {
        f"{tool}{run}" for tool in ("oss_provider", "oss2", "oss-v2") for run in ("", ", 90% same")
    } | {
        "oss_provider, size_mtime",
        "oss_provider, 90% same, size_mtime",
        "oss_provider, changed files alone",
    }
    for r in results:
        assert r["elapsed_s"] > 0, r["key"]
        for row in r["rows"]:
            assert row["ok"], (r["key"], row["tool"], row["error"])
            assert row["wall_s"] > 0 and row["peak_rss_mib"] > 10, (r["key"], row)
        assert r["targets"], f"{r['key']} checks no target"
    b1_targets = {t["text"].split(":")[0]: t for t in by_key["B1"]["targets"]}
    assert b1_targets["wall / floor"]["met"] is None  # information, no limit
    assert b1_targets["wall / floor"]["value"] > 0
    b4 = {row["tool"]: row["extra"] for row in by_key["B4"]["rows"]}
    assert b4["oss2"]["aborted"] == b4["oss_provider"]["aborted"] == 40
    assert by_key["B5"]["rows"][0]["extra"]["xcom_bytes"] > 0
    b6 = {row["tool"]: row["extra"] for row in by_key["B6"]["rows"]}
    assert b6["oss_provider"]["PUT+HEAD/small file"] == 1.0  # one request per small file
    assert b6["oss_provider, 90% same"]["skipped"] > 0
    # size_mtime sends exactly the rewritten files (checked byte for byte by B6), no HEAD, no read
    mtime = b6["oss_provider, 90% same, size_mtime"]
    assert mtime["sent"] == b6["oss_provider, 90% same"]["sent"] and mtime["HEAD"] == 0
    assert b6["oss_provider, changed files alone"]["sent"] == mtime["sent"]
    md = (out / "RESULTS.md").read_text()
    for key in [*SCENARIOS, "## Machine", "oss2 ", "SMOKE RUN", "| info |", "the run took"]:
        assert key in md
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ratio ours/best peer" in proc.stdout
