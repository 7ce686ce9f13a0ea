"""Many objects in one task, or spread over mapped tasks: a directory, a glob or a remote prefix
uploaded under one destination prefix (see :mod:`oss_provider.transfer.files`).

In one task::

    OSSUploadFilesOperator(
        task_id="upload_exports", source="/data/exports/{{ ds }}", prefix="exports/{{ ds }}",
        include=["*.parquet"], exclude=["_tmp/*"],
    )

Spread over workers (at most 1024 batches balanced by bytes)::

    plan = OSSPlanUploadFilesOperator(task_id="plan", source="s3://src/exports/", batches=16)
    OSSUploadFilesOperator.partial(
        task_id="upload", source="s3://src/exports/", prefix="exports/"
    ).expand(batch=plan.output)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from oss_provider.operators._args import (
    OBJECT_OPTIONS,
    as_object_options,
    source_arg,
    take_object_options,
    with_object_options,
)
from oss_provider.operators.base import DEFAULT_CONN_ID, OSSBaseOperator, task_owner
from oss_provider.templated import as_bool, as_int, as_json, as_str, is_none
from oss_provider.transfer.files import MAX_REPORT_ROWS, FilesUploadError
from oss_provider.transfer.plan import MAX_BATCHES

if TYPE_CHECKING:
    from oss_provider._compat import Context


def as_patterns(name: str, value: Any) -> list[str] | None:
    """Glob patterns: one string (``"*.csv"``), a list, or a rendered JSON list."""
    if is_none(value):
        return None
    if isinstance(value, str) and value.strip().startswith("["):
        value = as_json(name, value)
    if isinstance(value, str):
        return [value.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a glob pattern or a list of them, got {value!r}")
    return [v.strip() for v in value if v.strip()] or None


def _batch_files(batch: Any, files: Any) -> list[str] | None:
    batch = as_json("batch", batch)
    if batch:
        if not isinstance(batch, dict) or not isinstance(batch.get("files"), list):
            raise TypeError(f"batch must be an item of the plan task's output, got {batch!r}")
        return [str(f) for f in batch["files"]]
    files = as_json("files", files)
    if files is None:
        return None
    if not isinstance(files, list):
        raise TypeError(f"files must be a list of relative paths, got {files!r}")
    return [str(f) for f in files]


class OSSUploadFilesOperator(OSSBaseOperator):
    """Upload every file of a directory, glob or remote prefix to ``oss://bucket/prefix/...``.

    Small files go up in one verified PUT each (one request), big ones as verified multipart
    uploads; ``concurrency`` bounds requests in flight and bodies in memory across all of them
    (memory <= concurrency x part size). With ``skip_unchanged`` (default) a file whose object
    has the same size and content is not sent, so a retry sends only what is missing. A file
    that fails does not stop the others; the task fails at the end naming every failed file
    (retryable when the failures were), with nothing half-uploaded left behind, and pushes the
    report to XCom under ``report``.

    Returns a compact report: ``{"files", "uploaded", "skipped", "exists", "failed", "bytes",
    "bytes_uploaded", "bytes_skipped", "seconds", "mib_per_s", "rows", "rows_omitted", ...}``
    with at most ``max_rows`` rows (failures first).

    :param source: a local directory, a file, a glob (``/data/**/*.csv``), an fsspec URL or
        prefix (``s3://bucket/exports/``) or an ``ObjectStoragePath`` (templated)
    :param prefix: destination key prefix; ``/`` added when missing; empty: bucket root
        (templated)
    :param include: glob(s) a file must match; a pattern without ``/`` matches the file name,
        one with ``/`` the path under the source (templated)
    :param exclude: glob(s) that leave files out (templated)
    :param batch: one item of :class:`OSSPlanUploadFilesOperator`'s output (``.expand`` over
        it); or ``files``: relative paths to upload (templated)
    :param compare: how ``skip_unchanged`` decides: ``"checksum"`` (default; size and MD5 /
        CRC-64, reads each same-size file) or ``"size_mtime"`` (size and modification time against
        the listing's Last-Modified: no read, no request per file; misses a same-size rewrite
        whose mtime is older than the object) (templated)
    :param skip_unchanged: skip files whose object has the same size and MD5 / CRC-64
        (templated)
    :param forbid_overwrite: never replace an object: existing keys are reported as ``exists``
        and left alone (templated)
    :param concurrency: requests in flight across files and parts; default 8 (templated)
    :param part_size: bytes per part of big files; default 8 MiB (templated)
    :param multipart_threshold: files below it go up in one PUT; default (and at most) the part
        size (templated)
    :param source_conn_id: Airflow connection to read a remote source with (templated)

    The other object options (storage class, encryption, tags, cache control, ...) are keyword
    arguments too, each templated; their names and meanings are
    :class:`~oss_provider.client.options.ObjectOptions`'s fields.
    """

    template_fields: Sequence[str] = (
        "source",
        "prefix",
        "bucket_name",
        "include",
        "exclude",
        "batch",
        "files",
        "skip_unchanged",
        "compare",
        "concurrency",
        "part_size",
        "multipart_threshold",
        "resume",
        "content_type",
        "metadata",
        "source_conn_id",
        "oss_conn_id",
        *OBJECT_OPTIONS,
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"batch": "json", "metadata": "json"}

    @with_object_options
    def __init__(
        self,
        *,
        source: Any,
        prefix: str = "",
        bucket_name: str | None = None,
        include: str | list[str] | None = None,
        exclude: str | list[str] | None = None,
        batch: dict[str, Any] | str | None = None,
        files: list[str] | str | None = None,
        skip_unchanged: bool | str = True,
        compare: str = "checksum",
        concurrency: int | str | None = None,
        part_size: int | str | None = None,
        multipart_threshold: int | str | None = None,
        resume: bool | str = True,
        content_type: str | None = None,
        metadata: dict[str, str] | str | None = None,
        source_conn_id: str | None = None,
        max_rows: int = MAX_REPORT_ROWS,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        take_object_options(self, kwargs)
        super().__init__(oss_conn_id=oss_conn_id, **kwargs)
        self.source = source
        self.prefix = prefix
        self.bucket_name = bucket_name
        self.include = include
        self.exclude = exclude
        self.batch = batch
        self.files = files
        self.skip_unchanged = skip_unchanged
        self.compare = compare
        self.concurrency = concurrency
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.resume = resume
        self.content_type = content_type
        self.metadata = metadata
        self.source_conn_id = source_conn_id
        self.max_rows = max_rows

    def run_step(self, context: Context) -> dict[str, Any]:
        bucket = as_str("bucket_name", self.bucket_name, required=False)
        try:
            report = self.hook.upload_files(
                source_arg(self.source),
                as_str("prefix", self.prefix, required=False) or "",
                bucket or None,
                options=as_object_options(self),
                include=as_patterns("include", self.include),
                exclude=as_patterns("exclude", self.exclude),
                files=_batch_files(self.batch, self.files),
                skip_unchanged=as_bool("skip_unchanged", self.skip_unchanged),
                compare=as_str("compare", self.compare, required=False) or "checksum",
                part_size=as_int("part_size", self.part_size, minimum=1),
                concurrency=as_int("concurrency", self.concurrency, minimum=1),
                multipart_threshold=as_int(
                    "multipart_threshold", self.multipart_threshold, minimum=1
                ),
                resume=as_bool("resume", self.resume),
                owner=task_owner(context),
                max_rows=self.max_rows,
            )
        except Exception as error:
            cause = error.__cause__
            ti = context.get("ti") if hasattr(context, "get") else None
            if isinstance(cause, FilesUploadError) and ti is not None:
                ti.xcom_push(key="report", value=cause.report.to_dict())
            raise
        return report.to_dict()


class OSSPlanUploadFilesOperator(OSSBaseOperator):
    """List the files of a source and split them into at most ``max_batches`` (1024, Airflow's
    default ``max_map_length``) batches balanced by bytes, for
    ``OSSUploadFilesOperator.partial(...).expand(batch=plan.output)``.

    Returns ``[{"batch", "files", "count", "bytes"}, ...]`` (``files``: relative paths).

    :param source: as :class:`OSSUploadFilesOperator` (templated)
    :param include: as :class:`OSSUploadFilesOperator` (templated)
    :param exclude: as :class:`OSSUploadFilesOperator` (templated)
    :param batches: how many batches to aim for; default one per 256 MiB or per 2,000 files,
        whichever gives more (templated)
    :param max_batches: upper bound; keep it <= ``[core] max_map_length``
    """

    template_fields: Sequence[str] = (
        "source",
        "include",
        "exclude",
        "batches",
        "source_conn_id",
        "oss_conn_id",
    )

    def __init__(
        self,
        *,
        source: Any,
        include: str | list[str] | None = None,
        exclude: str | list[str] | None = None,
        batches: int | str | None = None,
        max_batches: int = MAX_BATCHES,
        source_conn_id: str | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(oss_conn_id=oss_conn_id, **kwargs)
        self.source = source
        self.include = include
        self.exclude = exclude
        self.batches = batches
        self.max_batches = max_batches
        self.source_conn_id = source_conn_id

    def run_step(self, context: Context) -> list[dict[str, Any]]:
        plan = self.hook.plan_upload_files(
            source_arg(self.source),
            include=as_patterns("include", self.include),
            exclude=as_patterns("exclude", self.exclude),
            batches=as_int("batches", self.batches, minimum=1),
            max_batches=self.max_batches,
        )
        total = sum(b["bytes"] for b in plan)
        self.log.info(
            "Planned %d files (%d bytes) of %s into %d batches (largest %d bytes)",
            sum(b["count"] for b in plan),
            total,
            self.source,
            len(plan),
            max((b["bytes"] for b in plan), default=0),
        )
        return plan


__all__ = ["OSSPlanUploadFilesOperator", "OSSUploadFilesOperator", "as_patterns"]
