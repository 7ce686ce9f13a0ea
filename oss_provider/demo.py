"""``make demo``: the example upload DAG, end to end, with no cloud account.

Starts the bundled OSS emulator on a free loopback port (temporary data directory), points the
``oss_multipart_default`` connection at it, writes a source file of random bytes, runs
``dags/example_oss_multipart_upload.py`` through real Airflow (``dag.test()`` on a temporary
``AIRFLOW_HOME`` with a fresh sqlite metadata DB), checks the stored object byte for byte and by
CRC-64, then shows the stale-upload sweep: a few uploads are left unfinished, the emulator's clock
is moved past the threshold, and the example cleanup DAG runs once as a dry run and once for real.
Airflow's own log lines go to a file whose path is printed; the terminal gets a short summary.
Everything else it created is removed at the end. It works from a clone (``dags/``) and from an
installed wheel (``oss_provider/example_dags/``, the same files).

    python -m oss_provider.demo [--size-mib 256] [--part-size-mib 8] [--batches 4] [--concurrency 4]
                                [--log-file PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

MiB = 1024 * 1024
DAG_ID = "example_oss_multipart_upload"
DAG_FILE = "example_oss_multipart_upload.py"
CLEANUP_DAG_ID = "example_oss_abort_stale_uploads"
CLEANUP_DAG_FILE = "example_oss_abort_stale_uploads.py"
STALE_KEYS = ("tmp/crashed-export-1.bin", "tmp/crashed-export-2.bin", "tmp/crashed-export-3.bin")
CLOCK_OFFSET_S = 700  # the emulator allows 15 minutes of clock skew; 700 s > the 10 min threshold
BUCKET = "demo-bucket"  # 5+ characters: Airflow's masker warns about short extra values
KEY = "demo/random.bin"
PACKAGE = Path(__file__).resolve().parent
# A DAG scheduled on the uploaded object's asset: it registers the asset, so the upload's event
# (through the example DAG's AssetAlias) lands on a known, active asset and queues this DAG.
CONSUMER_DAG = f"""\
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset, task

with DAG(
    dag_id="demo_consumer_of_uploaded_object",
    schedule=[Asset("oss://{BUCKET}/{KEY}")],
    start_date=datetime(2026, 1, 1),
):

    @task
    def use_it():
        pass

    use_it()
"""


def _find_dag_file(name: str) -> Path:
    """The example DAG: shipped in the wheel (``oss_provider/example_dags``) or, in a clone or
    editable install, the repository's ``dags/`` (the same files)."""
    for folder in (PACKAGE / "example_dags", PACKAGE.parent / "dags"):
        if (folder / name).is_file():
            return folder / name
    raise SystemExit(f"cannot find the example DAG {name}: reinstall the package")


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
    (dags / "demo_consumer.py").write_text(CONSUMER_DAG)
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    return dags


