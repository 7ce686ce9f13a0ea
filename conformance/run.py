"""Run oss2's own upstream integration tests against a fresh local emulator, V1 and V4.

    python conformance/run.py [--auth v1,v4] [--file test_multipart.py ...] [-- PYTEST ARGS]

Steps: download the pinned oss2 sdist with pip (cached under ``.cache/conformance/``, checked
against its SHA-256), unpack only its ``tests/``, put ``conformance/conftest.py`` beside them, then
for each signature version start an emulator (loopback, own process group, empty data directory),
point the upstream ``OSS_TEST_*`` variables at it and run the selected files unchanged. Prints a
per-file pass table and the deselected tests with reasons; exits non-zero when any selected test
fails or errors.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oss_provider.emulator.process import EmulatorServer

OSS2_VERSION = "2.19.1"
SDIST = f"oss2-{OSS2_VERSION}.tar.gz"
SDIST_SHA256 = "a8ab9ee7eb99e88a7e1382edc6ea641d219d585a7e074e3776e9dec9473e59c1"
CACHE = ROOT / ".cache" / "conformance"
FILES = (
    "test_multipart.py",
    "test_upload.py",
    "test_iterator.py",
    "test_crc64_combine.py",
    "test_crypto_multipart.py",
)
PYTEST_INI = """\
[pytest]
addopts = -p no:cacheprovider -p no:oss_provider
python_files = test_*.py
timeout = 300
filterwarnings =
    ignore::DeprecationWarning
"""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_sdist() -> Path:
    """The pinned sdist, downloaded once with pip into the cache and verified."""
    target = CACHE / "sdist" / SDIST
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"downloading {SDIST} with pip ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"oss2=={OSS2_VERSION}",
                "-d",
                str(target.parent),
            ],
            check=True,
        )
    digest = _sha256(target)
    if digest != SDIST_SHA256:
        raise SystemExit(f"{target}: SHA-256 {digest} is not the pinned {SDIST_SHA256}")
    return target


def unpack_tests(sdist: Path) -> Path:
    """``<cache>/oss2-<v>/tests/`` (upstream files only) plus our conftest and pytest.ini."""
    root = CACHE / f"oss2-{OSS2_VERSION}"
    tests = root / "tests"
    if not (tests / "common.py").exists():
        shutil.rmtree(root, ignore_errors=True)
        prefix = f"oss2-{OSS2_VERSION}/tests/"
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()]
            tar.extractall(CACHE, members=members, filter="data")
    shutil.copyfile(ROOT / "conformance" / "conftest.py", root / "conftest.py")
    (root / "pytest.ini").write_text(PYTEST_INI)
    return root


def check_installed_oss2() -> None:
    import oss2

    if oss2.__version__ != OSS2_VERSION:
        raise SystemExit(
            f"oss2 {oss2.__version__} is installed; the upstream tests are from {OSS2_VERSION}"
        )


def run_one(auth: str, root: Path, files: list[str], extra: list[str]) -> dict:
    """One signature version: a fresh emulator, the upstream files, the junit results."""
    out_dir = CACHE / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    junit = out_dir / f"junit-{auth}.xml"
    log = out_dir / f"pytest-{auth}.log"
    junit.unlink(missing_ok=True)
    with EmulatorServer(buckets=()) as emu:
        env = dict(os.environ)
        env.update(
            OSS_TEST_ACCESS_KEY_ID=emu.access_key_id,
            OSS_TEST_ACCESS_KEY_SECRET=emu.access_key_secret,
            OSS_TEST_ENDPOINT=emu.endpoint,
            OSS_TEST_BUCKET="conformance-" + auth,
            OSS_TEST_REGION=emu.region,
            OSS_TEST_AUTH_VERSION=auth,
            PYTHONDONTWRITEBYTECODE="1",
        )
        for name in ("OSS_TEST_CNAME", "OSS_TEST_STS_ID", "OSS_TEST_STS_KEY", "OSS_TEST_STS_ARN"):
            env.pop(name, None)
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rfE",
            f"--junitxml={junit}",
            *[f"tests/{f}" for f in files],
            *extra,
        ]
        started = time.monotonic()
        with open(log, "w") as fh:
            proc = subprocess.run(
                cmd, check=False, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT
            )
        elapsed = time.monotonic() - started
    return {
        "auth": auth,
        "rc": proc.returncode,
        "log": log,
        "elapsed": elapsed,
        "files": _junit_counts(junit, files),
    }


def _junit_counts(junit: Path, files: list[str]) -> dict[str, dict[str, int]]:
    counts = {f: {"passed": 0, "failed": 0, "skipped": 0} for f in files}
    if not junit.exists():
        return counts
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        name = next((f for f in files if f.removesuffix(".py") in module), None)
        if name is None:
            continue
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            counts[name]["failed"] += 1
        elif "skipped" in kinds:
            counts[name]["skipped"] += 1
        else:
            counts[name]["passed"] += 1
    return counts


def _deselected_for(files: list[str]) -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT / "conformance"))
    try:
        from conftest import DESELECTED
    finally:
        sys.path.pop(0)
    return [(k, v) for k, v in DESELECTED.items() if k.split("::")[0].split("/")[-1] in files]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--auth", default="v1,v4", help="signature versions, comma separated")
    p.add_argument("--file", action="append", choices=FILES, help="upstream file (repeatable)")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)
    files = args.file or list(FILES)
    versions = [v.strip() for v in args.auth.split(",") if v.strip()]

    started = time.monotonic()
    check_installed_oss2()
    root = unpack_tests(fetch_sdist())
    tempfile.tempdir = None
    with ThreadPoolExecutor(len(versions)) as pool:
        results = list(pool.map(lambda v: run_one(v, root, files, args.pytest_args), versions))

    print(f"\noss2 {OSS2_VERSION} upstream tests against the emulator\n")
    print("| file | " + " | ".join(f"{r['auth'].upper()} passed" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    ok = True
    for f in files:
        cells = []
        for r in results:
            c = r["files"][f]
            total = c["passed"] + c["failed"]
            cells.append(
                f"{c['passed']}/{total}" + (f" ({c['skipped']} skipped)" if c["skipped"] else "")
            )
            ok = ok and c["failed"] == 0 and total > 0
        print(f"| {f} | " + " | ".join(cells) + " |")
    print("\ndeselected (need the real cloud):")
    for nodeid, reason in _deselected_for(files) or [("(none)", "")]:
        print(f"  {nodeid}: {reason}")
    for r in results:
        ok = ok and r["rc"] == 0
        print(
            f"\n{r['auth'].upper()}: pytest exit {r['rc']} in {r['elapsed']:.1f}s, log {r['log']}"
        )
        if r["rc"] != 0:
            tail = r["log"].read_text(errors="replace").splitlines()[-40:]
            print("\n".join("    " + line for line in tail))
    print(f"\nconformance: {'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
