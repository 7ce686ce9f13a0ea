"""The one glob rule for include / exclude filters, shared by the many-files upload (relative
paths) and the stale-upload sweep (object keys), so a pattern means the same thing in both.

A pattern with a ``/`` matches the whole path (``2026/*.csv``, ``tmp/*``); one without a ``/``
matches the last segment, the file name (``*.csv`` anywhere, ``part-*``), as ossutil and rclone
filters do. Matching is case-sensitive and ``*`` crosses ``/`` (fnmatch), so ``logs/*`` covers
every key under ``logs/``.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Sequence


def glob_matches(path: str, pattern: str) -> bool:
    """Whether ``path`` (a relative path or a key) matches ``pattern`` by the rule above."""
    return fnmatch.fnmatchcase(path if "/" in pattern else posixpath.basename(path), pattern)


def selected(path: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """True when ``path`` matches an include pattern (or there are none) and no exclude one."""
    if include and not any(glob_matches(path, p) for p in include):
        return False
    return not any(glob_matches(path, p) for p in exclude)
