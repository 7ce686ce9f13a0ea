"""Old import paths of modules that moved, kept working without an import arrow back into them.

The transfer engine left ``oss_provider.client`` for ``oss_provider.transfer`` and the sweep for
``oss_provider.cleanup`` (docs/architecture.md). A DAG or script importing an old path, such as
``oss_provider.client.transfer``, gets the new module itself (the same object, so patches and
``isinstance`` checks agree) and a DeprecationWarning. A meta path finder does it, so the protocol
package ``client`` never imports the engine.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import Any

MOVED = {
    "oss_provider.client.transfer": "oss_provider.transfer.upload",
    "oss_provider.client.plan": "oss_provider.transfer.plan",
    "oss_provider.client.runner": "oss_provider.transfer.runner",
    "oss_provider.client.ownership": "oss_provider.transfer.ownership",
    "oss_provider.client.sources": "oss_provider.transfer.sources",
    "oss_provider.client.progress": "oss_provider.transfer.progress",
    "oss_provider.client.memory": "oss_provider.transfer.memory",
    "oss_provider.client.files": "oss_provider.transfer.files",
    "oss_provider.client.fileset": "oss_provider.transfer.fileset",
    "oss_provider.client.single_put": "oss_provider.transfer.single_put",
    "oss_provider.client.cleanup": "oss_provider.cleanup",
    "oss_provider.client.cleanup.options": "oss_provider.cleanup.options",
    "oss_provider.client.cleanup.report": "oss_provider.cleanup.report",
    "oss_provider.client.cleanup.sweep": "oss_provider.cleanup.sweep",
    "oss_provider.sensors.object_wait": "oss_provider.triggers.object_wait",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> Any:
        warnings.warn(
            f"{spec.name} moved to {self.target}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: Any) -> None:
        # already executed under its new name; importlib stamped the old name's spec on it
        module.__spec__ = self._spec


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old name of a moved module and hands out the new module."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once per process."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
