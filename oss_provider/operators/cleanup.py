"""``OSSAbortStaleUploadsOperator``: a scheduled, trustworthy sweep of stale multipart uploads.

The logic lives in :mod:`oss_provider.cleanup` (no Airflow there); this module turns
operator arguments (possibly rendered from Jinja or params) into validated options, runs the
sweep through ``OSSMultipartHook.abort_stale_uploads``, logs the report as a table, returns it to
XCom and fails the task at the end when any abort failed, naming the uploads. Bad arguments fail
at DAG parse time when they are literals, and otherwise fail the task before any request and
without retries (``AirflowFailException``).
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from oss_provider._compat import AirflowException, AirflowFailException
from oss_provider.cleanup import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ROWS,
    DEFAULT_SKIP_ACTIVE,
    FAILED,
    CleanupOptions,
    CleanupReport,
)
from oss_provider.operators.base import OSSBaseOperator
from oss_provider.templated import as_bool, as_json

if TYPE_CHECKING:
    from oss_provider._compat import Context
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

_NAMED_IN_FAILURE = 20


def _as_optional_int(name: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    if not isinstance(value, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
    raise ValueError(f"{name} must be a whole number or None, got {value!r}")


def _rendered(name: str, value: Any) -> Any:
    """Undo the rendering of a list (or by mistake a dict/set) to text, e.g. "['a/', 'b/']".

    Any other value is returned as it is: :meth:`CleanupOptions.build` checks it, so the operator
    and the sweep accept exactly the same forms (a string, or a list/tuple of strings).
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            return as_json(name, text)
        except ValueError:
            raise ValueError(
                f"{name} looks like a list but does not parse: {text!r}; give a list of "
                "strings such as ['logs/', 'tmp/']"
            ) from None
    if text.startswith("{") and text.endswith("}"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return value  # a prefix or pattern that merely looks like {...}
        if isinstance(parsed, dict | set):
            return parsed  # refused by the check, naming the argument
    return value


class OSSAbortStaleUploadsOperator(OSSBaseOperator):
    """Abort incomplete multipart uploads older than ``older_than``, measured by the OSS server clock.

    Incomplete uploads are invisible in object listings and billed until aborted. This operator
    streams ListMultipartUploads page by page, selects uploads by prefix, glob and age, optionally
    skips uploads still being written, aborts the rest in parallel (``NoSuchUpload`` counts as
    "already gone"), and returns a JSON report to XCom. If any abort fails, the task fails at the
    end naming those uploads (the report is still pushed, under the XCom key ``cleanup_report``).

    :param bucket_name: bucket to sweep; default: the connection's ``bucket_name`` extra. (templated)
    :param prefixes: one prefix or a list; default the whole bucket. (templated)
    :param older_than: minimum age since ``Initiated`` by the server's clock, e.g. ``"24h"``,
        ``"7d"``, ``"1d12h"``, ``"P7D"``, seconds, a ``timedelta`` or a pendulum ``Duration``;
        positive, finite, at most 100 years; default 24 hours. An upload initiated within it is
        never aborted. (templated)
    :param include: glob patterns on the key; when given, one must match. (templated)
    :param exclude: glob patterns on the key; a match leaves the upload alone. (templated)
    :param dry_run: decide and report, abort nothing. (templated)
    :param max_aborts: safety cap on abort requests per run; ``None`` = no cap. (templated)
    :param concurrency: parallel requests (default 16).
    :param skip_active: (default True) list the parts of each stale upload and keep it when its
        newest part is younger than ``active_within`` (default: ``older_than``): an old upload
        being resumed right now is not cut off. Costs one ListParts per stale upload and also
        reports the bytes freed. ``False`` aborts by ``Initiated`` alone.
    :param active_within: how recent a part must be for the upload to count as active.
    :param list_parts: list parts to report bytes freed even without ``skip_active``.
    :param max_rows: per-upload rows kept in the report (failed ones first); counts stay complete.
    :param oss_conn_id: the ``oss_multipart`` connection. (templated)
    """

    runtime_attrs = ("hook", "stop_event")
    template_fields: Sequence[str] = (
        "bucket_name",
        "prefixes",
        "older_than",
        "include",
        "exclude",
        "dry_run",
        "max_aborts",
        "oss_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "prefixes": "json",
        "include": "json",
        "exclude": "json",
    }
    ui_color = "#f4d9c6"

    def __init__(
        self,
        *,
        bucket_name: str | None = None,
        prefixes: str | Sequence[str] | None = None,
        older_than: str | timedelta | float = "24h",
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        dry_run: bool | str = False,
        max_aborts: int | str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        skip_active: bool = DEFAULT_SKIP_ACTIVE,
        active_within: str | timedelta | None = None,
        list_parts: bool = False,
        max_rows: int = DEFAULT_MAX_ROWS,
        oss_conn_id: str = "oss_multipart_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(oss_conn_id=oss_conn_id, **kwargs)
        self.bucket_name = bucket_name
        self.prefixes = prefixes
        self.older_than = older_than
        self.include = include
        self.exclude = exclude
        self.dry_run = dry_run
        self.max_aborts = max_aborts
        self.concurrency = concurrency
        self.skip_active = skip_active
        self.active_within = active_within
        self.list_parts = list_parts
        self.max_rows = max_rows
        if not self._has_templates():
            self.build_options()  # fail at parse time on bad literal arguments

    def _has_templates(self) -> bool:
        def templated(value: Any) -> bool:
            if isinstance(value, str):
                return "{{" in value or "{%" in value
            if isinstance(value, list | tuple | set | frozenset):
                return any(templated(v) for v in value)
            if isinstance(value, dict):
                return any(templated(v) for v in (*value, *value.values()))
            return not isinstance(value, int | float | bool | timedelta | type(None))

        return any(templated(getattr(self, name)) for name in self.template_fields)

    def sweep_arguments(self) -> dict[str, Any]:
        """The (rendered) arguments as keyword arguments of the sweep, checked: bad input raises
        ``ValueError``/``TypeError`` naming the task and the argument, before any request."""
        try:
            arguments = {
                "prefixes": _rendered("prefixes", self.prefixes),
                "older_than": self.older_than,
                "include": _rendered("include", self.include),
                "exclude": _rendered("exclude", self.exclude),
                "dry_run": as_bool("dry_run", self.dry_run),
                "max_aborts": _as_optional_int("max_aborts", self.max_aborts),
                "concurrency": self.concurrency,
                "skip_active": as_bool("skip_active", self.skip_active),
                "active_within": self.active_within,
                "list_parts": as_bool("list_parts", self.list_parts),
                "max_rows": self.max_rows,
            }
            CleanupOptions.build(**arguments)  # the sweep's own check, the same place
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{type(self).__name__} (task {self.task_id!r}): {exc}") from None
        return arguments

    def build_options(self) -> CleanupOptions:
        """Validated sweep options from the (rendered) arguments; the error says what to fix."""
        return CleanupOptions.build(**self.sweep_arguments())

    def _bucket_argument(self) -> str | None:
        value = self.bucket_name
        if isinstance(value, str) and value.strip() in ("", "None"):
            return None
        return value

    def get_hook(self) -> OSSMultipartHook:
        return self.hook

    def run_step(self, context: Context) -> dict[str, Any]:
        try:
            arguments = self.sweep_arguments()
        except (TypeError, ValueError) as exc:  # no retry can fix an argument: fail now
            raise AirflowFailException(str(exc)) from exc
        options = CleanupOptions.build(**arguments)
        hook = self.get_hook()
        bucket = hook.get_bucket_name(self._bucket_argument())
        self.log.info(
            "Sweeping stale multipart uploads in %r: prefixes %s, older than %s, dry run %s, "
            "max_aborts %s, concurrency %d, skip active %s",
            bucket,
            list(options.prefixes),
            options.older_than,
            options.dry_run,
            options.max_aborts,
            options.concurrency,
            options.skip_active,
        )
        report = hook.abort_stale_uploads(bucket, stop_event=self.stop_event, **arguments)
        self.log.info("%s", report.format_table())
        data = report.to_dict()
        if report.counts["stale"] and not options.dry_run:
            self.log.info(
                "Tip: a bucket lifecycle rule with AbortMultipartUpload is OSS's own safety net "
                "for uploads nothing else sees (OSSMultipartHook.ensure_abort_multipart_lifecycle)."
            )
        if not report.ok:
            ti = context.get("ti") if hasattr(context, "get") else None
            if ti is not None:
                ti.xcom_push(key="cleanup_report", value=data)
            raise AirflowException(failure_message(report))
        return data

    @cached_property
    def stop_event(self) -> threading.Event:
        """Set by ``on_kill``: the sweep stops between aborts. One per operator copy."""
        return threading.Event()

    def on_kill(self) -> None:
        self.stop_event.set()


def failure_message(report: CleanupReport) -> str:
    """Why the sweep failed, naming the failed uploads (up to 20, then how many more)."""
    c = report.counts
    parts: list[str] = []
    if c[FAILED]:
        failed = report.failed_rows[:_NAMED_IN_FAILURE]
        named = "; ".join(f"{r['key']!r} (upload {r['upload_id']}): {r['error']}" for r in failed)
        more = c[FAILED] - len(failed)
        parts.append(
            f"{c[FAILED]} of {c['stale']} stale uploads in bucket {report.bucket!r} were NOT "
            f"aborted (aborted {c['aborted']}, already gone {c['already_gone']}): {named}"
            + (f"; and {more} more" if more > 0 else "")
        )
    if report.listing_error:
        parts.append(f"the upload listing did not finish: {report.listing_error}")
    parts.append("The uploads that failed are still there; the next run tries them again.")
    return " ".join(parts)
