"""Find stale incomplete multipart uploads and abort them, safely (no Airflow import here).

One job per module:

- :mod:`.options`: parse and check the arguments (``older_than``, prefixes, include/exclude
  globs) into :class:`CleanupOptions`; bad input fails before any request;
- :mod:`.report`: :class:`CleanupReport` (counts, capped rows, XCom dict, log table) and the
  per-upload actions;
- :mod:`.sweep`: the listing/abort engine, :func:`abort_stale_uploads` and :func:`run_cleanup`.

Every public name is importable from here: ``from oss_provider.cleanup import X``.
"""

from __future__ import annotations

from oss_provider.cleanup.options import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ROWS,
    DEFAULT_OLDER_THAN,
    DEFAULT_RETRIES,
    DEFAULT_SKIP_ACTIVE,
    MAX_CONCURRENCY,
    MAX_OLDER_THAN,
    CleanupOptions,
    key_selected,
    normalize_prefixes,
    parse_older_than,
)
from oss_provider.cleanup.report import (
    ABORTED,
    ALREADY_GONE,
    FAILED,
    SKIPPED_ACTIVE,
    SKIPPED_MAX_ABORTS,
    SKIPPED_NO_INITIATED,
    STALE_OUTCOMES,
    WOULD_ABORT,
    CleanupReport,
    format_age,
    format_bytes,
)
from oss_provider.cleanup.sweep import (
    MAX_ERROR_CHARS,
    CleanupClient,
    ListingError,
    abort_stale_uploads,
    log,
    run_cleanup,
)

__all__ = [
    "ABORTED",
    "ALREADY_GONE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_OLDER_THAN",
    "DEFAULT_RETRIES",
    "DEFAULT_SKIP_ACTIVE",
    "FAILED",
    "MAX_CONCURRENCY",
    "MAX_ERROR_CHARS",
    "MAX_OLDER_THAN",
    "SKIPPED_ACTIVE",
    "SKIPPED_MAX_ABORTS",
    "SKIPPED_NO_INITIATED",
    "STALE_OUTCOMES",
    "WOULD_ABORT",
    "CleanupClient",
    "CleanupOptions",
    "CleanupReport",
    "ListingError",
    "abort_stale_uploads",
    "format_age",
    "format_bytes",
    "key_selected",
    "log",
    "normalize_prefixes",
    "parse_older_than",
    "run_cleanup",
]
