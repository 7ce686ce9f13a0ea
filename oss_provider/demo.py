"""``make demo``: the example upload DAG, end to end, with no cloud account.

Starts the bundled OSS emulator on a free loopback port (temporary data directory), points the
``oss_multipart_default`` connection at it, writes a source file of random bytes, runs
``dags/example_oss_multipart_upload.py`` through real Airflow (``dag.test()`` on a temporary
``AIRFLOW_HOME`` with a sqlite metadata DB), checks the stored object byte for byte and by CRC-64,
prints a short summary, then shows the stale-upload sweep: a few uploads are left unfinished,
the emulator's clock is moved past the threshold, and the example cleanup DAG runs once as a dry
run and once for real, printing its report. Everything it created is removed at the end.

    python -m oss_provider.demo [--size-mib 256] [--part-size-mib 8] [--batches 4] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
DAG_ID = "example_oss_multipart_upload"
DAG_FILE = "example_oss_multipart_upload.py"
CLEANUP_DAG_ID = "example_oss_abort_stale_uploads"
CLEANUP_DAG_FILE = "example_oss_abort_stale_uploads.py"
STALE_KEYS = ("tmp/crashed-export-1.bin", "tmp/crashed-export-2.bin", "tmp/crashed-export-3.bin")
CLOCK_OFFSET_S = 700  # the emulator allows 15 minutes of clock skew; 700 s > the 10 min threshold
BUCKET = "demo"
KEY = "demo/random.bin"


def _find_dag_file(name: str) -> Path:
    here = Path(__file__).resolve().parent.parent / "dags" / name
    if here.exists():
        return here
    raise SystemExit(
        f"cannot find dags/{name}: run the demo from a clone of the repository (make demo)"
    )


def _write_source(path: Path, size: int) -> int:
    """Random bytes, written in 8 MiB chunks; returns their CRC-64."""
    from oss_provider.client.checksums import crc64

    crc = 0
    left = size
    with open(path, "wb") as f:
        while left:
            chunk = os.urandom(min(8 * MiB, left))
            crc = crc64(chunk, crc)
            f.write(chunk)
            left -= len(chunk)
    return crc


def _same_bytes(client, path: Path) -> bool:
    """Stream the stored object and compare it with the file, chunk by chunk."""
    response = client.open_object(BUCKET, KEY)
    try:
        with open(path, "rb") as f:
            for chunk in response.iter_content(chunk_size=4 * MiB):
                if f.read(len(chunk)) != chunk:
                    return False
            return f.read(1) == b""
    finally:
        response.close()


def _prepare_airflow(home: Path, dag_files: list[Path]) -> Path:
    """Environment for a throw-away Airflow, set before ``airflow`` is first imported."""
    if "airflow" in sys.modules:
        raise SystemExit("run the demo in a fresh process: python -m oss_provider.demo")
    dags = home / "dags"
    dags.mkdir(parents=True)
    for dag_file in dag_files:
        shutil.copy(dag_file, dags / dag_file.name)
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    return dags


def _pending(client) -> set[str]:
    return {u.key for u in client.iter_multipart_uploads(BUCKET, prefix="tmp/")}


def _show_cleanup(dag, client, emulator) -> tuple[bool, list[str]]:
    """Leave three uploads unfinished, age them with the emulator's clock, start one more that is
    still fresh, then run the cleanup DAG as a dry run and for real; report what each run did."""
    from oss_provider.client.cleanup import format_age
    from oss_provider.client.limits import MIN_PART_SIZE

    for key in STALE_KEYS:
        upload_id = client.initiate_multipart_upload(BUCKET, key)
        client.upload_part(BUCKET, key, upload_id, 1, os.urandom(MIN_PART_SIZE))
    emulator.set_clock_offset(CLOCK_OFFSET_S)
    fresh = client.initiate_multipart_upload(BUCKET, "tmp/still-running.bin")
    made = f"made        {len(STALE_KEYS)} unfinished uploads, moved the server clock "
    lines = [made + f"{CLOCK_OFFSET_S} s on, started 1 more"]
    conf = {"bucket": BUCKET, "prefixes": ["tmp/"], "older_than": "10m", "dry_run": True}
    ok = True
    try:
        for dry_run in (True, False):
            run = dag.test(run_conf={**conf, "dry_run": dry_run})
            (ti,) = run.get_task_instances()
            report = ti.xcom_pull(task_ids=ti.task_id) or {}
            counts = report.get("counts", {})
            label = "dry run " if dry_run else "sweep   "
            lines.append(
                f"{label}    seen {counts.get('seen', 0)}, stale {counts.get('stale', 0)}, "
                f"would abort {counts.get('would_abort', 0)}, aborted {counts.get('aborted', 0)}, "
                f"failed {counts.get('failed', 0)}, bytes "
                f"{'that would be freed' if dry_run else 'freed'} "
                f"{(report.get('bytes_would_free') if dry_run else report.get('bytes_freed')) or 0:,}"
            )
            for row in report.get("rows", []):
                age = format_age(row["age_seconds"]) if row.get("age_seconds") is not None else "?"
                lines.append(f"              {row['action']:<12} {row['key']}  (age {age})")
            left = _pending(client)
            expected = {"tmp/still-running.bin"} | (set(STALE_KEYS) if dry_run else set())
            ok = ok and str(run.state).endswith("success") and left == expected
        lines.append(
            "left alone  tmp/still-running.bin (younger than 10m)"
            if ok
            else f"UNEXPECTED: uploads left {sorted(_pending(client))}"
        )
    finally:
        client.abort_multipart_upload(BUCKET, "tmp/still-running.bin", fresh)
        emulator.set_clock_offset(0)
    return ok, lines


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m oss_provider.demo", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256, help="source size (default 256)")
    parser.add_argument("--part-size-mib", type=int, default=8, help="part size (default 8)")
    parser.add_argument("--batches", type=int, default=4, help="mapped part tasks (default 4)")
    parser.add_argument("--concurrency", type=int, default=4, help="parts in flight per task")
    args = parser.parse_args(argv)
    if args.size_mib < 1 or args.part_size_mib < 1 or args.batches < 1 or args.concurrency < 1:
        parser.error("sizes, batches and concurrency must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.monotonic()
    dag_files = [_find_dag_file(DAG_FILE), _find_dag_file(CLEANUP_DAG_FILE)]
    work = Path(tempfile.mkdtemp(prefix="oss-demo-"))
    try:
        dags = _prepare_airflow(work / "airflow", dag_files)
        from oss_provider.testing import CONN_ENV, EmulatorServer

        size = args.size_mib * MiB
        source = work / "source.bin"
        print(f"demo: writing {args.size_mib} MiB of random bytes to {source}", flush=True)
        crc = _write_source(source, size)

        with EmulatorServer(data_dir=work / "oss-data", buckets=(BUCKET,)) as emulator:
            os.environ[CONN_ENV] = emulator.connection_uri_json(BUCKET)
            print(f"demo: OSS emulator listening on {emulator.endpoint}", flush=True)

            from airflow.utils import db

            try:
                from airflow.dag_processing.dagbag import DagBag
            except ImportError:  # Airflow 2
                from airflow.models.dagbag import DagBag

            db.resetdb()
            bag = DagBag(dag_folder=str(dags))
            if bag.import_errors:
                raise SystemExit(f"the example DAG does not import: {bag.import_errors}")
            dag = bag.get_dag(DAG_ID)
            conf = {
                "source": str(source),
                "bucket": BUCKET,
                "key": KEY,
                "part_size": args.part_size_mib * MiB,
                "batches": args.batches,
                "concurrency": args.concurrency,
            }
            run_started = time.monotonic()
            run = dag.test(run_conf=conf)
            run_seconds = time.monotonic() - run_started
            tis = run.get_task_instances()
            state = str(run.state).rsplit(".", 1)[-1]
            if state != "success":
                failed = sorted(f"{t.task_id}[{t.map_index}]={t.state}" for t in tis)
                print(f"demo: FAILED, the DAG run ended {state}: {', '.join(failed)}")
                return 1

            parts_tis = [t for t in tis if t.task_id == "upload_parts"]
            first = min(t.start_date for t in parts_tis)
            last = max(t.end_date for t in parts_tis)
            upload_seconds = max((last - first).total_seconds(), 1e-6)
            result = next(t for t in tis if t.task_id == "complete").xcom_pull(task_ids="complete")

            from oss_provider.client.api import OSSClient
            from oss_provider.client.models import Credentials

            with OSSClient(
                emulator.endpoint,
                Credentials(emulator.access_key_id, emulator.access_key_secret),
                region=emulator.region,
            ) as client:
                head = client.head_object(BUCKET, KEY)
                parts_seen = len(
                    [t for t in tis if t.task_id == "upload_parts" and str(t.state) == "success"]
                )
                crc_ok = head.crc64 == crc == result["crc64"] and head.size == size
                bytes_ok = _same_bytes(client, source)
                cleanup_ok, cleanup_lines = _show_cleanup(
                    bag.get_dag(CLEANUP_DAG_ID), client, emulator
                )

        total_parts = -(-size // (args.part_size_mib * MiB))
        print()
        print("demo summary")
        print(f"  object      oss://{BUCKET}/{KEY}  ({size / MiB:.0f} MiB, ETag {result['etag']})")
        print(
            f"  parts       {total_parts} x {args.part_size_mib} MiB in {parts_seen} mapped "
            f"tasks, {args.concurrency} parts in flight per task"
        )
        print(
            f"  throughput  {size / upload_seconds / 1e6:.1f} MB/s while uploading parts "
            f"({upload_seconds:.1f} s); DAG run {run_seconds:.1f} s"
        )
        print(
            f"  verified    CRC-64 {'matches' if crc_ok else 'DIFFERS'} ({crc}), bytes "
            f"{'identical' if bytes_ok else 'DIFFER'}"
        )
        print()
        print("stale-upload cleanup (example_oss_abort_stale_uploads)")
        for line in cleanup_lines:
            print(f"  {line}")
        print(f"  total       {time.monotonic() - started:.1f} s")
        return 0 if crc_ok and bytes_ok and cleanup_ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
