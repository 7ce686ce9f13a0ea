"""``pip install .`` as a user does it, then the demo outside the clone: the wheel must carry
everything the demo needs (the example DAGs included) and register the provider.

To stay fast and offline the wheel is built without build isolation and installed with
``--no-deps`` into a fresh venv that sees this venv's site-packages (Airflow and the other
dependencies) through a ``.pth`` line, which does not run this venv's editable-install hook: the
fresh venv imports ``oss_provider`` only from the installed wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)
# Modules of the test and bench extras that nothing at runtime imports: the fresh venv below sees
# this venv's packages, so each gets a stand-in that fails to import, as on a machine with only
# the runtime dependencies (the demo once imported pytest through oss_provider.testing).
TEST_AND_BENCH_ONLY = ("pytest", "_pytest", "xdist", "pytest_timeout", "moto", "oss2",
                       "alibabacloud_oss_v2")  # fmt: skip


def run(*cmd, **kwargs):
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", str(out), str(ROOT))  # fmt: skip
    (built,) = out.glob("airflow_provider_oss_multipart-*.whl")
    return built


def test_wheel_carries_the_example_dags_unchanged(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for dag in sorted((ROOT / "dags").glob("*.py")):
            shipped = f"oss_provider/example_dags/{dag.name}"
            assert shipped in names
            assert zf.read(shipped) == dag.read_bytes()  # one copy: dags/ is the source
        assert not [n for n in names if n.startswith(("tests/", "dags/", "bench/"))]
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "oss_provider:get_provider_info" in zf.read(entry_points).decode()


def test_installed_wheel_runs_the_demo_outside_the_clone(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        run(
            str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for name in TEST_AND_BENCH_ONLY:  # `make demo` installs no extra: hide what they bring
        (site / f"{name}.py").write_text(
            f'raise ModuleNotFoundError("No module named {name!r} (a test or bench extra)")\n'
        )
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
        "--no-index", str(wheel))  # fmt: skip

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))}
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = run(str(python), "-c", "import oss_provider; print(oss_provider.__file__)",
                cwd=outside, env=env).stdout  # fmt: skip
    assert where.startswith(str(site)), where

    done = run(str(python), "-m", "oss_provider.demo", "--size-mib", "2", "--part-size-mib", "1",
               "--log-file", str(tmp_path / "airflow.log"), cwd=outside, env=env, timeout=240)  # fmt: skip
    assert "CRC-64 matches" in done.stdout and "bytes identical" in done.stdout
    assert "aborted 3, failed 0" in done.stdout
    assert "[warning" not in (tmp_path / "airflow.log").read_text()
