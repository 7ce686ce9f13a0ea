"""Keep freed part buffers from staying in the process (glibc only).

glibc serves allocations above ``M_MMAP_THRESHOLD`` with ``mmap`` and gives them back at ``free``,
but it raises that threshold each time such a block is freed (up to 32 MiB), so after the first
8 MiB part the next ones come from the heap arenas, and with dozens of threads (one arena each)
the freed buffers stay: the process grows well past ``concurrency x part_size`` although Python
holds no more. Fixing the threshold at 1 MiB keeps every part buffer an ``mmap`` returned at
``free``, so resident memory follows what the transfer holds. Used by the many-files engine
(dozens of threads); a single upload's few threads do not need it, and mapping every part costs
about 4% of CPU. Set ``OSS_PROVIDER_KEEP_MALLOC=1`` to leave the allocator as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1024 * 1024
_lock = threading.Lock()
_done = False


def release_large_buffers() -> bool:
    """Fix glibc's mmap threshold once per process; True when it was set."""
    global _done
    with _lock:
        if _done:
            return False
        _done = True
        if os.environ.get("OSS_PROVIDER_KEEP_MALLOC") or not sys.platform.startswith("linux"):
            return False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            return bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD))
        except (OSError, AttributeError):  # musl or another libc: nothing to tune
            return False
