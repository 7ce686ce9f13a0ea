"""The Airflow version matrix (``make compat``): the built wheel on every supported Airflow line.

For each ``locks/airflow-X.Y.txt`` (or only those named with ``--airflow``):

1. an isolated venv in ``.compat/venv-X.Y``, synced to exactly that lock by uv (kept between runs;
   re-synced when the lock changes);
2. ``pip install --dry-run`` of the wheel into it must plan to install this package and nothing
   else: no Airflow upgrade, no other dependency change;
3. the wheel installed with ``--no-deps``; ``python -m oss_provider.demo`` run from a folder outside
   the clone must end with its summary (object verified, cleanup done);
4. the core tests (``CORE_TESTS``) run by that venv's pytest against the emulator, importing
   ``oss_provider`` from the installed wheel, never from the clone.

Run from the repository root with any Python 3.11+ that has uv next to it (the Makefile uses
``.tools/bin/python``). Exits non-zero if any line fails; prints a table of timings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".compat"
LOCKS = ROOT / "locks"
DIST = "airflow-provider-oss-multipart"
# What every supported version must pass: the hook and every operator, the example DAGs through
# dag.test() (the mapped upload, the cleanup, the directory upload), the sensor in poke and
# deferrable mode, the oss:// filesystem, the connection form and test_connection, lineage.
CORE_TESTS = (
    "tests/operators/test_hook.py",
    "tests/operators/test_operators_multipart.py",
    "tests/operators/test_cleanup_operator.py",
    "tests/dags/test_example_upload_dag.py",
    "tests/dags/test_upload_files_dag.py",
    "tests/operators/test_sensor_oss_object.py",
    "tests/fs/test_fs.py",
    "tests/operators/test_provider_form.py",
    "tests/operators/test_lineage.py",
    "tests/operators/test_bad_input_operators.py",
    "tests/operators/test_template_fields.py",
    "tests/operators/test_content_encoding.py",
    "tests/test_compat.py",
)


def sh(cmd: list[str], *, log: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; its output goes to ``log`` (appended), so a failure can be read afterwards."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False, **kwargs)


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise SystemExit("compat: uv not found next to this Python; run it through `make compat`")
    return found


def build_wheel(log: Path) -> Path:
    out = WORK / "dist"
    shutil.rmtree(out, ignore_errors=True)
    done = sh([uv(), "build", "--wheel", "-q", "-o", str(out), str(ROOT)], log=log)
    if done.returncode:
        raise SystemExit(f"compat: building the wheel failed; see {log}")
    (wheel,) = out.glob("airflow_provider_oss_multipart-*.whl")
    return wheel


def lock_digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()[:16]


def prepare_venv(line: str, log: Path) -> Path:
    """``.compat/venv-<line>`` holding exactly ``locks/airflow-<line>.txt`` (and pip, for the
    dry-run check); re-synced only when the lock changed."""
    lock = LOCKS / f"airflow-{line}.txt"
    venv = WORK / f"venv-{line}"
    stamp = venv / f".synced-{lock_digest(lock)}"
    if stamp.exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    steps = (
        [uv(), "venv", "-q", "--seed", "--python", sys.executable, str(venv)],
        [uv(), "pip", "sync", "-q", "--python", str(venv / "bin" / "python"), str(lock)],
        [uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "pip"],
    )
    for step in steps:
        if sh(step, log=log).returncode:
            raise RuntimeError(f"building the venv failed: {' '.join(step[:3])}")
    stamp.touch()
    return venv


def dry_run_plan(python: Path, wheel: Path, log: Path) -> list[str]:
    """What ``pip install --dry-run`` of the wheel would install into this venv."""
    report = log.with_suffix(".dry-run.json")
    done = sh([str(python), "-m", "pip", "install", "--dry-run", "-q", "--report", str(report),
               str(wheel)], log=log)  # fmt: skip
    if done.returncode:
        raise RuntimeError("pip install --dry-run of the wheel failed")
    planned = json.loads(report.read_text())["install"]
    return sorted(f"{p['metadata']['name']}=={p['metadata']['version']}" for p in planned)


def clean_env() -> dict[str, str]:
    """The caller's environment without Airflow settings or Python path tweaks."""
    drop = ("AIRFLOW", "PYTHON", "VIRTUAL_ENV", "OSS_ACCESS", "OSS_SESSION")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_line(line: str, wheel: Path, pytest_args: list[str]) -> dict[str, object]:
    log = WORK / f"airflow-{line}.log"
    log.unlink(missing_ok=True)
    row: dict[str, object] = {"line": line, "log": str(log.relative_to(ROOT))}
    started = time.monotonic()
    try:
        venv = prepare_venv(line, log)
        python = venv / "bin" / "python"
        row["venv_s"] = time.monotonic() - started

        # the dry run asks what installing the wheel would change; a previous run's copy would hide it
        sh([uv(), "pip", "uninstall", "-q", "--python", str(python), DIST], log=log)
        planned = dry_run_plan(python, wheel, log)
        expected = [f"{DIST}=={wheel.name.split('-')[1]}"]
        if planned != expected:
            raise RuntimeError(f"pip would change more than this package: {planned}")
        if sh([uv(), "pip", "install", "-q", "--no-deps", "--reinstall", "--python", str(python),
               str(wheel)], log=log).returncode:  # fmt: skip
            raise RuntimeError("installing the wheel failed")
        version = subprocess.run(
            [str(python), "-c", "import airflow; print(airflow.__version__)"],
            capture_output=True, text=True, check=True, env=clean_env(),
        ).stdout.strip()  # fmt: skip
        row["airflow"] = version

        step = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="oss-compat-demo-") as outside:
            demo = sh([str(python), "-m", "oss_provider.demo", "--size-mib", "4", "--part-size-mib",
                       "1", "--log-file", str(log.with_suffix(".demo-airflow.log"))],
                      log=log, cwd=outside, env=clean_env(), timeout=600)  # fmt: skip
        text = log.read_text()
        if demo.returncode or "CRC-64 matches" not in text or "aborted 3, failed 0" not in text:
            raise RuntimeError("the demo did not reach its summary")
        row["demo_s"] = time.monotonic() - step

        step = time.monotonic()
        env = clean_env() | {"OSS_PROVIDER_COMPAT_LINE": line}
        tests = sh([str(venv / "bin" / "pytest"), "-p", "no:cacheprovider", "-q", "-n", "2",
                    *CORE_TESTS, *pytest_args], log=log, cwd=ROOT, env=env, timeout=1800)  # fmt: skip
        row["tests_s"] = time.monotonic() - step
        summary = [ln for ln in log.read_text().splitlines() if " passed" in ln or " failed" in ln]
        row["tests"] = summary[-1].strip("= ") if summary else "no summary"
        if tests.returncode:
            raise RuntimeError(f"core tests failed: {row['tests']}")
        row["ok"] = True
    except (RuntimeError, subprocess.SubprocessError) as error:
        row["ok"] = False
        row["error"] = str(error)
    row["total_s"] = time.monotonic() - started
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--airflow", action="append", help="only this line, e.g. 3.0 (repeatable)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    lines = sorted(
        (p.name[len("airflow-") : -len(".txt")] for p in LOCKS.glob("airflow-*.txt")),
        key=lambda v: tuple(int(x) for x in v.split(".")),
    )
    if args.airflow:
        unknown = sorted(set(args.airflow) - set(lines))
        if unknown:
            raise SystemExit(f"compat: no lock for Airflow {unknown}; have {lines}")
        lines = [v for v in lines if v in args.airflow]
    WORK.mkdir(exist_ok=True)
    wheel = build_wheel(WORK / "build.log")
    rows = []
    for line in lines:
        print(f"compat: Airflow {line} ...", flush=True)
        row = run_line(line, wheel, args.pytest_args)
        rows.append(row)
        status = "ok" if row["ok"] else f"FAILED: {row['error']} (log: {row['log']})"
        print(f"compat: Airflow {row.get('airflow', line)}: {status} [{row['total_s']:.0f} s]",
              flush=True)  # fmt: skip
    print("\nline  airflow  venv s  demo s  tests s  total s  result")
    for row in rows:
        cells = [f"{row.get(k, float('nan')):>6.0f}" for k in ("venv_s", "demo_s", "tests_s")]
        result = row.get("tests", "") if row["ok"] else f"FAILED ({row['log']})"
        print(f"{row['line']:<5} {row.get('airflow', '?'):<8} {'  '.join(cells)}  "
              f"{row['total_s']:>7.0f}  {result}")  # fmt: skip
    failed = [row["line"] for row in rows if not row["ok"]]
    print(f"compat: {len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
