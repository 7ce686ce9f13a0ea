"""Operators that Airflow can deep-copy after they ran.

Airflow deep-copies operators (``dag.test()`` on 3.0 copies the whole DAG on every call, clearing
and partial DAGs copy it too). A hook built during a run holds a live HTTP session with locks, which
cannot be copied ("cannot pickle '_thread.lock' object"); the copy builds its own when it needs one.
"""

from __future__ import annotations

from typing import Any


class RuntimeStateNotCopied:
    """Leaves the attributes named in ``runtime_attrs`` (cached, built at run time) out of a deep
    copy. Put it before ``BaseOperator`` in the bases."""

    runtime_attrs: tuple[str, ...] = ("hook",)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        held = {
            name: self.__dict__.pop(name) for name in self.runtime_attrs if name in self.__dict__
        }
        try:
            return super().__deepcopy__(memo)  # type: ignore[misc]
        finally:
            self.__dict__.update(held)
