"""``make demo`` in small: the demo's own process, its summary, and that it verified everything."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(240)


def test_demo_uploads_verifies_and_sweeps(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "oss_provider.demo", "--size-mib", "3", "--part-size-mib", "1"],
        check=False,
        capture_output=True,
        text=True,
        timeout=220,
        cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "CRC-64 matches" in out and "bytes identical" in out
    assert "dry run     seen 4, stale 3, would abort 3, aborted 0, failed 0" in out
    assert "sweep       seen 4, stale 3, would abort 0, aborted 3, failed 0" in out
    assert "left alone  tmp/still-running.bin" in out
