"""``make demo`` in small: the demo's own process, its short summary, Airflow's logs in the file it
names (with no warning in them), and that it verified everything."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(240)


def test_demo_uploads_verifies_and_sweeps_with_a_short_summary(tmp_path):
    log_file = tmp_path / "logs" / "airflow.log"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "oss_provider.demo",
            "--size-mib",
            "3",
            "--part-size-mib",
            "1",
            "--log-file",
            str(log_file),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=220,
        cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert done.stderr == ""
    lines = out.splitlines()
    assert len(lines) <= 25, out
    assert f"Airflow's own log lines go to {log_file}" in out
    assert "CRC-64 matches" in out and "bytes identical" in out
    assert "MiB/s while uploading parts" in out and "MB/s" not in out
    assert "asset       1 event(s) for oss://demo-bucket/demo/random.bin" in out
    assert re.search(r"dry run +seen 4, stale 3, would abort 3, aborted 0, failed 0", out)
    assert re.search(r"sweep +seen 4, stale 3, would abort 0, aborted 3, failed 0", out)
    assert "left alone  tmp/still-running.bin" in out

    # Airflow's own lines went to the file, and none of them is alarming
    logged = log_file.read_text()
    assert "[DAG TEST] end task" in logged and "DagRun Finished" in logged
    assert "[DAG TEST]" not in out and "[info" not in out
    alarming = [
        line
        for line in logged.splitlines()
        if re.search(r"\[(warning|error|critical)\s*\]|Dropping|Traceback", line)
    ]
    assert alarming == []
