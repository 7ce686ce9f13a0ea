"""B5 Airflow at the limit: a 10,000-part upload through ``dags/example_oss_multipart_upload.py``.

``dag.test()`` in a child process with a fresh ``AIRFLOW_HOME`` (sqlite metadata DB, every Airflow
setting at its default); wall time of the run, then the total size of every XCom value stored in
the metadata DB (``SUM(LENGTH(value))`` over the ``xcom`` table).
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
import tempfile
from typing import Any

from bench.common import ROOT, MiB, MiniOSS, child_main, run_child, verify_object
from bench.harness import OURS, Context, ScenarioResult, Target, emulator, log

DAG_FILE = ROOT / "dags" / "example_oss_multipart_upload.py"
DAG_ID = "example_oss_multipart_upload"
XCOM_LIMIT = 2_000_000  # bytes: "XCom stays under 2 MB in total"


def run(ctx: Context) -> ScenarioResult:
    n_parts, part = ctx.sizes["b5_parts"], ctx.sizes["b5_part"]
    size = n_parts * part
    path, crc = ctx.source(size)
    res = ScenarioResult(
        "B5",
        "Airflow at the limit",
        f"{n_parts:,} parts of {part // 1024} KiB ({size / MiB:.0f} MiB) through the example "
        f"upload DAG, `dag.test()`, default Airflow settings (sqlite metadata DB)",
    )
    with (
        emulator() as srv,
        tempfile.TemporaryDirectory(prefix="bench-b5-", dir=ctx.workdir) as home,
    ):
        args = {
            "home": home,
            "source": str(path),
            "size": size,
            "part_size": part,
            "parts": n_parts,
            "bucket": "bench",
            "key": "b5/airflow.bin",
        }
        env = {"AIRFLOW_CONN_OSS_MULTIPART_DEFAULT": srv.connection_uri_json("bench")}
        m = run_child("B5", OURS, "bench.b5_airflow", args, env=env, timeout=3600)
        if m.ok:
            mini = MiniOSS(srv.endpoint, srv.access_key_id, srv.access_key_secret)
            problem = verify_object(mini, "bench", args["key"], size, crc)
            if problem:
                m.ok, m.error = False, problem
        log(
            f"  B5 {OURS:<13} {'ok ' if m.ok else 'FAIL'} wall {m.wall_s:7.2f} s  "
            f"cpu {m.cpu_s:6.2f} s  rss {m.peak_rss_mib:7.1f} MiB  "
            f"{ {k: v for k, v in m.extra.items() if k != 'stderr_tail'} }"
            + (f"  {m.error[-400:]}" if m.error else "")
        )
    m.bytes = size if m.ok else 0
    res.rows.append(m)
    res.targets = [
        Target("completes (1 = yes)", 1.0 if m.ok else 0.0, 1.0, op="ge"),
        Target(
            "total XCom bytes",
            float(m.extra["xcom_bytes"]) if m.ok and "xcom_bytes" in m.extra else None,
            XCOM_LIMIT,
        ),
    ]
    return res


# --------------------------------------------------------------------------- child side

_state: dict[str, Any] = {}


def _dag_conf(params: Any, a: dict[str, Any]) -> dict[str, Any]:
    """Map the bench's settings onto the example DAG's params (by name)."""
    names = set(params.keys())
    wanted = {
        "source": a["source"],
        "bucket": a["bucket"],
        "bucket_name": a["bucket"],
        "key": a["key"],
        "part_size": a["part_size"],
    }
    conf = {k: v for k, v in wanted.items() if k in names}
    missing = {"source", "key", "part_size"} - set(conf)
    if missing:
        raise RuntimeError(
            f"the example DAG has no params {sorted(missing)}; it has {sorted(names)}"
        )
    return conf


def _prepare(a: dict[str, Any]) -> None:
    """Untimed: a fresh metadata DB and the DAG, imported from the dags folder."""
    import os

    home = a["home"]
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__DAGS_FOLDER=str(DAG_FILE.parent),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    from airflow.utils import db

    db.resetdb()
    spec = importlib.util.spec_from_file_location(DAG_ID, DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    dag = module.dag
    _state["dag"] = dag
    _state["conf"] = _dag_conf(dag.params, a)


def _op(a: dict[str, Any]) -> dict[str, Any]:
    dr = _state["dag"].test(run_conf=_state["conf"])
    state = str(getattr(dr, "state", dr))
    with sqlite3.connect(f"{a['home']}/airflow.db") as con:
        rows, total, biggest = con.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(value AS BLOB))), 0), "
            "COALESCE(MAX(LENGTH(CAST(value AS BLOB))), 0) FROM xcom"
        ).fetchone()
        tis = con.execute("SELECT COUNT(*) FROM task_instance").fetchone()[0]
    if not state.endswith("success"):
        raise RuntimeError(f"the DAG run ended {state}")
    return {
        "bytes": a["size"],
        "xcom_bytes": total,
        "xcom_rows": rows,
        "largest_xcom": biggest,
        "task_instances": tis,
        "conf": {k: v for k, v in _state["conf"].items() if k != "source"},
    }


if __name__ == "__main__":
    child_main(_op, _prepare)
