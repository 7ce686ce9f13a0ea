"""The README cannot drift: its shell blocks run, in order, in one bash script, the way a newcomer
would type them, against the bundled emulator and a throw-away Airflow (fresh ``AIRFLOW_HOME``,
the example DAGs copied into its DAGs folder, ``airflow db migrate`` done).

Only what cannot run inside the test suite is swapped for an equivalent that truly runs:

- ``make demo`` / ``make test``: ``make -n`` must show the demo command with no test extra, and the
  pytest command; the demo itself runs in ``tests/dags/test_demo.py`` and the install in
  ``tests/test_install.py`` (this suite *is* ``make test``).
- ``pip install .``: ``tests/test_install.py`` builds the wheel and installs it in a fresh venv.
- ``airflow dags trigger DAG -c CONF`` needs a running scheduler; here it is
  ``airflow dags test DAG -c CONF``, which runs the same DAG with the same conf in-process
  (``tests/dags/test_deployment_local.py`` triggers the example DAGs on a real scheduler).
- Port 9000 and the ``/tmp`` paths become a free port and a temporary directory; after a command
  that starts the emulator in the background, the script waits until it answers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.timeout(420)


def shell_blocks() -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_readme_is_short_and_links_its_docs():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link
    assert "MB/s" not in text and " MB " not in text  # binary units everywhere


def test_quick_start_is_exactly_make_demo_and_make_test():
    first = shell_blocks()[0]
    commands = [line.split("#")[0].strip() for line in first.splitlines()]
    assert commands == ["make demo", "make test"]
    demo = subprocess.run(
        ["make", "-n", "demo"], check=False, cwd=ROOT, capture_output=True, text=True
    )
    assert demo.returncode == 0, demo.stderr
    assert "-m oss_provider.demo" in demo.stdout
    assert "[test" not in demo.stdout and "bench" not in demo.stdout  # no test/bench extra
    test = subprocess.run(
        ["make", "-n", "test"], check=False, cwd=ROOT, capture_output=True, text=True
    )
    assert test.returncode == 0, test.stderr
    assert "-m pytest -n 2 -q tests" in test.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_run_here(block: str, port: int, tmp: Path) -> str:
    text = block.replace("9000", str(port)).replace("/tmp/", f"{tmp}/")
    text = re.sub(r"airflow dags trigger (\S+)", r"airflow dags test \1", text)
    lines = []
    for line in text.splitlines():
        if line.split("#")[0].strip() == "pip install .":
            continue  # tests/test_install.py
        lines.append(line)
        if line.rstrip().endswith("&"):
            lines.append(
                "for i in $(seq 200); do curl -sf -H 'X-OSS-Emulator-Control: 1' "
                f"127.0.0.1:{port}/_emulator/health >/dev/null && break; sleep 0.1; done"
            )
    return "\n".join(lines)


def test_every_other_shell_block_runs_against_the_emulator(tmp_path):
    blocks = shell_blocks()[1:]
    assert any("pip install ." in b for b in blocks)
    port = free_port()
    home = tmp_path / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    for dag in (ROOT / "dags").glob("*.py"):
        shutil.copy(dag, dags / dag.name)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OSS_", "PYTHONPATH"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    script = "\n".join(
        ["set -euo pipefail", "airflow db migrate >/dev/null"]
        + [as_run_here(b, port, tmp_path) for b in blocks]
    )
    (tmp_path / "readme.sh").write_text(script)
    log = tmp_path / "readme.out"
    with open(log, "w") as sink:  # a file, not a pipe: the background emulator keeps it open
        proc = subprocess.Popen(
            ["bash", str(tmp_path / "readme.sh")],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        proc.wait(timeout=400)
        out = log.read_text()
        assert proc.returncode == 0, out[-4000:]

        # what the blocks did, checked on the emulator and in Airflow's DB
        from oss_provider.client.api import OSSClient
        from oss_provider.client.models import Credentials

        with OSSClient(
            f"http://127.0.0.1:{port}", Credentials("demo-ak", "demo-secret"), region="cn-hangzhou"
        ) as client:
            head = client.head_object("my-bucket", "uploads/big.bin")
            assert head.size == 64 * 1024 * 1024
        assert "successfully tested" in out or "Connection success" in out, out[-4000:]
        assert '"offset_seconds": 700' in out
        got = subprocess.run(
            ["airflow", "variables", "get", "oss_abort_stale_uploads_dry_run"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
        )
        assert got.stdout.strip() == "false", got.stdout + got.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the emulator the README started in background
        except ProcessLookupError:
            pass
