"""The ``oss://`` class of universal_pathlib, the library under Airflow's ``ObjectStoragePath``.

Registered under the ``universal_pathlib.implementations`` entry point: without it the first
``oss://`` path of every process warned "UPath 'oss' filesystem not explicitly implemented" (a
WARNING in task logs) and got a class made on the fly. It is the same plain ``UPath`` that
fallback builds: :class:`OSSFileSystem` already parses ``oss://bucket/key`` (universal_pathlib's
``CloudPath`` would not, as it knows the bucket-as-anchor rule only for the protocols it ships).
"""

from __future__ import annotations

from fsspec import get_filesystem_class
from upath import UPath

# universal_pathlib parses a path with the flavour of the fsspec class already imported for its
# protocol, else with a copy of ossfs's (which reads oss://bucket/key as "/bucket/key"): import ours
# first, as the unregistered fallback did by asking fsspec for the class.
get_filesystem_class("oss")


class OSSPath(UPath):
    """``oss://bucket/key`` as a pathlib path; I/O goes through :class:`OSSFileSystem`."""

    __slots__ = ()


__all__ = ["OSSPath"]