class _AirflowLogsToFile:
    """Send everything written to file descriptors 1 and 2 (Airflow's structlog output, warnings,
    anything a library prints) to ``path``; :attr:`console` still writes to the terminal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.console = sys.stdout

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (os.dup(1), os.dup(2))
        self.console = os.fdopen(os.dup(self._saved[0]), "w", buffering=1)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self.console.close()
        self.console = sys.stdout


def _pending(client) -> set[str]:
    return {u.key for u in client.iter_multipart_uploads(BUCKET, prefix="tmp/")}


def _show_cleanup(dag, client, emulator) -> tuple[bool, list[str]]:
    """Leave three uploads unfinished, age them with the emulator's clock, start one more that is
    still fresh, then run the cleanup DAG as a dry run and for real; report what each run did."""
    from oss_provider.cleanup import format_age
    from oss_provider.client.limits import MIN_PART_SIZE
    from oss_provider.units import format_bytes

    for key in STALE_KEYS:
        upload_id = client.start_multipart_upload(BUCKET, key).upload_id
        client.upload_part(BUCKET, key, upload_id, 1, os.urandom(MIN_PART_SIZE))
    emulator.set_clock_offset(CLOCK_OFFSET_S)
    fresh = client.start_multipart_upload(BUCKET, "tmp/still-running.bin").upload_id
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
            freed = report.get("bytes_would_free") if dry_run else report.get("bytes_freed")
            lines.append(
                f"{label}    seen {counts.get('seen', 0)}, stale {counts.get('stale', 0)}, "
                f"would abort {counts.get('would_abort', 0)}, aborted {counts.get('aborted', 0)}, "
                f"failed {counts.get('failed', 0)}; {'would free' if dry_run else 'freed'} "
                f"{format_bytes(freed or 0)}"
            )
            for row in [] if dry_run else report.get("rows", []):
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
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        help="where Airflow's own log lines go (default: a new file in the temp directory)",
    )
    args = parser.parse_args(argv)
    if args.size_mib < 1 or args.part_size_mib < 1 or args.batches < 1 or args.concurrency < 1:
        parser.error("sizes, batches and concurrency must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.monotonic()
    dag_files = [_find_dag_file(DAG_FILE), _find_dag_file(CLEANUP_DAG_FILE)]
    log_file = args.log_file or Path(tempfile.gettempdir()) / (
        f"oss-provider-demo-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    )
    work = Path(tempfile.mkdtemp(prefix="oss-demo-"))
    try:
        dags = _prepare_airflow(work / "airflow", dag_files)
        size = args.size_mib * MiB
        source = work / "source.bin"
        print(f"demo: writing {args.size_mib} MiB of random bytes to {source}", flush=True)
        crc = _write_source(source, size)
        print(f"demo: Airflow's own log lines go to {log_file}", flush=True)
        with _AirflowLogsToFile(log_file) as logs:
            outcome = _run(args, dags, source, size, crc, say=logs.console)
        if outcome is None:
            print(f"demo: FAILED; see {log_file}")
            return 1
        lines, ok = outcome
        for line in lines:
            print(line)
        print(f"  total       {time.monotonic() - started:.1f} s; Airflow's log: {log_file}")
        return 0 if ok else 1
    except BaseException:
        print(f"demo: FAILED; Airflow's log: {log_file}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args, dags: Path, source: Path, size: int, crc: int, say) -> tuple[list[str], bool] | None:
    """Everything that runs Airflow (its log lines go to the log file); returns the summary."""
    from oss_provider.emulator.process import CONN_ENV, EmulatorServer

    with EmulatorServer(data_dir=source.parent / "oss-data", buckets=(BUCKET,)) as emulator:
        os.environ[CONN_ENV] = emulator.connection_uri_json(BUCKET)
        say.write(f"demo: OSS emulator listening on {emulator.endpoint}\n")
        say.write("demo: creating a fresh Airflow metadata DB (sqlite) ...\n")

        from airflow.utils import db

        from oss_provider._compat import dag_bag, register_dags

        db.upgradedb()  # `airflow db migrate` on a new sqlite file: creates the tables
        bag = dag_bag(str(dags))
        if bag.import_errors:
            say.write(f"demo: the example DAGs do not import: {bag.import_errors}\n")
            return None
        register_dags(bag)
        dag = bag.get_dag(DAG_ID)
        conf = {
            "source": str(source),
            "bucket": BUCKET,
            "key": KEY,
            "part_size": args.part_size_mib * MiB,
            "batches": args.batches,
            "concurrency": args.concurrency,
        }
        say.write(f"demo: running {DAG_ID} with dag.test() ...\n")
        run_started = time.monotonic()
        run = dag.test(run_conf=conf)
        run_seconds = time.monotonic() - run_started
        tis = run.get_task_instances()
        state = str(run.state).rsplit(".", 1)[-1]
        if state != "success":
            failed = sorted(f"{t.task_id}[{t.map_index}]={t.state}" for t in tis)
            say.write(f"demo: the DAG run ended {state}: {', '.join(failed)}\n")
            return None

        parts_tis = [t for t in tis if t.task_id == "upload_parts"]
        # Airflow 2's dag.test() records no start date: the parts start when the plan has ended
        plan_end = next(t.end_date for t in tis if t.task_id == "plan")
        first = min(t.start_date or plan_end for t in parts_tis)
        last = max(t.end_date for t in parts_tis)
        upload_seconds = max((last - first).total_seconds(), 1e-6)
        result = next(t for t in tis if t.task_id == "complete").xcom_pull(task_ids="complete")
        asset_events = _asset_events()

        from oss_provider.client.api import OSSClient
        from oss_provider.client.models import Credentials

        with OSSClient(
            emulator.endpoint,
            Credentials(emulator.access_key_id, emulator.access_key_secret),
            region=emulator.region,
        ) as client:
            head = client.head_object(BUCKET, KEY)
            crc_ok = head.crc64 == crc == result["crc64"] and head.size == size
            bytes_ok = _same_bytes(client, source)
            say.write(f"demo: running {CLEANUP_DAG_ID} (dry run, then for real) ...\n")
            cleanup_ok, cleanup_lines = _show_cleanup(bag.get_dag(CLEANUP_DAG_ID), client, emulator)

    total_parts = -(-size // (args.part_size_mib * MiB))
    summary = {
        "object": f"oss://{BUCKET}/{KEY}  ({size / MiB:.0f} MiB, ETag {result['etag']})",
        "parts": f"{total_parts} x {args.part_size_mib} MiB in {len(parts_tis)} mapped tasks, "
        f"{args.concurrency} parts in flight per task",
        "throughput": f"{size / MiB / upload_seconds:.1f} MiB/s while uploading parts "
        f"({upload_seconds:.1f} s); DAG run {run_seconds:.1f} s",
        "verified": f"CRC-64 {'matches' if crc_ok else 'DIFFERS'} ({crc}), bytes "
        f"{'identical' if bytes_ok else 'DIFFER'}",
        "asset": f"{asset_events} event(s) for oss://{BUCKET}/{KEY} (ETag, size, CRC-64 in extra)",
    }
    lines = [
        "",
        f"upload ({DAG_ID})",
        *(f"  {name:<11} {text}" for name, text in summary.items()),
        "",
        f"stale-upload cleanup ({CLEANUP_DAG_ID})",
        *(f"  {line}" for line in cleanup_lines),
    ]
    return lines, crc_ok and bytes_ok and cleanup_ok and asset_events == 1


def _asset_events() -> int:
    """Asset events recorded for the uploaded object (the example DAG's AssetAlias outlet)."""
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    from oss_provider._compat import asset_event_tables

    event, asset, asset_column = asset_event_tables()
    with create_session() as session:
        return session.scalar(
            select(func.count())
            .select_from(event)
            .join(asset, getattr(event, asset_column) == asset.id)
            .where(asset.uri == f"oss://{BUCKET}/{KEY}")
        )


if __name__ == "__main__":
    sys.exit(main())
