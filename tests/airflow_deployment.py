"""Start a small real Airflow deployment for a test, and tear all of it down again.

One launcher for every real-engine test (LocalExecutor on SQLite, CeleryExecutor on PostgreSQL +
Redis). Each component runs in its own process group on loopback ports, so stopping the group
stops everything it spawned (task processes included).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Self

VENV_BIN = pathlib.Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowDeployment:
    """A temporary ``AIRFLOW_HOME`` plus the Airflow components a test asks for."""

    def __init__(
        self,
        dags_folder: pathlib.Path,
        *,
        executor: str = "LocalExecutor",
        sql_alchemy_conn: str | None = None,
        extra_env: dict[str, str] | None = None,
        parallelism: int = 4,
    ) -> None:
        self.home = pathlib.Path(tempfile.mkdtemp(prefix="oss-provider-deploy-"))
        self.dags_folder = dags_folder
        self.api_port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, pathlib.Path] = {}
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW__") and k not in ("AIRFLOW_HOME", "PYTEST_CURRENT_TEST")
        }
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": executor,
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn
                or f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
                    f"http://127.0.0.1:{self.api_port}/execution/"
                ),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                "AIRFLOW__API__WORKERS": "1",
                "PYTHONWARNINGS": "ignore",
            }
        )
        env.update(extra_env or {})
        self.env = env

    # -- commands ---------------------------------------------------------------------------
    def airflow(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        """Run one ``airflow`` CLI command against this deployment and return its stdout."""
        result = subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def migrate(self) -> None:
        self.airflow("db", "migrate", timeout=300)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Start ``airflow <args>`` as a long-running component in its own process group."""
        log_path = self.home / f"{name}.out"
        self._logs[name] = log_path
        log = open(log_path, "wb")  # noqa: SIM115 - closed when the process is stopped
        self.processes[name] = subprocess.Popen(
            [str(VENV_BIN / "airflow"), *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
            start_new_session=True,
        )
        log.close()

    def start_core(self) -> None:
        """api-server (serves the Execution API tasks talk to), scheduler and dag-processor."""
        self.start("api-server", "api-server", "--port", str(self.api_port))
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        self.wait_for_port(self.api_port, timeout=120)

    def wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"port {port} did not open in {timeout}s\n{self.log_tail()}")

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.log_tail(name)}")

    def log_tail(self, name: str | None = None, chars: int = 4000) -> str:
        names = [name] if name else list(self._logs)
        out = []
        for item in names:
            path = self._logs.get(item)
            if path and path.exists():
                out.append(f"--- {item} ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)

    # -- DAG runs ---------------------------------------------------------------------------
    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120) -> None:
        """Wait until the dag-processor has serialized every DAG (trigger needs it)."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            out = self.airflow("dags", "list", "-o", "json", check=False)
            try:
                listed = {d["dag_id"] for d in json.loads(out or "[]")}
            except json.JSONDecodeError:
                listed = set()
            if wanted <= listed:
                return
            time.sleep(2)
        raise TimeoutError(f"DAGs {sorted(wanted)} not parsed in {timeout}s\n{self.log_tail()}")

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run_id = f"test__{dag_id}__{secrets.token_hex(4)}"
        args = ["dags", "trigger", dag_id, "--run-id", run_id]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        self.airflow("dags", "unpause", dag_id, check=False)
        self.airflow(*args)
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        out = self.airflow("dags", "list-runs", dag_id, "-o", "json", check=False)
        try:
            runs = json.loads(out or "[]")
        except json.JSONDecodeError:
            return None
        for run in runs:
            if run.get("run_id") == run_id:
                return run.get("state")
        return None

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id} {run_id} still {state} after {timeout}s\n{self.log_tail()}")

    def task_log_files(self) -> list[pathlib.Path]:
        return [p for p in (self.home / "logs").rglob("*") if p.is_file()]

    # -- teardown ---------------------------------------------------------------------------
    def stop(self, timeout: float = 20) -> None:
        """SIGTERM every process group, then SIGKILL what lingers; remove the home folder."""
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.processes.clear()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_is_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- services for the CeleryExecutor ----------------------------------------------------------
POSTGRES_DSN = os.environ.get("OSS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OSS_TEST_REDIS", "redis://127.0.0.1:6379/0")


def services_unreachable() -> str | None:
    """Why PostgreSQL or Redis cannot be used here, or None when both answer."""
    try:
        import psycopg2

        psycopg2.connect(POSTGRES_DSN, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"PostgreSQL at {POSTGRES_DSN} is not reachable ({exc}); start it (trust auth)"
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis at {REDIS_URL} is not reachable ({exc}); start redis-server on 6379"
    return None


def list_databases() -> set[str]:
    import psycopg2

    conn = psycopg2.connect(POSTGRES_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def create_database(name: str) -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    import psycopg2

    conn = psycopg2.connect(POSTGRES_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    return f"{base}/{name}"


def drop_database(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(POSTGRES_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        conn.close()


def redis_queue_keys(queue: str) -> list[str]:
    """Keys Celery/kombu keeps in Redis for ``queue`` (the list itself and its bindings)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = {k.decode() for k in client.scan_iter(match=f"*{queue}*")}
    return sorted(keys)


def delete_redis_queue(queue: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"*{queue}*"):
        client.delete(key)
    # kombu keeps the queue's binding as a member of a shared set
    for key in client.scan_iter(match="_kombu.binding.*"):
        for member in client.smembers(key):
            if queue.encode() in member:
                client.srem(key, member)


# -- what every deployment test checks ---------------------------------------------------------
ROOT_DAGS = pathlib.Path(__file__).resolve().parents[1] / "dags"
UPLOAD_DAG = "example_oss_multipart_upload"
DIRECTORY_DAG = "example_oss_upload_directory"
CLEANUP_DAG = "example_oss_abort_stale_uploads"
PART_SIZE = 256 * 1024


