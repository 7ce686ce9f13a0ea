"""The package's import arrows, read from the source (every import, at module level or inside a
function, TYPE_CHECKING included): one way only, no circle, and the protocol package ``client``
free of the engine, the sweep, the hooks and Airflow. docs/architecture.md draws the same map."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "oss_provider"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:  # "from pkg import mod" is an arrow to pkg.mod if a module
                found.add(f"{target}\0{alias.name}")
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a ``from pkg import name`` counts for
    ``pkg.name`` when that is a module, else for ``pkg``)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges = set()
        for target in _imports(path, name):
            base, _, member = target.partition("\0")
            target = f"{base}.{member}" if member and f"{base}.{member}" in files else base
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != name and target != "oss_provider":
                edges.add(target)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_no_import_circle_anywhere_in_the_package():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_sees_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "forbidden",
    [
        "oss_provider.transfer",
        "oss_provider.cleanup",
        "oss_provider.hooks",
        "oss_provider.operators",
        "airflow",
    ],
)
def test_client_holds_the_protocol_only(forbidden):
    """``client`` imports nothing from the engine, the sweep, the hooks, or Airflow."""
    offenders = {}
    for path in (PACKAGE / "client").rglob("*.py"):
        name = _module_name(path)
        targets = {t.partition("\0")[0] for t in _imports(path, name)}
        bad = sorted(t for t in targets if t == forbidden or t.startswith(forbidden + "."))
        if bad:
            offenders[name] = bad
    assert offenders == {}


def test_engines_import_no_airflow_and_no_layer_above_them():
    """The transfer engine and the sweep run without Airflow (a script, the benchmark)."""
    above = ("airflow", "oss_provider.hooks", "oss_provider.operators", "oss_provider.sensors",
             "oss_provider.triggers", "oss_provider._compat", "oss_provider.fs")  # fmt: skip
    offenders = {}
    for package in ("transfer", "cleanup"):
        for path in (PACKAGE / package).rglob("*.py"):
            name = _module_name(path)
            targets = {t.partition("\0")[0] for t in _imports(path, name)}
            bad = sorted(t for t in targets if t.startswith(above))
            if bad:
                offenders[name] = bad
    assert offenders == {}


def test_triggers_do_not_import_sensors_or_operators():
    offenders = {}
    for path in (PACKAGE / "triggers").rglob("*.py"):
        name = _module_name(path)
        targets = {t.partition("\0")[0] for t in _imports(path, name)}
        bad = sorted(
            t for t in targets if t.startswith(("oss_provider.sensors", "oss_provider.operators"))
        )
        if bad:
            offenders[name] = bad
    assert offenders == {}


@pytest.mark.parametrize(
    ("old", "name"),
    [
        ("oss_provider.client.transfer", "upload"),
        ("oss_provider.client.transfer", "upload_part_batch"),
        ("oss_provider.client.files", "upload_files"),
        ("oss_provider.client.cleanup", "abort_stale_uploads"),
        ("oss_provider.client.errors", "is_retryable"),
        ("oss_provider.client.plan", "plan_batches"),
        ("oss_provider.client.sources", "open_source"),
        ("oss_provider.sensors.object_wait", "ObjectWait"),
    ],
)
def test_import_paths_the_docs_named_before_the_move_still_work(old, name):
    """A DAG written against an old path gets the very same object (a warning says where it
    moved), so isinstance checks and patches agree with the new path."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(old)
    value = getattr(module, name)
    assert value.__module__.startswith("oss_provider.")
    home = importlib.import_module(value.__module__)
    assert getattr(home, name) is value


def test_an_old_path_warns_where_the_module_went():
    import subprocess
    import sys

    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "try:\n    import oss_provider.client.transfer\nexcept DeprecationWarning as w:\n"
        "    print(w)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "moved to oss_provider.transfer.upload" in out.stdout
