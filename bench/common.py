"""Shared pieces of the benchmark harness: child processes, measurement, sources, a tiny signer.

Every tool runs in a child process of its own (``python -m bench.tool_<name>``) so that its CPU
time and peak RSS are its own. The harness reaps the child with ``os.wait4`` (its rusage: user+sys
CPU, ``ru_maxrss``); the child also reports the wall and CPU time of the operation alone (after its
imports), printed as one JSON line on stdout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.utils import formatdate
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

MiB = 1024 * 1024
GiB = 1024 * MiB
ROOT = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "BENCH-RESULT "


@dataclass
class Measurement:
    """One tool in one scenario: what the child reported plus what the kernel says about it."""

    scenario: str
    tool: str
    ok: bool
    wall_s: float = 0.0  # the operation only (child's perf_counter around it)
    cpu_s: float = 0.0  # user+sys of the operation (child's RUSAGE_SELF delta, all threads)
    process_wall_s: float = 0.0  # spawn to exit, interpreter start and imports included
    process_cpu_s: float = 0.0  # user+sys of the whole child process (wait4 rusage)
    peak_rss_mib: float = 0.0  # VmHWM of the child process (its own peak resident set)
    baseline_rss_mib: float = 0.0  # RSS after imports, before the operation
    bytes: int = 0
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.wall_s / 1e6 if self.wall_s and self.bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mb_per_s"] = round(self.mb_per_s, 1)
        return d


def run_child(
    scenario: str,
    tool: str,
    module: str,
    args: dict[str, Any],
    *,
    stdin: Any = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800.0,
) -> Measurement:
    """Run ``python -m <module> '<json args>'``; reap it with wait4 for its own rusage."""
    cmd = [sys.executable, "-m", module, json.dumps(args)]
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = str(ROOT) + os.pathsep + child_env.get("PYTHONPATH", "")
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(ROOT),
        env=child_env,
        start_new_session=True,
    )
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),
        threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True),
    ]
    for t in readers:
        t.start()
    timer = threading.Timer(timeout, lambda: _kill_group(proc.pid))
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # the harness is stopping (Ctrl-C, SIGTERM): take the child with it
        _kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    process_wall = time.perf_counter() - started
    for t in readers:
        t.join(10)
    stdout = b"".join(out).decode(errors="replace")
    stderr = b"".join(err).decode(errors="replace")
    m = Measurement(
        scenario=scenario,
        tool=tool,
        ok=False,
        process_wall_s=process_wall,
        process_cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
    )
    line = next((ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    if line is None:
        tail = (stderr.strip() or stdout.strip())[-1500:]
        m.error = f"exit {proc.returncode}: {tail}"
        return m
    data = json.loads(line[len(RESULT_PREFIX) :])
    m.ok = bool(data.get("ok", True)) and proc.returncode == 0
    m.wall_s = data["wall_s"]
    m.cpu_s = data["cpu_s"]
    m.baseline_rss_mib = data.get("baseline_rss_mib", 0.0)
    # VmHWM of the child's own address space: ru_maxrss would include the harness's RSS at fork
    m.peak_rss_mib = data.get("peak_rss_mib") or m.peak_rss_mib
    m.bytes = data.get("bytes", 0)
    m.error = data.get("error", "") or ("" if m.ok else f"exit {proc.returncode}")
    if not m.ok and stderr.strip():
        m.extra["stderr_tail"] = stderr.strip()[-2000:]
    m.extra = data.get("extra", {})
    return m


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, 9)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- child side


def _proc_status_mib(field_name: str) -> float:
    """``VmRSS`` / ``VmHWM`` (peak) of this process from /proc/self/status, in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_main(
    op: Callable[[dict[str, Any]], dict[str, Any]],
    prepare: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Entry of a tool child: time ``op(args)`` (wall and CPU), print one JSON result line.

    ``prepare(args)`` runs first, untimed (heavy imports such as Airflow's belong there).
    """
    args = json.loads(sys.argv[1])
    if prepare is not None:
        prepare(args)
    baseline = _proc_status_mib("VmRSS")
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"ok": True}
    try:
        extra = op(args) or {}
    except Exception as exc:  # noqa: BLE001 - reported to the harness, which prints it
        import traceback

        traceback.print_exc()
        result.update(ok=False, error=f"{type(exc).__name__}: {str(exc)[:500]}")
        extra = {}
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    result.update(
        wall_s=wall,
        cpu_s=cpu,
        baseline_rss_mib=baseline,
        peak_rss_mib=_proc_status_mib("VmHWM")
        or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        bytes=int(extra.pop("bytes", 0)),
        extra=extra,
    )
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


# --------------------------------------------------------------------------- sources


def make_source_file(path: Path, size: int, *, seed: int = 1) -> int:
    """Write ``size`` pseudo-random bytes (incompressible; cheap to make); return the CRC-64."""
    from fastcrc import crc64

    block = hashlib.shake_256(str(seed).encode()).digest(4 * MiB)
    crc = 0
    with open(path, "wb") as f:
        written = 0
        n = 0
        while written < size:
            # vary each block so no two parts are equal (a server could dedupe or cache)
            chunk = (n.to_bytes(8, "little") + block[8:])[: size - written]
            f.write(chunk)
            crc = crc64.xz(chunk, initial=crc) if crc else crc64.xz(chunk)
            written += len(chunk)
            n += 1
    return crc


# --------------------------------------------------------------------------- a tiny V1 signer
# Used by the harness (create buckets and uploads, HEAD/DELETE results) and by the bare-PUT ceiling
# to presign its URLs before the clock starts, so the ceiling does no signing or hashing at all.


_SIGNED = {"uploads", "uploadId", "partNumber", "acl", "lifecycle", "delete", "continuation-token"}


def _sub_resource(params: dict[str, str] | None) -> str:
    items = sorted((k, v) for k, v in (params or {}).items() if k in _SIGNED)
    if not items:
        return ""
    return "?" + "&".join(k if v in (None, "") else f"{k}={v}" for k, v in items)


def sign_v1(
    sk: str,
    method: str,
    bucket: str,
    key: str,
    date_or_expires: str,
    params: dict[str, str] | None = None,
    content_type: str = "",
    content_md5: str = "",
) -> str:
    resource_ = f"/{bucket}/{key}" if bucket else "/"
    sts = (
        f"{method}\n{content_md5}\n{content_type}\n{date_or_expires}\n"
        f"{resource_}{_sub_resource(params)}"
    )
    return base64.b64encode(hmac.new(sk.encode(), sts.encode(), hashlib.sha1).digest()).decode()


def presign_v1(
    endpoint: str,
    ak: str,
    sk: str,
    method: str,
    bucket: str,
    key: str,
    params: dict[str, str] | None = None,
    expires_in: int = 3600,
    content_md5: str = "",
) -> str:
    """A V1 query-string signed URL (path style); a ``Content-MD5`` sent with it is signed too."""
    expires = str(int(time.time()) + expires_in)
    sig = sign_v1(sk, method, bucket, key, expires, params, content_md5=content_md5)
    query = dict(params or {})
    query.update(OSSAccessKeyId=ak, Expires=expires, Signature=sig)
    qs = "&".join(
        k if v in (None, "") else f"{k}={quote(str(v), safe='')}" for k, v in query.items()
    )
    return f"{endpoint}/{bucket}/{quote(key)}?{qs}"


class MiniOSS:
    """Just enough signed OSS calls for the harness itself (never measured)."""

    def __init__(self, endpoint: str, ak: str, sk: str, *, clock_offset: float = 0.0) -> None:
        self.endpoint, self.ak, self.sk = endpoint, ak, sk
        self.clock_offset = clock_offset  # match a server whose clock was moved
        self.session = requests.Session()

    def call(
        self,
        method: str,
        bucket: str,
        key: str = "",
        params: dict[str, str] | None = None,
        data: bytes = b"",
        ok: tuple[int, ...] = (200, 204),
    ) -> requests.Response:
        date = formatdate(time.time() + self.clock_offset, usegmt=True)
        sig = sign_v1(self.sk, method, bucket, key, date, params)
        headers = {"Date": date, "Authorization": f"OSS {self.ak}:{sig}"}
        qs = "&".join(k if not v else f"{k}={quote(v, safe='')}" for k, v in (params or {}).items())
        url = f"{self.endpoint}/{bucket}/{quote(key)}" + (f"?{qs}" if qs else "")
        r = self.session.request(method, url, data=data, headers=headers, timeout=300)
        if r.status_code not in ok:
            raise RuntimeError(f"{method} {bucket}/{key}: HTTP {r.status_code} {r.text[:300]}")
        return r

    def head(self, bucket: str, key: str) -> dict[str, str]:
        return dict(self.call("HEAD", bucket, key).headers)

    def delete(self, bucket: str, key: str) -> None:
        self.call("DELETE", bucket, key)

    def put_bucket(self, bucket: str) -> None:
        self.call("PUT", bucket, ok=(200, 409))

    def initiate(self, bucket: str, key: str) -> str:
        r = self.call("POST", bucket, key, {"uploads": ""})
        return re.search(r"<UploadId>([^<]+)</UploadId>", r.text).group(1)

    def count_uploads(self, bucket: str) -> int:
        total, km, um = 0, "", ""
        while True:
            params = {"uploads": "", "max-uploads": "1000"}
            if km:
                params.update({"key-marker": km, "upload-id-marker": um})
            text = self.call("GET", bucket, "", params).text
            total += text.count("<Upload>")
            if "<IsTruncated>true</IsTruncated>" not in text:
                return total
            km = re.search(r"<NextKeyMarker>([^<]*)</NextKeyMarker>", text).group(1)
            um = re.search(r"<NextUploadIdMarker>([^<]*)</NextUploadIdMarker>", text).group(1)


def verify_object(mini: MiniOSS, bucket: str, key: str, size: int, crc: int | None) -> str:
    """'' when the stored object has the source's size (and CRC-64 if known), else the problem."""
    try:
        h = {k.lower(): v for k, v in mini.head(bucket, key).items()}
    except RuntimeError as exc:
        return f"object missing after upload: {exc}"
    if int(h.get("content-length", -1)) != size:
        return f"stored size {h.get('content-length')} != source size {size}"
    if crc is not None and h.get("x-oss-hash-crc64ecma") not in (None, str(crc)):
        return f"stored CRC-64 {h.get('x-oss-hash-crc64ecma')} != source CRC-64 {crc}"
    return ""


# --------------------------------------------------------------------------- machine


def _pkg_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        ram = psutil.virtual_memory().total
    except ImportError:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    pkgs = [
        "airflow-provider-oss-multipart",
        "apache-airflow",
        "oss2",
        "alibabacloud-oss-v2",
        "crcmod",
        "fastcrc",
        "requests",
        "urllib3",
    ]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram / GiB, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "packages": {p: _pkg_version(p) for p in pkgs},
    }