def query(deploy: AirflowDeployment, sql: str, **params: object) -> list[tuple]:
    """Read the deployment's metadata database directly (XCom values, task-instance hosts)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(deploy.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.text(sql), params)]
    finally:
        engine.dispose()


def xcom_value(deploy: AirflowDeployment, dag_id: str, run_id: str, task_id: str):
    rows = query(
        deploy,
        "SELECT value FROM xcom WHERE dag_id = :dag AND run_id = :run AND task_id = :task "
        "AND key = 'return_value'",
        dag=dag_id,
        run=run_id,
        task=task_id,
    )
    assert rows, f"no XCom from {dag_id}.{task_id}"
    value = rows[0][0]
    return json.loads(value) if isinstance(value, str | bytes) else value


def deployment_checks(
    deploy: AirflowDeployment,
    emulator,
    workdir: pathlib.Path,
    *,
    batches: int,
    extra_upload_conf: dict | None = None,
    directory: bool = False,
) -> dict:
    """Upload a file through the example DAG and sweep stale uploads; assert bytes and report."""
    from oss_provider.client.api import OSSClient
    from oss_provider.client.checksums import crc64
    from oss_provider.client.models import Credentials

    bucket = "test-bucket"
    client = OSSClient(
        emulator.endpoint,
        Credentials(emulator.access_key_id, emulator.access_key_secret),
        region=emulator.region,
    )
    stale = {client.start_multipart_upload(bucket, f"stale/{i}.bin").upload_id for i in range(3)}
    data = os.urandom(batches * 2 * PART_SIZE - 12345)
    source = workdir / "source.bin"
    source.write_bytes(data)
    key = f"deploy/{secrets.token_hex(4)}.bin"

    deploy.wait_for_dags([UPLOAD_DAG, CLEANUP_DAG] + ([DIRECTORY_DAG] if directory else []))
    conf = {"source": str(source), "key": key, "part_size": PART_SIZE, "batches": batches,
            "concurrency": 2, **(extra_upload_conf or {})}  # fmt: skip
    upload_run = deploy.trigger(UPLOAD_DAG, conf)
    assert deploy.wait_for_run(UPLOAD_DAG, upload_run) == "success", deploy.log_tail()
    assert client.get_object(bucket, key) == data
    assert client.head_object(bucket, key).crc64 == crc64(data)

    if directory:  # the directory DAG: plan, mapped batches, summary
        tree = workdir / "tree"
        files = {f"d{i % 3}/sub/f{i}.bin": os.urandom(1000 + i) for i in range(24)}
        files["big/one.bin"] = os.urandom(2 * PART_SIZE + 7)
        for rel, body in files.items():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_bytes(body)
        dir_conf = {"source": str(tree), "prefix": "deploy-dir", "batches": 3, "concurrency": 4}
        dir_run = deploy.trigger(DIRECTORY_DAG, dir_conf)
        assert deploy.wait_for_run(DIRECTORY_DAG, dir_run) == "success", deploy.log_tail()
        for rel, body in files.items():
            assert client.get_object(bucket, f"deploy-dir/{rel}") == body, rel
        assert not [u for u in client.iter_multipart_uploads(bucket, prefix="deploy-dir/")]

    # the uploads above are now 700 s old by the server's clock (the worker's clock disagrees)
    emulator.set_clock_offset(700)
    cleanup_conf = {"prefixes": ["stale/"], "older_than": "10m", "dry_run": False}
    cleanup_run = deploy.trigger(CLEANUP_DAG, cleanup_conf)
    assert deploy.wait_for_run(CLEANUP_DAG, cleanup_run) == "success", deploy.log_tail()
    report = xcom_value(deploy, CLEANUP_DAG, cleanup_run, "abort_stale_uploads")
    assert report["counts"]["aborted"] == len(stale), report
    assert report["counts"]["failed"] == 0, report
    assert not list(client.iter_multipart_uploads(bucket, prefix="stale/"))
    client.close()

    secret_values = [emulator.access_key_secret, *emulator.sts_credentials[1:]]
    logs = deploy.task_log_files()
    assert logs, "the deployment wrote no task logs"
    for path in [*logs, *emulator_log_files(emulator)]:
        text = path.read_text(errors="replace")
        for value in secret_values:
            assert value not in text, f"a secret leaked into {path}"
    for path in logs:  # both runs succeeded: nothing alarming from this provider
        noisy = provider_warnings(path.read_text(errors="replace"))
        assert not noisy, f"{path} has WARNING/ERROR lines on a successful run: {noisy[:3]}"
    return {"upload_run": upload_run, "cleanup_run": cleanup_run, "key": key, "report": report}


# Lines a successful run must not log: this provider's own warnings, and the two Airflow warnings
# this provider used to cause (masking short connection extras; reading past a mapped XCom list).
_CAUSED_BY_US = ("Skipping masking for a secret", "XCom not found")


def provider_warnings(text: str) -> list[str]:
    """WARNING/ERROR lines of a task log (JSON lines or plain text) that this provider caused."""
    found = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            level = str(record.get("level", "")).lower()
            where = str(record.get("logger", "")) + " " + str(record.get("event", ""))
        else:
            level = next((w for w in ("warning", "error", "critical") if w in line.lower()), "")
            where = line
        if level in ("warning", "error", "critical") and (
            "oss_provider" in where or any(marker in where for marker in _CAUSED_BY_US)
        ):
            found.append(line[:300])
    return found


def emulator_log_files(emulator) -> list[pathlib.Path]:
    path = getattr(emulator, "_log_path", None)
    return [path] if path is not None and path.exists() else []
