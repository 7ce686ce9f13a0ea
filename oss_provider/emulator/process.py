"""The emulator as a child process: start it on a free loopback port, wait until it answers,
drive its control endpoints, stop its whole process group. No pytest here, so ``make demo`` and
the benchmarks (installed without the test extra) can use it; the fixtures built on it are in
:mod:`oss_provider.testing`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

DEFAULT_BUCKET = "test-bucket"
DEFAULT_REGION = "cn-hangzhou"
CONN_ENV = "AIRFLOW_CONN_OSS_MULTIPART_DEFAULT"
# What every call to an ``/_emulator/`` control endpoint must send (others are answered 403).
CONTROL_HEADERS = {"X-OSS-Emulator-Control": "1"}
# The emulator reads its credentials from here when no --credentials flag is given.
CREDENTIALS_ENV = "OSS_EMULATOR_CREDENTIALS"


def stop_process_group(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM the process group a server was started in, SIGKILL it if it lingers, reap it."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout)


class EmulatorServer:
    """Runs ``python -m oss_provider.emulator`` in its own process group; a context manager.

    The data directory is temporary (and removed on :meth:`stop`) unless ``data_dir`` is given.
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        buckets: tuple[str, ...] = (DEFAULT_BUCKET,),
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        seed: int | None = None,
        region: str = DEFAULT_REGION,
        startup_timeout: float = 30.0,
    ) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="oss-emulator-"))
        self.buckets = buckets
        self.host = host
        self.port = port
        self.region = region
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.seed = seed
        self.startup_timeout = startup_timeout
        self.access_key_id = "LTAI" + secrets.token_hex(8).upper()
        self.access_key_secret = secrets.token_urlsafe(24)
        self.sts_credentials = (
            "STS." + secrets.token_hex(10).upper(),
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(48),
        )
        self._clock_offset = 0.0
        self._fault_rate_now: tuple[float, str | None] = (fault_rate, None)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    def __repr__(self) -> str:  # never shows the secrets
        return f"EmulatorServer(endpoint={self.endpoint!r}, data_dir={str(self.data_dir)!r})"

    # ----------------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmulatorServer:
        """Start the process and wait until it accepts connections."""
        if self.running:
            return self
        sts_ak, sts_sk, token = self.sts_credentials
        cmd = [
            sys.executable,
            "-m",
            "oss_provider.emulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--region",
            self.region,
            "--latency-ms",
            str(self.latency_ms),
            "--fault-rate",
            str(self.fault_rate),
        ]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        for bucket in self.buckets:
            cmd += ["--bucket", bucket]
        log = open(self._log_path, "ab")  # noqa: SIM115 - the child process holds it
        try:
            env = dict(os.environ)  # secrets go to the child's environment, never its argv
            env[CREDENTIALS_ENV] = (
                f"{self.access_key_id}:{self.access_key_secret},{sts_ak}:{sts_sk}:{token}"
            )
            self._proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        line = self._read_ready_line()
        self.port = int(line.rsplit(":", 1)[1])
        if self._clock_offset:
            self.set_clock_offset(self._clock_offset)
        return self

    def _read_ready_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        os.set_blocking(self._proc.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            chunk = self._proc.stdout.read()
            if chunk:
                buf += chunk
                if b"\n" in buf:
                    line = buf.split(b"\n", 1)[0].decode()
                    if "listening on" in line:
                        return line.strip()
            if self._proc.poll() is not None:
                break
            time.sleep(0.02)
        self._kill()
        log = self._log_path.read_text(errors="replace")[-2000:] if self._log_path.exists() else ""
        raise RuntimeError(f"the OSS emulator did not start: {buf.decode(errors='replace')}\n{log}")

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop_process_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()

    def restart(self) -> EmulatorServer:
        """Stop and start again on the same port and data directory (state must survive)."""
        self._kill()
        return self.start()

    def stop(self) -> None:
        """Stop the process; remove the data directory if this object created it."""
        self._kill()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._log_path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- control

    def admin(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Call an ``/_emulator/`` endpoint and return its JSON answer."""
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(
            f"{self.endpoint}/_emulator/{path}", data=data, method=method, headers=CONTROL_HEADERS
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def fail_next(
        self, n: int, kind: str, operation: str | None = None, *, delay_seconds: float = 2.0
    ) -> None:
        """Fail the next ``n`` calls of ``operation`` (any when None): kind ``503``, ``500``,
        ``reset``, ``slow``, ``lose_complete_response`` or an OSS error code."""
        self.admin(
            "POST",
            "faults",
            {"fail_next": n, "kind": kind, "operation": operation, "delay_seconds": delay_seconds},
        )

    def clear_faults(self) -> None:
        self.admin("POST", "faults", {"clear": True})

    def set_fault_rate(
        self, rate: float, seed: int | None = None, operation: str | None = None
    ) -> None:
        """Fail this share of requests (of ``operation`` only, when given) at random: 503, 500,
        a reset in the middle of a body, or a slow answer; the same seed gives the same faults.
        ``tidy()`` puts the start-up rate back."""
        self._fault_rate_now = (float(rate), operation)
        self.admin("POST", "faults", {"rate": float(rate), "seed": seed, "operation": operation})

    def set_clock_offset(self, seconds: float) -> None:
        """Move the server's clock (Date header, Initiated, LastModified, skew and expiry checks)."""
        self._clock_offset = float(seconds)
        self.admin("POST", "clock", {"offset_seconds": float(seconds)})

    def stats(self) -> dict[str, Any]:
        """Request counts per operation, error counts, bytes received/sent, faults injected."""
        return self.admin("GET", "stats")

    def reset_stats(self) -> None:
        self.admin("POST", "stats")

    def set_credentials(
        self, access_key_id: str, access_key_secret: str, security_token: str | None = None
    ) -> None:
        self.admin(
            "POST",
            "credentials",
            {
                "access_key_id": access_key_id,
                "access_key_secret": access_key_secret,
                "security_token": security_token,
            },
        )

    def expire_credentials(self, access_key_id: str, expired: bool = True) -> None:
        self.admin("POST", "credentials", {"access_key_id": access_key_id, "expired": expired})

    def create_bucket(self, name: str) -> None:
        self.admin("POST", "buckets", {"name": name})

    def remove_bucket(self, name: str) -> None:
        """Delete a bucket with everything in it (objects and in-progress uploads)."""
        self.admin("DELETE", f"buckets/{name}")

    def tidy(self) -> None:
        """Clear pending faults and the clock offset (after each test that may have set them)."""
        if self.running:
            self.clear_faults()
            if self._clock_offset:
                self.set_clock_offset(0.0)
            if self._fault_rate_now != (self.fault_rate, None):
                self.set_fault_rate(self.fault_rate)

    def connection_uri_json(self, bucket: str = DEFAULT_BUCKET) -> str:
        """An Airflow connection (JSON form) for this emulator."""
        return json.dumps(
            {
                "conn_type": "oss_multipart",
                "host": self.endpoint,
                "login": self.access_key_id,
                "password": self.access_key_secret,
                # path style is automatic for an IP endpoint; no short extra values, which
                # Airflow's secrets masker warns about on every task
                "extra": {"region": self.region, "bucket_name": bucket},
            }
        )
